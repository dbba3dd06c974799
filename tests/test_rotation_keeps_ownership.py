"""Rotating a store key's secret keeps what the key owns: its media tasks and stored responses
follow the key's id, not the secret (the old secret stops working, nothing else changes)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.accounts_helpers import store_url  # noqa: F401  (fixture)
from tests.fake_clip import ClipPlugin, ClipServer, clip_config
from tests.test_video_delete import wait_status

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")

ADMIN = "adm-rotation-0123456789"


@pytest.fixture
def clip() -> Iterator[ClipServer]:
    server = ClipServer()
    server.start()
    yield server
    server.stop()


def _admin(gw, method: str, path: str, **kw) -> httpx.Response:
    return httpx.request(method, gw.url + path, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10, **kw)


def test_a_rotated_key_still_owns_its_tasks_and_responses(relayport_gateway, store_url, clip, fake_openai):  # noqa: F811
    config = clip_config(clip)
    config["models"].append({"name": "chat", "provider": "openai-compatible", "base_url": fake_openai.base_url,
                             "api_key": fake_openai.api_key, "model": "some-model"})
    gw = relayport_gateway({**config, "server": {"store": store_url}, "auth": {"admin_keys": [ADMIN]}},
                           env={}, extra_plugins={"clip": ClipPlugin()})
    made = _admin(gw, "POST", "/admin/keys", json={"name": "app"}).json()
    other = _admin(gw, "POST", "/admin/keys", json={"name": "other"}).json()["key"]
    old = openai.OpenAI(base_url=gw.openai_base_url, api_key=made["key"], max_retries=0)

    video = old.videos.create(model="clip-1", prompt="a cat surfing")
    wait_status(old, video.id, "completed")
    fake_openai.queue_text("kept for later")
    response = old.responses.create(model="chat", input="remember this", store=True)

    rotated = _admin(gw, "POST", f"/admin/keys/{made['id']}/rotate").json()["key"]
    new = openai.OpenAI(base_url=gw.openai_base_url, api_key=rotated, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        old.videos.retrieve(video.id)

    assert new.videos.retrieve(video.id).status == "completed"
    assert new.videos.download_content(video.id).read()
    assert new.responses.retrieve(response.id).output_text == "kept for later"

    # Another key still sees neither.
    stranger = openai.OpenAI(base_url=gw.openai_base_url, api_key=other, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        stranger.videos.retrieve(video.id)
    with pytest.raises(openai.NotFoundError):
        stranger.responses.retrieve(response.id)
