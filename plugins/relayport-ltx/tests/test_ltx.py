"""LTX through the gateway: the render answered with the MP4 itself, made a finished task whose
video is served from the gateway's result store; LTX's errors and limits."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from relayport.plugins import load_plugins
from relayport.testing.conformance import MediaConformance
from relayport.testing.waiting import wait_for
from relayport_ltx.testing import KEY, MP4, PNG, FakeLTX

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


class TestLTXConformance(MediaConformance):
    provider = "ltx"
    entry_point = "ltx"
    model = "ltx-2-fast"
    kind = "video"
    vendor_key = KEY

    def make_fake(self) -> FakeLTX:
        return FakeLTX()

    def base_url(self, fake: FakeLTX) -> str:
        return fake.url + "/v1"


@pytest.fixture
def ltx() -> Iterator[FakeLTX]:
    fake = FakeLTX()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def gw(relayport_gateway, ltx):
    entry = {"provider": "ltx", "base_url": ltx.url + "/v1", "api_key": KEY}
    return relayport_gateway({"auth": {"keys": ["gw-key"]},
                              "models": [{"name": m, **entry} for m in ("ltx-2-pro", "ltx-2-fast")]}, env={})


def post(gw, **body: Any) -> httpx.Response:
    return httpx.post(gw.url + "/v1/videos/generations", headers=gw.headers(), json=body, timeout=30)


def test_registers():
    entry = load_plugins({"RELAYPORT_LOAD_PLUGINS": "ltx"}).provider("ltx")
    assert entry is not None and entry.plugin == "ltx" and entry.spec.base_url == "https://api.ltx.video/v1"


def test_text_to_video_is_finished_when_the_post_answers(gw, ltx):
    r = post(gw, model="ltx-2-pro", messages=[{"role": "user", "content": "an eagle over clouds"}], duration=8,
             resolution="1080p", fps=25, generate_audio=True)
    assert r.status_code == 200, r.text
    task = r.json()
    sent = ltx.requests[0]
    assert sent.path == "/v1/text-to-video" and sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json() == {"prompt": "an eagle over clouds", "model": "ltx-2-pro", "duration": 8,
                           "resolution": "1920x1080", "fps": 25, "generate_audio": True}
    assert task["status"] == "succeeded"
    # The video is served by URL, never inlined in the task object.
    assert task["result"]["outputs"][0]["media_type"] == "video/mp4" and "b64" not in task["result"]["outputs"][0]
    assert task["vendor"]["bytes"] == len(MP4) and task["vendor"]["request_id"]
    content = wait_for(lambda: (c := httpx.get(f"{gw.url}/v1/videos/generations/{task['id']}/content",
                                               headers=gw.headers())).status_code == 200 and c)
    assert content.content == MP4 and content.headers["content-type"] == "video/mp4"
    assert ltx.renders == 1  # served from the store: LTX has nothing to download again


def test_image_to_video_and_size(gw, ltx):
    data = "data:image/png;base64," + base64.b64encode(PNG).decode()
    r = post(gw, model="ltx-2-fast", prompt="clouds drift", images=[data], size="1080x1920", duration=6.4)
    assert r.status_code == 200, r.text
    assert r.headers["x-relayport-adjustments"] == "duration 6.4 rounded to 6"
    body = ltx.requests[0].json()
    assert ltx.requests[0].path == "/v1/image-to-video"
    assert body["image_uri"] == data and body["resolution"] == "1080x1920" and body["duration"] == 6


def test_openai_sdk_videos(gw, ltx):
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key="gw-key", max_retries=0, timeout=30)
    video = client.videos.create(model="ltx-2-fast", prompt="rain on a window", seconds="8", size="1920x1080")
    assert video.status == "completed"
    assert wait_for(lambda: client.videos.download_content(video.id).read() == MP4)


def test_errors_keep_ltxs_type(gw, ltx):
    r = post(gw, model="ltx-2-pro", prompt="x", resolution="720x480")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request_error"
    assert "resolution" in r.json()["error"]["message"]
    ltx.busy_next = 1
    r = post(gw, model="ltx-2-pro", prompt="x")
    assert r.status_code == 429 and r.json()["error"]["code"] == "concurrency_limit_error"
    assert r.headers["retry-after"] == "3"
    r = post(gw, model="ltx-2-pro", prompt="x", resolution="8k")
    assert r.status_code == 400 and r.json()["error"]["param"] == "resolution"


def test_wrong_key_never_shows(relayport_gateway, ltx):
    gw = relayport_gateway({"models": [{"name": "ltx-2-pro", "provider": "ltx", "base_url": ltx.url + "/v1",
                                        "api_key": "ltxv_wrong_secret"}]}, env={})
    r = httpx.post(gw.url + "/v1/videos/generations", json={"model": "ltx-2-pro", "prompt": "x"}, timeout=30)
    assert r.status_code == 401 and "ltxv_wrong_secret" not in r.text
