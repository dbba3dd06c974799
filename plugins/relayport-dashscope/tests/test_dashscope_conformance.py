from __future__ import annotations

from dashscope_fake import FakeDashScope

from relayport.testing.conformance import ProviderConformance


class TestDashScopeConformance(ProviderConformance):
    provider = "dashscope"
    entry_point = "dashscope"
    model = "qwen-plus"

    def make_fake(self) -> FakeDashScope:
        return FakeDashScope()
