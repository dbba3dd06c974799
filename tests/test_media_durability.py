"""A task survives `kill -9` of `relayport serve`: a real subprocess, killed mid-task and started
again on the same state file (or PostgreSQL store), finishes the task by itself and serves its
content, even after the vendor is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from relayport.testing.fakes import FakeOpenAI
from relayport.testing.openai_media import MP4
from tests.accounts_helpers import store_url  # noqa: F401  (fixture)
from tests.test_cli import clean_env, free_port, healthz

CONFIG = """\
[server]
state_path = "{state}"
store = "{store}"

[auth]
keys = ["gw-key"]

[tasks]
poll_interval = 0.1
jitter = 0.0
# A gateway killed mid-poll leaves its claim on the task: let the next one take it over soon.
poll_lease = 1.0

[[models]]
name = "sora"
provider = "openai"
model = "sora-2"
base_url = "{base_url}"
api_key = "{api_key}"
"""
HEADERS = {"Authorization": "Bearer gw-key"}


def serve(workdir: Path, n: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with open(workdir / f"serve-{n}.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "relayport", "serve", "--config", "relayport.toml",
                                 "--port", str(port)], cwd=workdir, env=clean_env(workdir / "home"),
                                stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 15
    while time.time() < deadline:
        if healthz(port) is not None:
            return proc, f"http://127.0.0.1:{port}"
        assert proc.poll() is None, (workdir / f"serve-{n}.log").read_text()
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("relayport serve did not become healthy")


def kill9(proc: subprocess.Popen[bytes]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(5) == -signal.SIGKILL


def wait_for(fn, timeout: float = 15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
def task_store(store_url: str) -> Iterator[str]:  # noqa: F811
    """`[server] store`: "" (the state file) or a PostgreSQL schema of the test's own."""
    yield store_url if store_url.startswith("postgresql://") else ""


def test_sigkill_mid_task_then_restart(tmp_path: Path, task_store: str) -> None:
    (tmp_path / "home").mkdir()
    fake = FakeOpenAI().start()
    assert fake.media is not None
    fake.media.video_steps = ("queued", "in_progress")  # stays in progress until we say otherwise
    (tmp_path / "relayport.toml").write_text(CONFIG.format(
        state=tmp_path / "state" / "relayport.sqlite3", store=task_store, base_url=fake.base_url,
        api_key=fake.api_key))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        proc, url = serve(tmp_path, 0)
        procs.append(proc)
        r = httpx.post(url + "/v1/videos", headers=HEADERS, json={"model": "sora", "prompt": "a boat", "seconds": "4"})
        assert r.status_code == 200, r.text
        task_id = r.json()["id"]

        def polls() -> int:
            return sum(1 for q in fake.requests if q.method == "GET" and q.path.startswith("/v1/videos/video_"))

        wait_for(lambda: polls() >= 2)  # the poller is at work, the task is in progress
        kill9(proc)

        fake.media.video_steps = ("queued", "in_progress", "completed")  # the vendor finishes meanwhile
        before = polls()
        proc, url = serve(tmp_path, 1)
        procs.append(proc)
        # nobody asks: the restarted poller resumes by itself, finishes the task, fetches the result
        wait_for(lambda: polls() > before)
        wait_for(lambda: any(q.path.endswith("/content") for q in fake.requests))
        task = httpx.get(f"{url}/v1/videos/generations/{task_id}", headers=HEADERS).json()
        assert task["status"] == "succeeded", task
        assert httpx.get(f"{url}/v1/videos/{task_id}/content", headers=HEADERS).content == MP4
        # still guarded by the gateway keys after the restart
        assert httpx.get(f"{url}/v1/videos/{task_id}", headers={"Authorization": "Bearer other"}).status_code == 401

        # killed again and the vendor gone: the stored copy is still served
        kill9(proc)
        fake.stop()
        proc, url = serve(tmp_path, 2)
        procs.append(proc)
        r = httpx.get(f"{url}/v1/videos/{task_id}/content", headers=HEADERS)
        assert r.status_code == 200 and r.content == MP4
        assert httpx.get(f"{url}/v1/videos/{task_id}", headers=HEADERS).json()["status"] == "completed"
        if task_store:  # the task lived in PostgreSQL, not in the state file
            import sqlite3

            db = sqlite3.connect(tmp_path / "state" / "relayport.sqlite3")
            assert not db.execute("SELECT name FROM sqlite_master WHERE name = 'tasks'").fetchall()
            db.close()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
        fake.stop()
