"""`DELETE /v1/videos/{id}` (OpenAI's `client.videos.delete`) and the seed-form submit answer,
against the made-up "clip" vendor (tests/fake_clip.py) and a vendor that cannot cancel."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from relayport import hookimpl
from tests.fake_clip import ClipPlugin, ClipServer, clip_config

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


class NoCancelClip(ClipPlugin):
    """The same vendor without a cancel call."""

    @hookimpl
    def relayport_cancel_request(self, deployment, task):
        return None


@pytest.fixture
def clip() -> Iterator[ClipServer]:
    server = ClipServer()
    server.start()
    yield server
    server.stop()


def gateway(relayport_gateway, clip: ClipServer, plugin: Any = None, **tasks: Any):
    config = {**clip_config(clip, **tasks), "auth": {"keys": ["gw-key-one", "gw-key-two"]}}
    return relayport_gateway(config, env={}, extra_plugins={"clip": plugin or ClipPlugin()})


def sdk(gw, key: str = "gw-key-one") -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key=key, max_retries=0)


def wait_status(client: openai.OpenAI, video_id: str, status: str, timeout: float = 10.0) -> Any:
    deadline = time.time() + timeout
    while (video := client.videos.retrieve(video_id)).status != status:
        assert time.time() < deadline, video
        time.sleep(0.05)
    return video


def test_delete_a_finished_video_removes_it_and_its_content(relayport_gateway, clip, tmp_path):
    gw = gateway(relayport_gateway, clip, results_path=str(tmp_path))
    client = sdk(gw)
    video = client.videos.create(model="clip-1", prompt="a cat surfing")
    wait_status(client, video.id, "completed")
    assert client.videos.download_content(video.id).read()
    assert [p.name for p in tmp_path.iterdir()] == [f"{video.id}.0"]  # the stored copy

    # another key cannot delete it (and cannot learn it exists)
    with pytest.raises(openai.NotFoundError):
        sdk(gw, "gw-key-two").videos.delete(video.id)

    deleted = client.videos.delete(video.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (video.id, True, "video.deleted")
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
    r = httpx.get(f"{gw.url}/v1/videos/{video.id}/content", headers={"Authorization": "Bearer gw-key-one"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "task_not_found"
    with pytest.raises(openai.NotFoundError):
        client.videos.delete(video.id)
    assert not [q for q in clip.requests if q.method == "DELETE"]  # a finished job is not cancelled
    assert list(tmp_path.iterdir()) == []  # nothing kept


def test_delete_an_unfinished_video_cancels_it_at_the_vendor_first(relayport_gateway, clip):
    clip.steps = ("working",)
    gw = gateway(relayport_gateway, clip)
    client = sdk(gw)
    video = client.videos.create(model="clip-1", prompt="a cat surfing")
    assert client.videos.delete(video.id).deleted is True
    assert [q.path for q in clip.requests if q.method == "DELETE"] == ["/v1/clips/clip-1"]
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
    time.sleep(0.2)  # a poll already on its way when the task went may still arrive
    polls = len(clip.polls())
    time.sleep(0.3)
    assert len(clip.polls()) == polls  # nobody polls a deleted task


def test_a_vendor_that_cannot_cancel_keeps_the_running_video(relayport_gateway, clip):
    clip.steps = ("working",)
    gw = gateway(relayport_gateway, clip, NoCancelClip())
    client = sdk(gw)
    video = client.videos.create(model="clip-1", prompt="a cat surfing")
    with pytest.raises(openai.APIStatusError) as err:
        client.videos.delete(video.id)
    assert err.value.status_code == 501
    assert "cannot cancel" in err.value.message and "runs on" in err.value.message
    assert client.videos.retrieve(video.id).status in ("queued", "in_progress")  # still there
    r = httpx.delete(f"{gw.url}/v1/videos/generations/{video.id}", headers={"Authorization": "Bearer gw-key-one"})
    assert r.status_code == 501 and r.json()["error"]["code"] == "unsupported_operation"


def test_seed_form_submit_answer_carries_the_vendor_fields(relayport_gateway, clip):
    gw = gateway(relayport_gateway, clip)
    headers = {"Authorization": "Bearer gw-key-one"}
    r = httpx.post(gw.url + "/v1/videos/generations", headers=headers,
                   json={"model": "clip-1", "messages": [{"role": "user", "content": "a cat"}]})
    body = r.json()
    assert body["job"] == "clip-1"  # the vendor's own submit answer, at the top level
    assert body["task_id"] == body["id"] and body["id"].startswith("task_")  # the gateway's id wins
    assert body["status"] == "queued"
    r = httpx.post(gw.url + "/v1/videos/generations", headers=headers, json={"model": "clip-1", "prompt": "a cat"})
    assert "job" not in r.json()  # an OpenAI-form call gets the unified shape only


def test_concurrent_polls_of_one_task_ask_the_vendor_once(relayport_gateway, clip):
    """The background poller and clients' early polls of the same task share one vendor call
    (a vendor's multi-step result, such as MiniMax's file retrieve, is fetched once)."""
    import asyncio

    from relayport.server.keys import TASK_RUNNER

    gw = gateway(relayport_gateway, clip, poll_interval=3600)  # only the polls made here
    video = sdk(gw).videos.create(model="clip-1", prompt="a heron")
    server = gw.server
    runner = server.app[TASK_RUNNER]
    before = len(clip.polls())

    async def five_at_once():
        task = await runner.store.get(video.id)
        return await asyncio.gather(*(runner.poll(task) for _ in range(5)))

    done = asyncio.run_coroutine_threadsafe(five_at_once(), server.loop).result(10)
    assert len(clip.polls()) - before == 1
    assert len({t.status for t in done}) == 1
