"""DashScope media through the gateway: Wan video and image tasks (both request protocols),
qwen-image, qwen-tts and text-embedding, with the `openai` SDK where it has the call."""

from __future__ import annotations

import base64
import struct
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import orjson
import pytest
from ds_fixtures import dashscope_fixture  # noqa: F401  (fixture)

from relayport.testing import wait_for
from relayport.testing.openai_media import MP4, PNG
from relayport.testing.servers import GatewayHandle
from relayport_dashscope.media import image_family, media_list_protocol
from relayport_dashscope.testing_media import (
    EMBEDDINGS,
    IMAGE2IMAGE,
    KEYFRAME,
    MULTIMODAL,
    PCM,
    TASKS,
    TEXT2IMAGE,
    VIDEO,
    WAV,
)

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


@pytest.fixture
def gw(relayport_gateway: Callable[..., GatewayHandle], dashscope) -> Callable[..., GatewayHandle]:
    def start(*models: str, base_url: str | None = None, **tasks: Any) -> GatewayHandle:
        entries = [{"name": m, "provider": "dashscope", "model": m, "base_url": base_url or dashscope.url,
                    "api_key": dashscope.api_key} for m in models]
        return relayport_gateway({"models": entries, "tasks": {"poll_intervals": {"dashscope": 0.05},
                                                                "jitter": 0.0, **tasks}}, env={})

    return start


def sdk(handle: GatewayHandle) -> openai.OpenAI:
    return openai.OpenAI(base_url=handle.openai_base_url, api_key="unused", max_retries=0)


def task_of(handle: GatewayHandle, task_id: str, kind: str = "videos", **params: str) -> dict[str, Any]:
    return httpx.get(f"{handle.url}/v1/{kind}/generations/{task_id}", params=params).json()


def finished(handle: GatewayHandle, task_id: str, kind: str = "videos") -> dict[str, Any]:
    return wait_for(lambda: (t := task_of(handle, task_id, kind))["status"] in ("succeeded", "failed", "cancelled")
                    and t)


def submits(dashscope, path: str) -> list[Any]:
    return [r for r in dashscope.requests if r.method == "POST" and r.path == path]


# ------------------------------------------------------------------ video


def test_openai_sdk_video_on_wan27_t2v(gw, dashscope):
    handle = gw("wan2.7-t2v")
    client = sdk(handle)
    video = client.videos.create(model="wan2.7-t2v", prompt="a fox in snow", seconds="5", size="1280x720")
    assert video.status == "queued"
    sent = submits(dashscope, VIDEO)[0]
    assert sent.headers["x-dashscope-async"] == "enable"
    assert sent.headers["authorization"] == f"Bearer {dashscope.api_key}"
    assert sent.json() == {"model": "wan2.7-t2v", "input": {"prompt": "a fox in snow"},
                           "parameters": {"duration": 5, "resolution": "720P", "ratio": "16:9"}}
    deadline = time.time() + 10
    while (video := client.videos.retrieve(video.id)).status != "completed":
        assert time.time() < deadline and video.status in ("queued", "in_progress"), video
        time.sleep(0.05)
    assert client.videos.download_content(video.id).read() == MP4
    polls = [r.path for r in dashscope.requests if r.method == "GET" and r.path.startswith(TASKS)]
    vendor_id = task_of(handle, video.id)["vendor"]["output"]["task_id"]
    assert set(polls) == {TASKS + vendor_id}


def test_legacy_wan_protocols(gw, dashscope):
    handle = gw("wan2.5-i2v-preview", "wan2.2-kf2v-flash", "wan2.5-t2v-preview")
    post = lambda body: httpx.post(handle.url + "/v1/videos/generations", json=body)  # noqa: E731
    r = post({"model": "wan2.5-i2v-preview", "prompt": "wave", "images": ["https://x/a.png"],
              "voices": ["https://x/a.mp3"], "resolution": "480p", "duration": 10, "prompt_extend": False})
    assert r.status_code == 200, r.text
    assert submits(dashscope, VIDEO)[-1].json() == {
        "model": "wan2.5-i2v-preview",
        "input": {"prompt": "wave", "img_url": "https://x/a.png", "audio_url": "https://x/a.mp3"},
        "parameters": {"prompt_extend": False, "duration": 10, "resolution": "480P"}}
    r = post({"model": "wan2.2-kf2v-flash", "prompt": "morph", "images": ["https://x/1.png", "https://x/2.png"],
              "resolution": "720P"})
    assert r.status_code == 200, r.text
    assert submits(dashscope, KEYFRAME)[-1].json()["input"] == {
        "prompt": "morph", "first_frame_url": "https://x/1.png", "last_frame_url": "https://x/2.png"}
    r = post({"model": "wan2.5-t2v-preview", "prompt": "rain", "resolution": "1080P", "aspect_ratio": "9:16"})
    assert submits(dashscope, VIDEO)[-1].json()["parameters"] == {"size": "1080*1920"}
    assert finished(handle, r.json()["task_id"])["status"] == "succeeded"


