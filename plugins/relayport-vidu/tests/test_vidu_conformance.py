from __future__ import annotations

from relayport.testing.conformance import MediaConformance
from relayport_vidu.testing import KEY, FakeVidu


class TestViduConformance(MediaConformance):
    provider = "vidu"
    entry_point = "vidu"
    model = "viduq2-pro"
    kind = "video"
    vendor_key = KEY

    def make_fake(self) -> FakeVidu:
        return FakeVidu()
