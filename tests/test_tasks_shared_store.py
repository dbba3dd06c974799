"""Two gateway instances on one PostgreSQL store share their tasks: a task submitted to one is
served by the other, polled once per interval (not once per instance), and its webhook fires once."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from relayport.tasks.callbacks import SIGNATURE_HEADER, verify
from relayport.testing.fakes import FakeOpenAI
from tests.accounts_helpers import pg_schema
from tests.test_media_durability import serve, wait_for
from tests.test_media_tasks import Receiver

INTERVAL = 0.25
CONFIG = """\
[server]
state_path = "{state}"
store = "{store}"

[auth]
keys = ["gw-key"]

[fetch]
allow_private = true

[tasks]
poll_interval = {interval}
jitter = 0.0
callback_secret = "whsec-shared"

[[models]]
name = "sora"
provider = "openai"
model = "sora-2"
base_url = "{base_url}"
api_key = "{api_key}"
"""
HEADERS = {"Authorization": "Bearer gw-key"}


@pytest.fixture
def pg_store() -> Iterator[str]:
    with pg_schema() as url:
        yield url


def test_two_gateways_poll_a_task_once_per_interval_and_call_back_once(tmp_path: Path, pg_store: str) -> None:
    fake = FakeOpenAI().start()
    assert fake.media is not None
    fake.media.video_steps = ("queued", "in_progress")  # runs until the test says otherwise
    receiver = Receiver()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        urls = []
        for n in range(2):  # each instance its own state file: only the PostgreSQL store is shared
            work = tmp_path / f"gw{n}"
            (work / "home").mkdir(parents=True)
            (work / "relayport.toml").write_text(CONFIG.format(
                state=work / "state.sqlite3", store=pg_store, interval=INTERVAL, base_url=fake.base_url,
                api_key=fake.api_key))
            proc, url = serve(work, n)
            procs.append(proc)
            urls.append(url)

        r = httpx.post(urls[0] + "/v1/videos/generations", headers=HEADERS, json={
            "model": "sora", "prompt": "a boat", "callback_url": receiver.server.url + "/hook"})
        assert r.status_code == 200, r.text
        task_id = r.json()["task_id"]

        def polls() -> int:
            return sum(1 for q in fake.requests if q.method == "GET" and q.path.startswith("/v1/videos/video_"))

        wait_for(lambda: polls() >= 1)
        start, at_start = time.monotonic(), polls()
        time.sleep(3.0)
        counted = polls() - at_start
        window = time.monotonic() - start
        # One instance at a time: at most about window / interval polls (a loaded machine makes them
        # late, never early); both instances polling would make twice that.
        assert 3 <= counted <= window / INTERVAL + 2, (counted, window)

        # the other instance knows the task (same owner: the same gateway key)
        seen = httpx.get(f"{urls[1]}/v1/videos/generations/{task_id}", headers=HEADERS)
        assert seen.status_code == 200 and seen.json()["status"] in ("queued", "running"), seen.text

        fake.media.video_steps = ("queued", "in_progress", "completed")
        wait_for(lambda: receiver.deliveries)
        time.sleep(1.5)  # time for a second delivery, were there one
        assert len(receiver.deliveries) == 1
        headers, body = receiver.deliveries[0]
        assert verify("whsec-shared", body, headers[SIGNATURE_HEADER])
        sent = orjson.loads(body)
        assert sent["id"] == task_id and sent["status"] == "succeeded"
        for url in urls:
            got = httpx.get(f"{url}/v1/videos/generations/{task_id}", headers=HEADERS).json()
            assert got["status"] == "succeeded", got
        polls_after = polls()
        time.sleep(3 * INTERVAL)
        assert polls() == polls_after  # a finished task is polled no more, by either instance
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
        receiver.server.stop()
        fake.stop()
