from __future__ import annotations

from relayport.testing.conformance import ProviderConformance
from relayport_dashscope.testing import FakeDashScope


class TestDashScopeConformance(ProviderConformance):
    provider = "dashscope"
    entry_point = "dashscope"
    model = "qwen-plus"
    vision_model = "qwen-vl-max"

    def make_fake(self) -> FakeDashScope:
        return FakeDashScope()
