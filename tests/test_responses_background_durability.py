"""A `background: true` Response survives `kill -9` of `relayport serve`: a real subprocess,
killed while the vendor call is open and started again on the same state file, runs the
response again by itself (the client only polls), keeps it bound to the key that created it,
and cancels it across the restart. A graceful stop leaves it for the next start, not cancelled.
A job the gateway keeps dying on is failed after `MAX_RUNS` starts instead of crash-looping.
A store key's job run again is charged to that key, and fails when the key was revoked."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import httpx
import orjson

from relayport.responses.store import ResponseStore, owner_of
from relayport.server import responses_background
from relayport.testing import openapi
from relayport.testing.fakes import FakeOpenAI, Reply
from tests.test_cli import run
from tests.test_media_durability import kill9, serve, wait_for

MODEL = """\
[[models]]
name = "ds"
provider = "deepseek"
model = "deepseek-reasoner"
base_url = "{base_url}"
api_key = "{api_key}"
"""
CONFIG = """\
[server]
state_path = "{state}"

[auth]
keys = ["gw-key", "other-key"]

""" + MODEL
KEY = {"Authorization": "Bearer gw-key"}
OTHER = {"Authorization": "Bearer other-key"}


def _chat_calls(fake: FakeOpenAI) -> list[Any]:
    return [q for q in fake.requests if q.path.endswith("/chat/completions")]


def _get(url: str, response_id: str, headers: dict[str, str] = KEY) -> httpx.Response:
    return httpx.get(f"{url}/v1/responses/{response_id}", headers=headers, timeout=10)


def _status(url: str, response_id: str) -> str:
    r = _get(url, response_id)
    assert r.status_code == 200, r.text
    openapi.validate_response(r.json())
    return str(r.json()["status"])


def _setup(tmp_path: Path, config: str = CONFIG) -> FakeOpenAI:
    (tmp_path / "home").mkdir()
    fake = FakeOpenAI(api_key="sk-ds-vendor").start()
    (tmp_path / "relayport.toml").write_text(config.format(
        state=tmp_path / "state" / "relayport.sqlite3", base_url=fake.base_url, api_key=fake.api_key))
    return fake


def _create(url: str, text: str, headers: dict[str, str] = KEY) -> dict[str, Any]:
    r = httpx.post(url + "/v1/responses", headers=headers, timeout=10, json={
        "model": "ds", "input": [{"role": "user", "content": text}], "instructions": "Think hard.",
        "background": True})
    assert r.status_code == 200, r.text
    openapi.validate_response(r.json())
    assert r.json()["status"] == "queued"
    return dict(r.json())


def _stop(procs: list[subprocess.Popen[bytes]], fake: FakeOpenAI) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(5)
    fake.stop()


def test_sigkill_mid_call_then_restart_runs_it_again(tmp_path: Path) -> None:
    fake = _setup(tmp_path)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        proc, url = serve(tmp_path, 0)
        procs.append(proc)
        fake.push(Reply(hang=True))  # the vendor call is open when the gateway dies
        queued = _create(url, "Prove it slowly.")
        wait_for(lambda: _chat_calls(fake) and _status(url, queued["id"]) == "in_progress")
        kill9(proc)

        fake.queue_text("Proved, after the restart.")
        proc, url = serve(tmp_path, 1)
        procs.append(proc)
        # Nobody asks it to: the new process runs the response again, with the same request.
        wait_for(lambda: _status(url, queued["id"]) == "completed")
        done = _get(url, queued["id"]).json()
        assert done["output"][-1]["content"][0]["text"] == "Proved, after the restart."
        assert done["created_at"] == queued["created_at"] and done["background"] is True
        first, again = _chat_calls(fake)
        assert again.json()["messages"] == first.json()["messages"] == [
            {"role": "system", "content": "Think hard."}, {"role": "user", "content": "Prove it slowly."}]
        # Still bound to the key that created it, and its input items still listed.
        assert _get(url, queued["id"], OTHER).status_code == 404
        items = httpx.get(f"{url}/v1/responses/{queued['id']}/input_items", headers=KEY).json()
        assert [i["content"][0]["text"] for i in items["data"]] == ["Prove it slowly."]

        # A finished response is not run again by a later start.
        kill9(proc)
        proc, url = serve(tmp_path, 2)
        procs.append(proc)
        assert _status(url, queued["id"]) == "completed" and len(_chat_calls(fake)) == 2
    finally:
        _stop(procs, fake)


def test_cancel_across_the_restart(tmp_path: Path) -> None:
    fake = _setup(tmp_path)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        proc, url = serve(tmp_path, 0)
        procs.append(proc)
        fake.push(Reply(hang=True), Reply(hang=True))
        queued = _create(url, "Never mind.")
        wait_for(lambda: len(_chat_calls(fake)) == 1)
        kill9(proc)

        proc, url = serve(tmp_path, 1)
        procs.append(proc)
        wait_for(lambda: len(_chat_calls(fake)) == 2)  # resumed: the vendor call is open again
        assert httpx.post(f"{url}/v1/responses/{queued['id']}/cancel", headers=OTHER).status_code == 404
        r = httpx.post(f"{url}/v1/responses/{queued['id']}/cancel", headers=KEY, timeout=10)
        assert r.status_code == 200, r.text
        openapi.validate_response(r.json())
        assert r.json()["status"] == "cancelled"

        kill9(proc)  # cancelled for good: the next start does not run it again
        proc, url = serve(tmp_path, 2)
        procs.append(proc)
        assert _status(url, queued["id"]) == "cancelled" and len(_chat_calls(fake)) == 2
    finally:
        _stop(procs, fake)


def test_graceful_stop_leaves_it_for_the_next_start(tmp_path: Path) -> None:
    fake = _setup(tmp_path)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        proc, url = serve(tmp_path, 0)
        procs.append(proc)
        fake.push(Reply(hang=True))
        queued = _create(url, "Over a restart.")
        wait_for(lambda: len(_chat_calls(fake)) == 1)
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        with sqlite3.connect(tmp_path / "state" / "relayport.sqlite3") as db:
            # Left for the next start, its interrupted run not counted against it.
            assert db.execute("SELECT id, runs FROM response_jobs").fetchall() == [(queued["id"], 0)]
            row = db.execute("SELECT response FROM responses WHERE id = ?", (queued["id"],)).fetchone()
        assert orjson.loads(row[0])["status"] == "in_progress"  # not "cancelled": nobody cancelled it

        fake.queue_text("Done in the next process.")
        proc, url = serve(tmp_path, 1)
        procs.append(proc)
        wait_for(lambda: _status(url, queued["id"]) == "completed")
        assert _get(url, queued["id"]).json()["output"][-1]["content"][0]["text"] == "Done in the next process."
    finally:
        _stop(procs, fake)


def test_a_job_the_gateway_keeps_dying_on_is_failed(tmp_path: Path) -> None:
    async def scenario() -> dict[str, Any]:
        store = ResponseStore(str(tmp_path / "state.sqlite3"), 3600)
        await store.open()
        owner = owner_of("gw-key")
        shell = {"id": "resp_crashy", "object": "response", "status": "in_progress", "background": True}
        await store.put_job(owner, "resp_crashy", {"body": {"model": "ds", "input": "x"}, "history": None,
                                                   "search": None})
        await store.put(owner, shell, [])
        for _ in range(responses_background.MAX_RUNS):
            await store.start_job("resp_crashy")  # each start that died mid-run
        # A job this code cannot read (written by another version, say) must not stop the start.
        await store.put_job(owner, "resp_garbled", {"body": None, "history": None})
        await store.put(owner, {**shell, "id": "resp_garbled"}, [])
        started = await responses_background.resume(store, gateway=None, accounts=None)  # type: ignore[arg-type]
        found = await store.get(owner, "resp_crashy")
        left = await store.jobs()
        await store.close()
        assert started == 0 and left == [] and found is not None
        return found[0]

    failed = asyncio.run(scenario())
    assert failed["status"] == "failed" and failed["error"]["code"] == "server_error"
    assert "stopped unexpectedly 3 times" in failed["error"]["message"]
    assert orjson.dumps(failed)


# The same gateway with a store key and a priced model, no TOML keys.
STORE_KEY_CONFIG = """\
[server]
state_path = "{state}"

