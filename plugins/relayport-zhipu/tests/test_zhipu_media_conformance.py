from __future__ import annotations

from relayport.testing.conformance import MediaConformance
from relayport_zhipu.fake_media import KEY, FakeZhipuMedia


class TestZhipuVideoConformance(MediaConformance):
    provider = "zhipu"
    entry_point = "zhipu"
    model = "cogvideox-3"
    kind = "video"
    vendor_key = KEY

    def make_fake(self) -> FakeZhipuMedia:
        return FakeZhipuMedia()

    def base_url(self, fake: FakeZhipuMedia) -> str:
        return fake.base_url
