from __future__ import annotations

from relayport.testing.conformance import MediaConformance
from relayport_doubao.fake_media import KEY, FakeArkMedia


class TestSeedanceConformance(MediaConformance):
    provider = "doubao"
    entry_point = "doubao"
    model = "doubao-seedance-1-5-pro-251215"
    kind = "video"
    vendor_key = KEY

    def make_fake(self) -> FakeArkMedia:
        return FakeArkMedia()

    def base_url(self, fake: FakeArkMedia) -> str:
        return fake.base_url
