from __future__ import annotations

from relayport.testing.conformance import MediaConformance
from relayport_bfl.testing import KEY, FakeBFL


class TestBFLConformance(MediaConformance):
    provider = "bfl"
    entry_point = "bfl"
    model = "flux-kontext-pro"
    kind = "image"
    vendor_key = KEY

    def make_fake(self) -> FakeBFL:
        return FakeBFL()
