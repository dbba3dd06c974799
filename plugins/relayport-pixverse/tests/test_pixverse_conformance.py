from __future__ import annotations

from relayport.testing.conformance import MediaConformance
from relayport_pixverse.testing import KEY, FakePixVerse


class TestPixVerseConformance(MediaConformance):
    provider = "pixverse"
    entry_point = "pixverse"
    model = "pixverse-v5.6-t2v"
    kind = "video"
    vendor_key = KEY

    def make_fake(self) -> FakePixVerse:
        return FakePixVerse()
