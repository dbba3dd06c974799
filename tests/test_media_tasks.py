"""Async media tasks through the gateway's routes: the poller, content, keys, deadline, cancel,
rate limits and signed callbacks, against a fake vendor with a real task state machine."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web

from relayport.model import TaskStatus
from relayport.tasks.callbacks import SIGNATURE_HEADER, verify
from relayport.testing.servers import ServerThread
from tests.fake_clip import VIDEO, ClipPlugin, ClipServer, clip_config


@pytest.fixture
def clip() -> Iterator[ClipServer]:
    server = ClipServer()
    server.start()
    yield server
    server.stop()


def start(relayport_gateway, clip: ClipServer, config: dict[str, Any] | None = None, **tasks: Any):
    cfg = {**clip_config(clip, **tasks), **(config or {})}
    return relayport_gateway(cfg, env={}, extra_plugins={"clip": ClipPlugin()})


def wait_for(fn, timeout: float = 10.0, every: float = 0.05) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not met in time")


def submit(gw, headers: dict[str, str] | None = None, **body: Any) -> dict[str, Any]:
    payload = {"model": "clip-1", "messages": [{"role": "user", "content": "a cat surfing"}], "duration": 5, **body}
    r = httpx.post(gw.url + "/v1/videos/generations", json=payload, headers=headers or gw.headers())
    assert r.status_code == 200, r.text
    return r.json()


def get_task(gw, task_id: str, headers: dict[str, str] | None = None, **params: str) -> httpx.Response:
    return httpx.get(f"{gw.url}/v1/videos/generations/{task_id}", params=params, headers=headers or gw.headers())


def test_task_runs_to_the_end_without_the_client_polling(relayport_gateway, clip):
    gw = start(relayport_gateway, clip)
    task = submit(gw)
    assert task["status"] == "queued" and task["task_id"] == task["id"]
    assert task["id"].startswith("task_") and "clip-1" not in task["id"]  # not the vendor's id
    sent = next(r for r in clip.requests if r.method == "POST").json()
    assert sent == {"model": "clip-1", "prompt": "a cat surfing", "seconds": 5.0, "images": []}
    # nobody asks: the background poller takes the job through waiting -> working -> done
    wait_for(lambda: len(clip.polls()) >= 3)
    done = wait_for(lambda: (t := get_task(gw, task["id"]).json())["status"] == "succeeded" and t)
    assert done["progress"] == 100 and done["error"] is None
    out = done["result"]["outputs"][0]
    assert out["url"] == f"{gw.url}/v1/videos/generations/{task['id']}/content"
    assert out["vendor_url"] == f"{clip.url}/files/clip-1.mp4"
    assert done["vendor"]["state"] == "done"  # the vendor's own last answer
    native = get_task(gw, task["id"], format="native").json()
    assert native == {"state": "done", "progress": 1.0, "url": f"{clip.url}/files/clip-1.mp4"}
    polls = len(clip.polls())
    time.sleep(0.3)
    assert len(clip.polls()) == polls, "a finished task is polled no more"


def test_content_is_stored_and_served_with_ranges(relayport_gateway, clip):
    clip.expires = 1.0  # like BFL: the vendor's URL dies soon after the result is ready
    gw = start(relayport_gateway, clip)
    task = submit(gw)
    wait_for(lambda: get_task(gw, task["id"]).json()["status"] == "succeeded")
    wait_for(lambda: any(r.path.startswith("/files/") for r in clip.requests))
    time.sleep(1.2)  # the vendor's URL has expired by now
    assert sum(r.path.startswith("/files/") for r in clip.requests) == 1  # downloaded once, by the poller
    assert httpx.get(f"{clip.url}/files/clip-1.mp4").status_code == 403
    url = f"{gw.url}/v1/videos/generations/{task['id']}/content"
    whole = wait_for(lambda: (r := httpx.get(url)).status_code == 200 and r)
    assert whole.content == VIDEO and whole.headers["content-type"] == "video/mp4"
    assert whole.headers["accept-ranges"] == "bytes"
    part = httpx.get(url, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == VIDEO[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(VIDEO)}"


def test_task_ids_are_bound_to_the_key_that_made_them(relayport_gateway, clip):
    gw = start(relayport_gateway, clip, {"auth": {"keys": ["key-alice", "key-bob"]}})
    alice = {"Authorization": "Bearer key-alice"}
    bob = {"Authorization": "Bearer key-bob"}
    task = submit(gw, alice)
    assert get_task(gw, task["id"], alice).status_code == 200
    for r in (get_task(gw, task["id"], bob),
              httpx.delete(f"{gw.url}/v1/videos/generations/{task['id']}", headers=bob),
              httpx.get(f"{gw.url}/v1/videos/generations/{task['id']}/content", headers=bob),
              httpx.get(f"{gw.url}/v1/videos/{task['id']}", headers=bob),
              get_task(gw, "task_doesnotexist", alice)):
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "task_not_found"
    assert not any(r.method == "DELETE" for r in clip.requests)
    # an image route does not serve a video task either
    r = httpx.get(f"{gw.url}/v1/images/generations/{task['id']}", headers=alice)
    assert r.status_code == 404


def test_rate_limited_polls_back_off(relayport_gateway, clip):
    clip.limit_next = 1
    clip.retry_after = "1"
    gw = start(relayport_gateway, clip)
    task = submit(gw)
    wait_for(lambda: len(clip.polls()) >= 2, timeout=5)
    first, second = clip.polls()[:2]
    times = [r for r in clip.requests if r.method == "GET"]
    assert times[0] is first
    # the poll after the 429 waited for the vendor's Retry-After, not the 0.05 s interval
    gap = _arrival(clip, second) - _arrival(clip, first)
    assert gap >= 0.9, gap
    wait_for(lambda: get_task(gw, task["id"]).json()["status"] == "succeeded")


def _arrival(server: ClipServer, rec) -> float:
    return server.arrivals[id(rec)]


def test_deadline_fails_the_task(relayport_gateway, clip):
    clip.steps = ("working",)  # never finishes
    gw = start(relayport_gateway, clip, deadline=0.5)
    task = submit(gw)
    failed = wait_for(lambda: (t := get_task(gw, task["id"]).json())["status"] == "failed" and t)
    assert failed["error"]["code"] == "task_deadline_exceeded"
    assert "deadline" in failed["error"]["message"]


def test_vendor_failure_is_reported(relayport_gateway, clip):
    clip.steps = ("working", "error")
    gw = start(relayport_gateway, clip)
    task = submit(gw)
    failed = wait_for(lambda: (t := get_task(gw, task["id"]).json())["status"] == "failed" and t)
    assert failed["error"] == {"code": "clip_failed", "message": "the clip could not be made"}
    r = httpx.get(f"{gw.url}/v1/videos/generations/{task['id']}/content")
    assert r.status_code == 404 and r.json()["error"]["code"] == "no_content"


def test_cancel(relayport_gateway, clip):
    clip.steps = ("working",)
    gw = start(relayport_gateway, clip)
    task = submit(gw)
    r = httpx.delete(f"{gw.url}/v1/videos/generations/{task['id']}")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert [r.path for r in clip.requests if r.method == "DELETE"] == ["/v1/clips/clip-1"]
    polls = len(clip.polls())
    time.sleep(0.3)
    assert len(clip.polls()) == polls
    r = httpx.delete(f"{gw.url}/v1/videos/generations/{task['id']}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "task_finished"


def test_content_before_the_end_is_409(relayport_gateway, clip):
    clip.steps = ("working",)
    gw = start(relayport_gateway, clip)
    task = submit(gw)
    r = httpx.get(f"{gw.url}/v1/videos/generations/{task['id']}/content")
    assert r.status_code == 409 and r.json()["error"]["code"] == "content_not_ready"


def test_client_get_polls_early_when_the_last_poll_is_old(relayport_gateway, clip):
    gw = start(relayport_gateway, clip, poll_interval=3600.0)  # the poller alone would wait an hour
    task = submit(gw)
    assert len(clip.polls()) == 0
    assert get_task(gw, task["id"]).json()["status"] == "queued"  # waiting
    assert len(clip.polls()) == 1


def test_bad_requests(relayport_gateway, clip):
    gw = start(relayport_gateway, clip)
    r = httpx.post(gw.url + "/v1/videos/generations", json={"messages": []})
    assert r.status_code == 400 and r.json()["error"]["param"] == "model"
    r = httpx.post(gw.url + "/v1/videos/generations", json={"model": "clip-1", "prompt": "x", "duration": "long"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "seconds"
    r = httpx.post(gw.url + "/v1/videos/generations", content=b"{nope")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = httpx.post(gw.url + "/v1/videos/generations", json={"model": "clip-1", "prompt": "x",
                                                            "callback_url": "https://example.com/hook"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "callbacks_disabled"


# ----------------------------------------------------------------------------- callbacks


class Receiver:
    """A webhook receiver: fails the first `fail` deliveries with 500."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        app = web.Application()
        app.router.add_post("/hook", self.hook)
        self.server = ServerThread(app).start()

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self.lock:
            self.deliveries.append((dict(request.headers), body))
            if self.fail > 0:
                self.fail -= 1
                return web.Response(status=500)
        return web.Response(status=204)


