from __future__ import annotations

from relayport.testing.conformance import MediaConformance
from relayport_runway.testing import KEY, FakeRunway


class TestRunwayConformance(MediaConformance):
    provider = "runway"
    entry_point = "runway"
    model = "gen4.5"
    kind = "video"
    vendor_key = KEY

    def make_fake(self) -> FakeRunway:
        return FakeRunway()
