"""Graceful shutdown of a real `relayport serve` process while a stream is running."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.test_cli import clean_env, free_port

WORDS = " ".join(f"w{i}" for i in range(40))


def _config(fake_openai, drain_delay: float, drain_timeout: float) -> str:
    return f"""
[server]
state_path = ":memory:"
drain_delay = {drain_delay}
drain_timeout = {drain_timeout}

[[models]]
name = "m"
provider = "openai"
base_url = "{fake_openai.base_url}"
api_key = "{fake_openai.api_key}"
"""


@pytest.fixture
def serve(tmp_path: Path):
    procs: list[subprocess.Popen[bytes]] = []

    def start(config: str) -> tuple[subprocess.Popen[bytes], str, Path]:
        (tmp_path / "home").mkdir(exist_ok=True)
        (tmp_path / "relayport.toml").write_text(config)
        port = free_port()
        log_path = tmp_path / "serve.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "relayport", "serve", "--config", "relayport.toml",
                                     "--port", str(port)], cwd=tmp_path, env=clean_env(tmp_path / "home"),
                                    stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        for _ in range(250):
            try:
                if httpx.get(url + "/healthz").status_code == 200:
                    return proc, url, log_path
            except httpx.TransportError:
                pass
            assert proc.poll() is None, log_path.read_text()
            time.sleep(0.02)
        pytest.fail("relayport serve did not come up: " + log_path.read_text())

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def _stream_in_background(url: str) -> tuple[threading.Event, list[bytes], threading.Thread]:
    first = threading.Event()
    got: list[bytes] = []

    def run() -> None:
        try:
            with httpx.stream("POST", url + "/v1/chat/completions", timeout=30,
                              json={"model": "m", "stream": True,
                                    "messages": [{"role": "user", "content": "hi"}]}) as r:
                for chunk in r.iter_raw():
                    got.append(chunk)
                    first.set()
        except httpx.TransportError as exc:
            got.append(f"<{type(exc).__name__}>".encode())
        first.set()

    thread = threading.Thread(target=run)
    thread.start()
    return first, got, thread


def test_sigterm_drains_a_running_stream_and_reports_draining(serve, fake_openai):
    proc, url, log = serve(_config(fake_openai, drain_delay=2.0, drain_timeout=20))
    fake_openai.queue_text(WORDS, delay=0.15)  # ~6 s of stream
    first, got, thread = _stream_in_background(url)
    assert first.wait(10)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    health = httpx.get(url + "/healthz")
    assert health.status_code == 200 and health.json() == {"status": "draining"}
    ready = httpx.get(url + "/readyz")
    assert ready.status_code == 503 and ready.json() == {"status": "draining"}
    # during drain_delay new calls are still served (a load balancer has not noticed yet)
    late = httpx.post(url + "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user",
                                                                                        "content": "late"}]})
    assert late.status_code == 200 and late.json()["choices"][0]["message"]["content"] == "echo: late"
    closed_at = time.monotonic() + 10
    while time.monotonic() < closed_at:  # the listening socket closes after drain_delay
        try:
            httpx.get(url + "/healthz")
        except httpx.ConnectError:
            break
        except httpx.RemoteProtocolError:
            # accepted in the instant the listener closed, then dropped with the idle
            # connections; the next try meets the closed socket
            pass
        time.sleep(0.1)
    else:
        pytest.fail("still accepting connections long after drain_delay")
    assert proc.poll() is None and not thread.join(0) and thread.is_alive()  # still finishing the stream
    thread.join(15)
    body = b"".join(got)
    assert body.endswith(b"data: [DONE]\n\n"), body[-200:]
    assert b'" w39"' in body
    assert proc.wait(10) == 0
    text = log.read_text()
    assert "draining" in text and "Traceback" not in text


def test_drain_timeout_ends_a_stream_that_runs_too_long(serve, fake_openai):
    proc, url, log = serve(_config(fake_openai, drain_delay=0, drain_timeout=0.5))
    fake_openai.queue_text(WORDS, delay=0.25)  # ~5 s of stream
    first, got, thread = _stream_in_background(url)
    assert first.wait(10)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0
    assert time.monotonic() - started < 3.0
    thread.join(10)
    assert not b"".join(got).endswith(b"data: [DONE]\n\n")
    assert "Traceback" not in log.read_text()