def test_callback_is_signed_retried_and_sent_once(relayport_gateway, clip):
    receiver = Receiver(fail=1)
    try:
        gw = start(relayport_gateway, clip, {"fetch": {"allow_private": True}},
                   callback_secret="whsec-test", max_backoff=0.5)
        task = submit(gw, callback_url=receiver.server.url + "/hook")
        wait_for(lambda: len(receiver.deliveries) >= 2, timeout=10)
        time.sleep(0.6)
        assert len(receiver.deliveries) == 2  # one failure, one success, then nothing more
        headers, body = receiver.deliveries[-1]
        assert verify("whsec-test", body, headers[SIGNATURE_HEADER])
        assert not verify("other-secret", body, headers[SIGNATURE_HEADER])
        assert not verify("whsec-test", body + b" ", headers[SIGNATURE_HEADER])
        sent = orjson.loads(body)
        assert sent["id"] == task["id"] and sent["status"] == "succeeded"
        assert sent["result"]["outputs"][0]["url"].endswith(f"/v1/videos/generations/{task['id']}/content")
    finally:
        receiver.server.stop()


def test_callback_to_a_private_address_is_refused(relayport_gateway, clip):
    gw = start(relayport_gateway, clip, callback_secret="whsec-test")
    r = httpx.post(gw.url + "/v1/videos/generations", json={
        "model": "clip-1", "prompt": "x", "callback_url": "http://127.0.0.1:9/hook"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_url"
    assert not clip.requests  # refused before the vendor was asked


async def test_two_instances_finish_a_task_once_and_call_back_once(tmp_path, clip):
    """Two runners on one store (two gateway processes, or one before and one after a restart)
    poll the same task at the same moment: one finishes it, one callback is delivered."""
    from relayport.config import parse_config
    from relayport.plugins import load_plugins
    from relayport.routing import Router
    from relayport.tasks.runner import TaskRunner
    from relayport.tasks.store import TaskStore
    from relayport.upstream import new_session
    from relayport.urlguard import FetchPolicy, new_fetch_session
    from relayport.wire.tasks import unified

    clip.steps = ("done",)
    receiver = Receiver()
    config = parse_config(clip_config(clip))
    plugins = load_plugins({}, extra_plugins={"clip": ClipPlugin()})
    policy = FetchPolicy(allow_private=True)
    runners = []
    try:
        for _ in range(2):
            store = TaskStore(str(tmp_path / "shared.sqlite3"))
            await store.open()
            runners.append(TaskRunner(store, new_session(), Router(config, plugins, {}), config.tasks, None,
                                      new_fetch_session(policy), policy, "whsec"))
        a, b = runners
        from relayport.model import MediaKind, MediaRequest

        task = await a.submit(a.router.resolve("clip-1")[0], MediaRequest(MediaKind.VIDEO, "clip-1", prompt="x"),
                              callback_url=receiver.server.url + "/hook")
        copy_a, copy_b = await a.store.get(task.id), await b.store.get(task.id)
        assert copy_a is not None and copy_b is not None
        done_a, done_b = await asyncio.gather(a.poll(copy_a), b.poll(copy_b))
        assert done_a.status == done_b.status == TaskStatus.SUCCEEDED
        assert len(clip.polls()) == 2  # both asked the vendor ...
        await asyncio.gather(a.chores(done_a, unified), b.chores(done_b, unified))
        assert len(receiver.deliveries) == 1  # ... one callback went out
        final = await a.store.get(task.id)
        assert final is not None and final.callback_state == "sent"
    finally:
        for r in runners:
            await r.session.close()
            assert r.fetch_session is not None
            await r.fetch_session.close()
            await r.store.close()
        receiver.server.stop()
