"""The core's conformance suite, run against the fake Gemini API."""

from __future__ import annotations

import pytest

from relayport.testing.conformance import ProviderConformance
from relayport_gemini.fake_vertex import FakeVertexGemini
from relayport_gemini.testing import FakeGemini


class TestGeminiConformance(ProviderConformance):
    provider = "gemini"
    entry_point = "gemini"
    model = "gemini-2.5-flash"
    auth_header = "x-goog-api-key"
    auth_format = "{key}"

    def make_fake(self) -> FakeGemini:
        return FakeGemini()


class TestVertexGeminiConformance(ProviderConformance):
    """Gemini on Vertex AI with a plain access token (the suite's vendor key) as the credential."""

    provider = "vertex"
    entry_point = "gemini"
    model = "gemini-2.5-flash"

    @pytest.fixture(autouse=True)
    def _where(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # The suite's model entries carry no options: project and location come from the environment.
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "conformance-project")
        monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "us-central1")

    def make_fake(self) -> FakeVertexGemini:
        return FakeVertexGemini(project="conformance-project", location="us-central1")
