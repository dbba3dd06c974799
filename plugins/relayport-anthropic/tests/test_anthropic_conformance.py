"""The core's conformance suite, run against the fake Anthropic API."""

from __future__ import annotations

import pytest

from relayport.testing.conformance import ProviderConformance
from relayport_anthropic.fake_vertex import FakeVertexClaude
from relayport_anthropic.testing import FakeAnthropic


class TestAnthropicConformance(ProviderConformance):
    provider = "anthropic"
    entry_point = "anthropic"
    model = "claude-sonnet-4-5"
    auth_header = "x-api-key"
    auth_format = "{key}"

    def make_fake(self) -> FakeAnthropic:
        return FakeAnthropic()


class TestVertexClaudeConformance(ProviderConformance):
    """Claude on Vertex AI with a plain access token (the suite's vendor key) as the credential."""

    provider = "vertex-anthropic"
    entry_point = "anthropic"
    model = "claude-sonnet-4-5@20250929"

    @pytest.fixture(autouse=True)
    def _where(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # The suite's model entries carry no options: project and location come from the environment.
        monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "conformance-project")
        monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "us-east5")

    def make_fake(self) -> FakeVertexClaude:
        return FakeVertexClaude(project="conformance-project", location="us-east5")
