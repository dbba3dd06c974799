"""The core's conformance suite, run against the fake Gemini API."""

from __future__ import annotations

from relayport.testing.conformance import ProviderConformance
from relayport_gemini.testing import FakeGemini


class TestGeminiConformance(ProviderConformance):
    provider = "gemini"
    entry_point = "gemini"
    model = "gemini-2.5-flash"
    auth_header = "x-goog-api-key"
    auth_format = "{key}"

    def make_fake(self) -> FakeGemini:
        return FakeGemini()
