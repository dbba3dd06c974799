from __future__ import annotations

from relayport.testing.conformance import MediaConformance
from relayport_kling.testing import KEY, FakeKling


class TestKlingConformance(MediaConformance):
    provider = "kling"
    entry_point = "kling"
    model = "kling-v2-master"
    kind = "video"
    vendor_key = KEY

    def make_fake(self) -> FakeKling:
        return FakeKling()
