from __future__ import annotations

from relayport.testing.conformance import MediaConformance
from relayport_gemini.fake_media import KEY, FakeGeminiMedia


class TestVeoConformance(MediaConformance):
    provider = "gemini"
    entry_point = "gemini"
    model = "veo-3.1-generate-preview"
    kind = "video"
    vendor_key = KEY

    def make_fake(self) -> FakeGeminiMedia:
        return FakeGeminiMedia()
