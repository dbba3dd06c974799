from __future__ import annotations

from relayport.testing.conformance import MediaConformance
from relayport_dashscope.testing import FakeDashScope


class TestDashScopeVideoConformance(MediaConformance):
    provider = "dashscope"
    entry_point = "dashscope"
    model = "wan2.7-t2v"
    kind = "video"
    vendor_key = "sk-fake-dashscope"

    def make_fake(self) -> FakeDashScope:
        return FakeDashScope()


class TestDashScopeImageConformance(TestDashScopeVideoConformance):
    model = "wan2.2-t2i-flash"
    kind = "image"