def test_vendor_refusal_reaches_the_client(gw, dashscope):
    handle = gw("wan2.7-i2v")
    r = httpx.post(handle.url + "/v1/videos/generations", json={"model": "wan2.7-i2v", "prompt": "x"})
    assert r.status_code == 400
    assert "must provide an image" in r.json()["error"]["message"]
    assert r.json()["error"]["code"] == "InvalidParameter"


def test_failed_task_carries_the_vendor_reason(gw, dashscope):
    dashscope.wan.steps = ("PENDING", "RUNNING", "FAILED")
    handle = gw("wan2.7-t2v")
    task = httpx.post(handle.url + "/v1/videos/generations", json={"model": "wan2.7-t2v", "prompt": "x"}).json()
    done = finished(handle, task["task_id"])
    assert done["status"] == "failed"
    assert done["error"]["code"] == "content_filter" and "inappropriate" in done["error"]["message"]
    assert task_of(handle, task["task_id"], format="native")["output"]["code"] == "DataInspectionFailed"


def test_unknown_task_fails_as_expired(gw, dashscope):
    dashscope.wan.steps = ("PENDING",)
    handle = gw("wan2.7-t2v")
    task = httpx.post(handle.url + "/v1/videos/generations", json={"model": "wan2.7-t2v", "prompt": "x"}).json()
    dashscope.wan.tasks.clear()  # DashScope forgets task ids after 24 h
    done = finished(handle, task["task_id"])
    assert done["status"] == "failed" and done["error"]["code"] == "task_expired"
    assert done["vendor"]["output"]["task_status"] == "UNKNOWN"


def test_rate_limited_polls_back_off_and_finish(gw, dashscope):
    dashscope.wan.limit_next = 2
    handle = gw("wan2.7-t2v")
    task = httpx.post(handle.url + "/v1/videos/generations", json={"model": "wan2.7-t2v", "prompt": "x"}).json()
    assert finished(handle, task["task_id"])["status"] == "succeeded"
    assert dashscope.wan.limit_next == 0


def test_results_outlive_the_vendor_url(gw, dashscope, tmp_path):
    handle = gw("wan2.7-t2v", results_path=str(tmp_path))
    task = httpx.post(handle.url + "/v1/videos/generations", json={"model": "wan2.7-t2v", "prompt": "x"}).json()
    done = finished(handle, task["task_id"])
    # copied into the result store without anyone asking for it
    wait_for(lambda: (tmp_path / f"{task['task_id']}.0").is_file())
    dashscope.wan.expire_all()
    assert httpx.get(done["result"]["outputs"][0]["vendor_url"]).status_code == 403  # DashScope's has expired
    r = httpx.get(done["result"]["outputs"][0]["url"])
    assert r.status_code == 200 and r.content == MP4 and r.headers["content-type"] == "video/mp4"


# ------------------------------------------------------------------ cancel


def test_cancel_a_pending_task(gw, dashscope):
    dashscope.wan.steps = ("PENDING",)
    handle = gw("wan2.7-t2v")
    client = sdk(handle)
    video = client.videos.create(model="wan2.7-t2v", prompt="x")
    r = httpx.delete(f"{handle.url}/v1/videos/generations/{video.id}")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    vendor_id = r.json()["vendor"]["output"]["task_id"]
    assert [q.path for q in dashscope.requests if q.path.endswith("/cancel")] == [f"{TASKS}{vendor_id}/cancel"]
    other = client.videos.create(model="wan2.7-t2v", prompt="y")
    assert client.videos.delete(other.id).deleted is True  # OpenAI's delete cancels, then forgets
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(other.id)


