"""The core's conformance suite, run against the fake Anthropic API."""

from __future__ import annotations

from relayport.testing.conformance import ProviderConformance
from relayport_anthropic.testing import FakeAnthropic


class TestAnthropicConformance(ProviderConformance):
    provider = "anthropic"
    entry_point = "anthropic"
    model = "claude-sonnet-4-5"
    auth_header = "x-api-key"
    auth_format = "{key}"

    def make_fake(self) -> FakeAnthropic:
        return FakeAnthropic()
