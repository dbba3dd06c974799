"""BFL FLUX through the gateway: x-key, polling_url, Pending -> Ready, results copied before they expire."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from relayport.plugins import load_plugins
from relayport.testing.task_fakes import serving
from relayport.testing.waiting import wait_for
from relayport_bfl.testing import JPEG, KEY, FakeBFL


@pytest.fixture
def bfl() -> Iterator[FakeBFL]:
    yield from serving(FakeBFL())


def gateway(relayport_gateway, bfl: FakeBFL, **tasks: Any):
    entry = {"provider": "bfl", "base_url": bfl.url, "api_key": KEY}
    return relayport_gateway({
        "models": [{"name": "flux-kontext-pro", **entry}, {"name": "flux-pro-1.1", **entry}],
        "tasks": {"poll_intervals": {"bfl": 0.05}, "jitter": 0.0, **tasks},
    }, env={})


@pytest.fixture
def gw(relayport_gateway, bfl):
    return gateway(relayport_gateway, bfl)


def test_registers():
    spec = load_plugins({}).provider("bfl").spec
    assert spec.auth == "header:x-key" and spec.model_patterns == ("flux-*",)


def test_openai_sdk_generate_waits_and_serves_the_gateways_copy(gw, bfl):
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key="unused", max_retries=0, timeout=20)
    result = client.images.generate(model="flux-pro-1.1", prompt="a red kite", size="1024x768",
                                    extra_body={"seed": 7, "safety_tolerance": 2})
    sent = bfl.requests[0]
    assert sent.path == "/v1/flux-pro-1.1" and sent.headers["x-key"] == KEY
    assert sent.json() == {"prompt": "a red kite", "width": 1024, "height": 768, "seed": 7, "safety_tolerance": 2}
    polls = [q for q in bfl.requests if q.path == "/v1/get_result"]
    # Pending then Ready (a client waiting may add a poll when the poller is slow to get to it)
    assert len(polls) >= 2 and all(q.headers["x-key"] == KEY for q in polls)
    url = result.data[0].url
    assert url is not None and url.startswith(gw.url + "/v1/images/generations/task_")
    image = httpx.get(url)
    assert image.status_code == 200 and image.content == JPEG and image.headers["content-type"] == "image/jpeg"


def test_result_outlives_the_vendors_url(relayport_gateway, bfl):
    bfl.expires = 1.5  # BFL: ~10 minutes; here a moment (long enough for a loaded test machine to copy it)
    gw = gateway(relayport_gateway, bfl)
    task = httpx.post(gw.url + "/v1/images/generations",
                      json={"model": "flux-kontext-pro", "prompt": "x", "async": True}).json()
    assert task["status"] in ("queued", "running")
    wait_for(lambda: any(q.path.startswith("/results/") for q in bfl.requests))  # copied as soon as Ready
    time.sleep(1.7)
    sample = next(q for q in bfl.requests if q.path.startswith("/results/"))
    expired = httpx.get(bfl.url + sample.path)
    assert expired.status_code == 403  # the vendor's link is dead now
    r = httpx.get(f"{gw.url}/v1/images/generations/{task['id']}/content")
    assert r.status_code == 200 and r.content == JPEG


def test_kontext_edit_with_input_image_and_b64(gw, bfl):
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key="unused", max_retries=0, timeout=20)
    result = client.images.edit(model="flux-kontext-pro", image=("in.jpg", JPEG, "image/jpeg"), prompt="make it night",
                                size="1024x1536", response_format="b64_json")
    assert base64.b64decode(result.data[0].b64_json or "") == JPEG
    sent = bfl.requests[0].json()
    assert sent["input_image"] == base64.b64encode(JPEG).decode() and sent["aspect_ratio"] == "2:3"
    assert "width" not in sent


def test_seed_form_gets_the_vendors_own_answer(gw, bfl):
    """The unified form (seed 003: messages + images[]) is answered with BFL's own result structure."""
    r = httpx.post(gw.url + "/v1/images/generations", json={
        "model": "flux-kontext-pro", "messages": [{"role": "user", "content": "生成一张俯瞰雪山湖泊的超写实照片。"}],
        "images": ["https://example.com/input.webp"], "size": "1664*928", "n": 1, "watermark": False})
    assert r.status_code == 200, r.text
    native = r.json()
    assert native["status"] == "Ready" and native["result"]["sample"].startswith(bfl.url + "/results/")
    sent = bfl.requests[0].json()
    assert sent["input_image"] == "https://example.com/input.webp" and sent["aspect_ratio"] == "52:29"
    assert "watermark" not in sent


def test_moderated_task_fails_with_the_reason(relayport_gateway, bfl):
    bfl.steps = ("Pending", "Content Moderated")
    gw = gateway(relayport_gateway, bfl)
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key="unused", max_retries=0, timeout=20)
    with pytest.raises(openai.UnprocessableEntityError) as exc:
        client.images.generate(model="flux-kontext-pro", prompt="x")
    assert exc.value.body["code"] == "content_moderated"


def test_validation_error_names_the_field(gw):
    r = httpx.post(gw.url + "/v1/images/generations", json={"model": "flux-pro-1.1", "prompt": "x", "size": "1000x768"})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["param"] == "width" and "multiple of 32" in err["message"]


def test_concurrency_limit_is_429_with_retry_after(gw, bfl):
    bfl.busy_next = 1
    r = httpx.post(gw.url + "/v1/images/generations", json={"model": "flux-pro-1.1", "prompt": "x"})
    assert r.status_code == 429 and r.headers["retry-after"] == "1"
    assert "Task limit" in r.json()["error"]["message"]


def test_key_is_not_sent_to_a_foreign_polling_host(relayport_gateway, bfl):
    from relayport.model import MediaKind, MediaRequest, TaskRecord, TaskStatus
    from relayport.provider import Deployment
    from relayport.secrets import Secret
    from relayport_bfl import api

    entry = load_plugins({}).provider("bfl")
    dep = Deployment("f", entry.spec, "flux-dev", "https://api.bfl.ai", Secret(KEY), entry.hooks)

    def task(url: str) -> TaskRecord:
        return TaskRecord("t", "bfl", "flux-dev", "id1", TaskStatus.RUNNING, MediaRequest(MediaKind.IMAGE, "f"),
                          0, 0, 1, vendor_state={"polling_url": url})

    assert api.poll(dep, task("https://gateway.bfl.ai/v1/get_result?id=id1")).headers["x-key"] == KEY
    with pytest.raises(Exception, match="refusing"):
        api.poll(dep, task("https://evil.example/v1/get_result?id=id1"))