[billing]
currency = "USD"

""" + MODEL + """price = {{ input = 2, output = 8 }}
"""


def _store_key_setup(tmp_path: Path) -> tuple[FakeOpenAI, dict[str, str]]:
    fake = _setup(tmp_path, STORE_KEY_CONFIG)
    made = run(tmp_path, "keys", "create", "--name", "bg", "--balance", "1", "--config", "relayport.toml")
    assert made.returncode == 0, made.stderr
    return fake, {"Authorization": f"Bearer {made.stdout.splitlines()[-1]}"}


def _killed_mid_run(tmp_path: Path, fake: FakeOpenAI, key: dict[str, str],
                    procs: list[subprocess.Popen[bytes]]) -> str:
    """A background response created with `key`, its gateway killed while the vendor call is open."""
    proc, url = serve(tmp_path, 0)
    procs.append(proc)
    fake.push(Reply(hang=True))
    response_id = str(_create(url, "Take your time.", key)["id"])
    wait_for(lambda: len(_chat_calls(fake)) == 1)
    kill9(proc)
    return response_id


def _cli_json(tmp_path: Path, *args: str) -> Any:
    done = run(tmp_path, *args, "--config", "relayport.toml")
    assert done.returncode == 0, done.stderr
    return orjson.loads(done.stdout)


def test_a_store_keys_job_run_again_is_charged_to_it(tmp_path: Path) -> None:
    fake, key = _store_key_setup(tmp_path)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        # The first run's call never finished: nothing was charged for it.
        response_id = _killed_mid_run(tmp_path, fake, key, procs)

        fake.queue_text("Done.", usage=fake.usage(1000, 250))
        proc, url = serve(tmp_path, 1)
        procs.append(proc)
        wait_for(lambda: _get(url, response_id, key).json()["status"] == "completed")
        # 1000 x 2 + 250 x 8 per million tokens: 0.004 USD, charged to the key that made it.
        wait_for(lambda: _cli_json(tmp_path, "usage", "--by", "key", "--format", "json"))
        [row] = _cli_json(tmp_path, "usage", "--by", "key", "--format", "json")
        assert (row["key"], row["calls"], row["prompt_tokens"], row["completion_tokens"], row["cost"]) == (
            "bg", 1, 1000, 250, "0.004")
        wait_for(lambda: _cli_json(tmp_path, "keys", "show", "bg", "--json")["balance"] == "0.996")
    finally:
        _stop(procs, fake)


def test_a_revoked_keys_job_is_not_run_again(tmp_path: Path) -> None:
    fake, key = _store_key_setup(tmp_path)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        response_id = _killed_mid_run(tmp_path, fake, key, procs)
        assert run(tmp_path, "keys", "revoke", "bg", "--config", "relayport.toml").returncode == 0

        proc, url = serve(tmp_path, 1)
        procs.append(proc)
        with sqlite3.connect(tmp_path / "state" / "relayport.sqlite3") as db:
            # Settled at start, before the server answers: failed with the key's 401, job gone.
            assert db.execute("SELECT count(*) FROM response_jobs").fetchone() == (0,)
            stored = orjson.loads(db.execute("SELECT response FROM responses WHERE id = ?",
                                             (response_id,)).fetchone()[0])
        # (`server_error`: the spec's ResponseError codes have no word for a key refused)
        assert stored["status"] == "failed"
        assert stored["error"] == {"code": "server_error",
                                   "message": "The API key that made this request was revoked."}
        assert len(_chat_calls(fake)) == 1  # the vendor was not called again
        assert _get(url, response_id, key).status_code == 401  # and the key itself is shut out
    finally:
        _stop(procs, fake)
