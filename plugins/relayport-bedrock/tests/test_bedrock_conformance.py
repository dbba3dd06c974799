"""The core's conformance suite against the fake Bedrock runtime (Converse, Bedrock API key)."""

from __future__ import annotations

from relayport.testing.conformance import ProviderConformance
from relayport_bedrock.testing import FakeBedrock


class TestBedrockConformance(ProviderConformance):
    provider = "bedrock"
    entry_point = "bedrock"
    model = "us.anthropic.claude-sonnet-4-20250514-v1:0"

    def make_fake(self) -> FakeBedrock:
        return FakeBedrock()