def test_a_running_task_cannot_be_cancelled(gw, dashscope):
    dashscope.wan.steps = ("PENDING", "RUNNING")
    handle = gw("wan2.7-t2v")
    task = httpx.post(handle.url + "/v1/videos/generations", json={"model": "wan2.7-t2v", "prompt": "x"}).json()
    wait_for(lambda: task_of(handle, task["task_id"])["status"] == "running")
    r = httpx.delete(f"{handle.url}/v1/videos/generations/{task['task_id']}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "task_not_cancellable"
    assert "PENDING" in r.json()["error"]["message"]
    assert not [q for q in dashscope.requests if q.path.endswith("/cancel")]
    assert task_of(handle, task["task_id"])["status"] == "running"


def test_cancel_asks_the_vendor_first_when_the_gateway_has_not_looked(gw, dashscope):
    dashscope.wan.steps = ("PENDING", "RUNNING")
    handle = gw("wan2.7-t2v", poll_intervals={"dashscope": 3600.0})  # the poller alone would wait an hour
    task = httpx.post(handle.url + "/v1/videos/generations", json={"model": "wan2.7-t2v", "prompt": "x"}).json()
    next(iter(dashscope.wan.tasks.values()))["step"] = 1  # it started meanwhile
    r = httpx.delete(f"{handle.url}/v1/videos/generations/{task['task_id']}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "task_not_cancellable"
    assert not [q for q in dashscope.requests if q.path.endswith("/cancel")]


# ------------------------------------------------------------------ images


def test_openai_sdk_qwen_image_is_synchronous(gw, dashscope):
    handle = gw("qwen-image-plus")
    image = sdk(handle).images.generate(model="qwen-image-plus", prompt="a lake", size="1664x928", n=1)
    assert image.data[0].url and image.data[0].url.startswith(dashscope.url + "/files/")
    sent = submits(dashscope, MULTIMODAL)[0]
    assert "x-dashscope-async" not in sent.headers
    assert sent.json() == {"model": "qwen-image-plus",
                           "input": {"messages": [{"role": "user", "content": [{"text": "a lake"}]}]},
                           "parameters": {"size": "1664*928", "n": 1}}


def test_openai_sdk_wan_t2i_waits_for_the_task(gw, dashscope):
    handle = gw("wan2.2-t2i-flash")
    image = sdk(handle).images.generate(model="wan2.2-t2i-flash", prompt="a lake", size="1024x1024", n=2)
    assert len(image.data) == 2
    assert image.data[0].revised_prompt == "a lake (extended)"
    assert submits(dashscope, TEXT2IMAGE)[0].json()["parameters"] == {"size": "1024*1024", "n": 2}
    # async vendors' URLs expire: the client gets the gateway's copy
    assert image.data[1].url and image.data[1].url.startswith(handle.url + "/v1/images/generations/task_")
    assert httpx.get(image.data[1].url).content == PNG


def test_openai_sdk_image_edit_sends_the_image_inline(gw, dashscope):
    handle = gw("qwen-image-edit")
    out = sdk(handle).images.edit(model="qwen-image-edit", image=("a.png", PNG, "image/png"), prompt="add a hat")
    assert out.data[0].url
    content = submits(dashscope, MULTIMODAL)[0].json()["input"]["messages"][0]["content"]
    assert content == [{"image": "data:image/png;base64," + base64.b64encode(PNG).decode()}, {"text": "add a hat"}]


# ------------------------------------------------------------------ speech and embeddings


def test_openai_sdk_speech_fetches_the_audio_url(gw, dashscope):
    handle = gw("qwen3-tts-flash")
    r = sdk(handle).audio.speech.with_raw_response.create(model="qwen3-tts-flash", voice="alloy",
                                                          input="hello there", response_format="wav")
    assert r.headers["content-type"] == "audio/wav"
    assert r.headers["x-relayport-adjustments"] == "voice alloy sent as Cherry"
    assert r.content == WAV
    assert submits(dashscope, MULTIMODAL)[0].json() == {
        "model": "qwen3-tts-flash", "input": {"text": "hello there", "voice": "Cherry"}}


def test_qwen_tts_pcm_streams_base64_chunks(gw, dashscope):
    dashscope.wan.speech_delay = 0.3  # before each event
    started = time.monotonic()
    with sdk(gw("qwen3-tts-flash")).audio.speech.with_streaming_response.create(
            model="qwen3-tts-flash", voice="Cherry", input="hello there", response_format="pcm") as resp:
        assert resp.headers["content-type"] == "audio/pcm"
        chunks = resp.iter_bytes()
        first = next(chunks)
        first_at = time.monotonic() - started
        rest = b"".join(chunks)
    assert first + rest == PCM and first_at < 0.3 * 4  # 5 events: the first did not wait for them
    sent = submits(dashscope, MULTIMODAL)[0]
    assert sent.headers["x-dashscope-sse"] == "enable"
    assert sent.json() == {"model": "qwen3-tts-flash", "input": {"text": "hello there", "voice": "Cherry"}}


def test_qwen_tts_stream_error_event(gw, dashscope):
    handle = gw("qwen3-tts-flash")
    dashscope.wan.speech_fail_after = 0
    with pytest.raises(openai.RateLimitError) as exc:
        sdk(handle).audio.speech.create(model="qwen3-tts-flash", voice="Cherry", input="hi", response_format="pcm")
    assert exc.value.body["code"] == "Throttling.RateQuota"
    dashscope.wan.speech_fail_after = 2
    r = httpx.post(handle.openai_base_url + "/audio/speech", timeout=20, json={
        "model": "qwen3-tts-flash", "voice": "Cherry", "input": "hi", "response_format": "pcm", "stream_format": "sse"})
    events = [orjson.loads(b[6:]) for b in r.content.split(b"\n\n") if b]
    assert events[-1]["type"] == "error" and events[-1]["error"]["code"] == "Throttling.RateQuota"
    assert b"".join(base64.b64decode(e["audio"]) for e in events[:-1]) == PCM[:2 * 384]


def test_openai_sdk_embeddings(gw, dashscope):
    handle = gw("text-embedding-v4")
    client = sdk(handle)
    out = client.embeddings.create(model="text-embedding-v4", input=["a", "b"], dimensions=64)
    assert [len(d.embedding) for d in out.data] == [64, 64] and out.usage.total_tokens == 2
    sent = submits(dashscope, EMBEDDINGS)[0].json()
    assert sent["encoding_format"] == "float" and sent["dimensions"] == 64  # DashScope sends floats only
    want = dashscope.wan._embeddings(sent).body["data"][1]["embedding"]
    assert out.data[1].embedding == pytest.approx(want, abs=1e-6)
    r = httpx.post(handle.url + "/v1/embeddings", json={"model": "text-embedding-v4", "input": "a",
                                                        "encoding_format": "base64"})
    raw = base64.b64decode(r.json()["data"][0]["embedding"])
    floats = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert floats == pytest.approx(dashscope.wan._embeddings({"model": "text-embedding-v4", "input": "a"})
                                   .body["data"][0]["embedding"], abs=1e-6)
    with pytest.raises(openai.BadRequestError) as err:
        client.embeddings.create(model="text-embedding-v4", input=[str(i) for i in range(11)])
    assert err.value.body["code"] == "too_many_inputs"
    assert len(submits(dashscope, EMBEDDINGS)) == 2  # the oversized batch was never sent


# ------------------------------------------------------------------ model families


@pytest.mark.parametrize(("model", "media_list"), [
    ("wan2.7-i2v", True), ("wan2.7-r2v", True), ("wan3.0-video", True), ("wan2.6-t2v", False),
    ("wan2.5-i2v-preview", False), ("wanx2.1-t2v-turbo", False), ("wan2.2-kf2v-flash", False)])
def test_request_protocol_by_model(model, media_list):
    assert media_list_protocol(model) is media_list


@pytest.mark.parametrize(("model", "family"), [
    ("qwen-image-plus", "multimodal"), ("qwen-image-edit", "multimodal"), ("wan2.7-image-pro", "multimodal"),
    ("wan2.2-t2i-flash", "t2i"), ("wanx2.1-t2i-turbo", "t2i"), ("wanx-v1", "t2i"),
    ("wanx2.1-imageedit", "i2i"), ("wan2.5-i2i-preview", "i2i")])
def test_image_family_by_model(model, family):
    assert image_family(model) == family


def test_image_edit_task_takes_the_image(gw, dashscope):
    handle = gw("wanx2.1-imageedit")
    r = httpx.post(handle.url + "/v1/images/edits", json={
        "model": "wanx2.1-imageedit", "prompt": "make it snow", "image": "https://x/base.png"})
    assert r.status_code == 200, r.text
    assert httpx.get(r.json()["data"][0]["url"]).content == PNG
    assert submits(dashscope, IMAGE2IMAGE)[0].json()["input"] == {
        "prompt": "make it snow", "base_image_url": "https://x/base.png", "function": "description_edit"}
