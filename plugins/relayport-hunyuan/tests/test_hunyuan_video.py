"""Hunyuan video through the gateway: Tencent Cloud's VCLM API, TC3-signed, WAIT/RUN/DONE jobs."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from relayport.plugins import load_plugins
from relayport.testing.conformance import MediaConformance
from relayport.testing.waiting import wait_for
from relayport_hunyuan import tc3
from relayport_hunyuan.fake_video import KEY, MP4, PNG, SECRET_ID, SECRET_KEY, FakeVclm

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")
MODEL = "hunyuan-video-v1.5"


class TestHunyuanVideoConformance(MediaConformance):
    provider = "hunyuan-video"
    entry_point = "hunyuan"
    model = MODEL
    kind = "video"
    vendor_key = KEY

    def make_fake(self) -> FakeVclm:
        fake = FakeVclm()
        fake.concurrency = 100  # the suite runs more than one job at a time
        return fake


@pytest.fixture
def vclm() -> Iterator[FakeVclm]:
    fake = FakeVclm()
    fake.start()
    yield fake
    fake.stop()


def gateway(relayport_gateway, vclm: FakeVclm, key: str = KEY, **config: Any):
    return relayport_gateway({
        "auth": {"keys": ["gw-key"]},
        "models": [{"name": MODEL, "provider": "hunyuan-video", "base_url": vclm.url, "api_key": key}],
        "tasks": {"poll_intervals": {"hunyuan-video": 0.05}, "jitter": 0.0},
        **config,
    }, env={})


@pytest.fixture
def gw(relayport_gateway, vclm):
    return gateway(relayport_gateway, vclm)


def post(gw, **body: Any) -> httpx.Response:
    return httpx.post(gw.url + "/v1/videos/generations", headers=gw.headers(), json=body)


def get(gw, task_id: str, query: str = "") -> dict[str, Any]:
    return httpx.get(f"{gw.url}/v1/videos/generations/{task_id}{query}", headers=gw.headers()).json()


def test_both_providers_register_and_video_names_route_to_video():
    plugins = load_plugins({"RELAYPORT_LOAD_PLUGINS": "hunyuan"})
    video, chat = plugins.provider("hunyuan-video"), plugins.provider("hunyuan")
    assert video is not None and chat is not None and video.spec.signer is not None
    assert video.spec.capabilities == frozenset({"video_generation"}) and "chat" in chat.spec.capabilities
    names = list(plugins.providers)
    assert names.index("hunyuan-video") < names.index("hunyuan")  # `hunyuan-video*` is tried first


def test_the_chat_provider_runs_no_video_tasks(relayport_gateway, vclm):
    # The package's task hooks answer for `hunyuan-video` only: a chat model asked for a video
    # gets the core's 501, and nothing reaches the vendor.
    gw = relayport_gateway({
        "auth": {"keys": ["gw-key"]},
        "models": [{"name": "hunyuan-turbos-latest", "provider": "hunyuan", "base_url": vclm.url,
                    "api_key": "sk-chat"}],
    }, env={})
    r = post(gw, model="hunyuan-turbos-latest", prompt="一只狗在跳舞")
    assert r.status_code == 501, r.text
    error = r.json()["error"]
    assert error["code"] == "unsupported_operation" and "'hunyuan' cannot run video tasks" in error["message"]
    assert vclm.requests == []


def test_signature_matches_tencents_construction():
    """The documented canonical request, string to sign and key chain, for a fixed time."""
    header = tc3.authorization(SECRET_ID, SECRET_KEY, "vclm", "vclm.tencentcloudapi.com",
                               "application/json; charset=utf-8", b'{"Prompt":"x"}', 1_700_000_000)
    assert header.startswith(f"TC3-HMAC-SHA256 Credential={SECRET_ID}/2023-11-14/vclm/tc3_request, "
                             "SignedHeaders=content-type;host, Signature=")
    assert len(header.rsplit("=", 1)[1]) == 64


def test_text_to_video_runs_to_its_content(gw, vclm):
    r = post(gw, model=MODEL, messages=[{"role": "user", "content": "一只狗在跳舞"}], resolution="720p",
             watermark=False)
    assert r.status_code == 200, r.text
    task = r.json()
    sent = vclm.requests[0]
    assert sent.headers["x-tc-action"] == "SubmitHunyuanToVideoJob" and sent.headers["x-tc-version"] == "2024-05-23"
    assert sent.headers["x-tc-region"] == "ap-guangzhou"
    assert sent.json() == {"Prompt": "一只狗在跳舞", "Resolution": "720p", "LogoAdd": 0}
    assert SECRET_KEY not in str(sent.headers)  # signed, never sent
    done = wait_for(lambda: (t := get(gw, task["id"]))["status"] == "succeeded" and t)
    assert done["vendor"]["Response"]["Status"] == "DONE"
    describes = [q.json() for q in vclm.requests if q.headers.get("x-tc-action") == "DescribeHunyuanToVideoJob"]
    assert describes and all(d == {"JobId": task["vendor"]["Response"]["JobId"]} for d in describes)
    content = wait_for(lambda: (c := httpx.get(f"{gw.url}/v1/videos/generations/{task['id']}/content",
                                               headers=gw.headers())).status_code == 200 and c)
    assert content.content == MP4
    download = next(q for q in vclm.requests if q.path.startswith("/files/"))
    assert "authorization" not in download.headers  # the pre-signed link goes unsigned


def test_images_by_url_and_by_base64(gw, vclm):
    vclm.concurrency = 5
    r = post(gw, model=MODEL, prompt="让它动起来", images=["https://example.com/a.png", "https://example.com/b.png"],
             duration=5)
    assert r.status_code == 200, r.text
    assert r.headers["x-relayport-adjustments"] == ("only the first image is used, "
                                                    "duration, aspect_ratio and negative_prompt dropped")
    assert _submits(vclm)[0]["Image"] == {"Url": "https://example.com/a.png"}
    data = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert post(gw, model=MODEL, prompt="x", images=[data]).status_code == 200
    # The first task's background polls may come after this submit: pick the submits out.
    assert _submits(vclm)[-1]["Image"] == {"Base64": base64.b64encode(PNG).decode()}


def _submits(vclm):
    return [q.json() for q in vclm.requests if q.headers.get("x-tc-action") == "SubmitHunyuanToVideoJob"]


def test_openai_sdk_videos(gw, vclm):
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key="gw-key", max_retries=0, timeout=20)
    video = client.videos.create(model=MODEL, prompt="小河流水")
    deadline = time.time() + 10
    while (video := client.videos.retrieve(video.id)).status != "completed" and time.time() < deadline:
        time.sleep(0.05)
    assert video.status == "completed"
    assert client.videos.download_content(video.id).read() == MP4


def test_one_job_at_a_time_is_a_429(gw, vclm):
    vclm.book.steps = ("WAIT",)
    assert post(gw, model=MODEL, prompt="first").status_code == 200
    r = post(gw, model=MODEL, prompt="second")
    assert r.status_code == 429 and r.json()["error"]["code"] == "RequestLimitExceeded.JobNumExceed"


def test_failed_job_and_throttled_describe(gw, vclm):
    vclm.concurrency = 5
    vclm.book.steps = ("WAIT", "FAIL")
    task = post(gw, model=MODEL, prompt="x").json()
    done = wait_for(lambda: (t := get(gw, task["id"]))["status"] == "failed" and t)
    assert done["error"]["code"] == "FailedOperation.ModerationFailed" and "审核未通过" in done["error"]["message"]
    vclm.book.steps = ("WAIT", "RUN", "DONE")
    vclm.throttle_next = 0
    task = post(gw, model=MODEL, prompt="y").json()
    vclm.throttle_next = 2  # the next two describes are throttled and retried
    assert wait_for(lambda: get(gw, task["id"])["status"] == "succeeded")
    assert vclm.throttle_next == 0


def test_prompt_limit_is_checked_before_tencent(gw, vclm):
    r = post(gw, model=MODEL, prompt="字" * 201)
    assert r.status_code == 400 and r.json()["error"]["param"] == "prompt"
    assert not vclm.requests


def test_wrong_secret_is_401_and_never_shown(relayport_gateway, vclm):
    gw = gateway(relayport_gateway, vclm, key=f"{SECRET_ID}|wrong-secret-value")
    r = post(gw, model=MODEL, prompt="x")
    assert r.status_code == 401 and r.json()["error"]["code"] == "AuthFailure.SignatureFailure"
    assert "wrong-secret-value" not in r.text
    gw = gateway(relayport_gateway, vclm, key="no-separator")
    r = post(gw, model=MODEL, prompt="x")
    assert r.status_code == 500 and "SecretId|SecretKey" in r.json()["error"]["message"]


def test_result_outlives_the_24h_link(relayport_gateway, vclm):
    vclm.files.lifetime = 1.5
    gw = gateway(relayport_gateway, vclm)
    task = post(gw, model=MODEL, prompt="x").json()
    wait_for(lambda: vclm.files.downloads >= 1)
    time.sleep(1.7)
    link = get(gw, task["id"], "?format=native")["Response"]["ResultVideoUrl"]
    assert httpx.get(link).status_code == 403
    r = httpx.get(f"{gw.url}/v1/videos/generations/{task['id']}/content", headers=gw.headers())
    assert r.status_code == 200 and r.content == MP4
