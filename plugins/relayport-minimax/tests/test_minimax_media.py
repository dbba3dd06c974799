"""MiniMax media through the gateway: Hailuo video (query, then the file_id -> download URL step),
image-01 and t2a_v2 speech (hex audio), `base_resp` errors, and seed 003's MiniMax media examples."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest

from relayport.testing import wait_for
from relayport.testing.conformance import MediaConformance
from relayport.testing.openai_media import MP4
from relayport.testing.openapi import validate
from relayport.testing.servers import GatewayHandle
from relayport_minimax.testing import FakeMiniMax
from relayport_minimax.testing_media import JPEG, MP3, failure

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


class TestMiniMaxVideoConformance(MediaConformance):
    provider = "minimax"
    entry_point = "minimax"
    model = "MiniMax-Hailuo-2.3"
    kind = "video"
    vendor_key = "sk-fake-minimax"

    def make_fake(self) -> FakeMiniMax:
        return FakeMiniMax()


class TestMiniMaxImageConformance(TestMiniMaxVideoConformance):
    model = "image-01"
    kind = "image"


@pytest.fixture
def fake() -> Iterator[FakeMiniMax]:
    vendor = FakeMiniMax().start()
    yield vendor
    vendor.stop()


@pytest.fixture
def gw(relayport_gateway: Callable[..., GatewayHandle], fake: FakeMiniMax) -> Callable[..., GatewayHandle]:
    def start(*models: str, base_url: str | None = None, **tasks: Any) -> GatewayHandle:
        entries = [{"name": m, "provider": "minimax", "model": m, "base_url": base_url or fake.base_url,
                    "api_key": fake.api_key} for m in models]
        return relayport_gateway({"models": entries, "tasks": {"poll_intervals": {"minimax": 0.05},
                                                                "jitter": 0.0, **tasks}}, env={})

    return start


def sdk(handle: GatewayHandle) -> openai.OpenAI:
    return openai.OpenAI(base_url=handle.openai_base_url, api_key="unused", max_retries=0)


def task_of(handle: GatewayHandle, task_id: str, **params: str) -> dict[str, Any]:
    return httpx.get(f"{handle.url}/v1/videos/generations/{task_id}", params=params).json()


def finished(handle: GatewayHandle, task_id: str) -> dict[str, Any]:
    return wait_for(lambda: (t := task_of(handle, task_id))["status"] in ("succeeded", "failed", "cancelled") and t)


def sent(fake: FakeMiniMax, path: str) -> list[Any]:
    return [r for r in fake.requests if r.path == path]


# ------------------------------------------------------------------ video


def test_openai_sdk_video_runs_through_query_and_file_retrieve(gw, fake):
    handle = gw("MiniMax-Hailuo-2.3")
    client = sdk(handle)
    video = client.videos.create(model="MiniMax-Hailuo-2.3", prompt="a lighthouse at dusk", seconds="8")
    assert sent(fake, "/v1/video_generation")[0].json() == {
        "model": "MiniMax-Hailuo-2.3", "prompt": "a lighthouse at dusk", "duration": 6}
    deadline = time.time() + 10
    while (video := client.videos.retrieve(video.id)).status != "completed":
        assert time.time() < deadline and video.status in ("queued", "in_progress"), video
        time.sleep(0.05)
    assert client.videos.download_content(video.id).read() == MP4
    queries = sent(fake, "/v1/query/video_generation")
    assert {q.query["task_id"] for q in queries} == {"100000000001"}
    assert [q.query["file_id"] for q in sent(fake, "/v1/files/retrieve")] == ["700000000007"]
    assert all(q.headers["authorization"] == f"Bearer {fake.api_key}" for q in queries)
    # `?format=native`: MiniMax's query answer with the retrieved file joined
    native = task_of(handle, video.id, format="native")
    assert native["status"] == "Success" and native["file_id"] == "700000000007"
    assert native["file"]["filename"] == "output_aigc.mp4" and native["file"]["download_url"]


def test_seed_video_example(gw, fake):
    body = {"model": "MiniMax-Hailuo-2.3",
            "messages": [{"role": "user", "content": "镜头从海边栈桥缓慢推进到日落中的灯塔。"}],
            "images": ["https://example.com/first-frame.png", "https://example.com/last-frame.png"],
            "duration": 6, "resolution": "1080P"}
    r = httpx.post(gw("MiniMax-Hailuo-2.3").url + "/v1/videos/generations", json=body)
    assert r.status_code == 200, r.text
    assert r.json()["task_id"].startswith("task_")  # the documented `{"task_id": ...}`, the gateway's own
    assert sent(fake, "/v1/video_generation")[0].json() == {
        "model": "MiniMax-Hailuo-2.3", "prompt": body["messages"][0]["content"], "duration": 6,
        "resolution": "1080P", "first_frame_image": "https://example.com/first-frame.png",
        "last_frame_image": "https://example.com/last-frame.png"}


def test_download_url_expiry_does_not_lose_the_video(gw, fake, tmp_path):
    handle = gw("MiniMax-Hailuo-2.3", results_path=str(tmp_path))
    task = httpx.post(handle.url + "/v1/videos/generations", json={"model": "MiniMax-Hailuo-2.3",
                                                                   "prompt": "x"}).json()
    done = finished(handle, task["task_id"])
    wait_for(lambda: (tmp_path / f"{task['task_id']}.0").is_file())  # copied without anyone asking
    fake.media.files = dict.fromkeys(fake.media.files, 0.0)  # every download URL expires now
    assert httpx.get(done["result"]["outputs"][0]["vendor_url"]).status_code == 403
    assert httpx.get(done["result"]["outputs"][0]["url"]).content == MP4


def test_the_download_step_survives_a_restart(relayport_gateway, fake, tmp_path):
    """Stopped between `Success` and the file retrieve, a gateway started again on the same state
    file asks for the file (not the task again) and serves the video."""
    fake.media.retrieve_limit = 10**6  # MiniMax refuses the retrieve for now
    config = {"server": {"state_path": str(tmp_path / "state.db")},
              "models": [{"name": "hailuo", "provider": "minimax", "model": "MiniMax-Hailuo-2.3",
                          "base_url": fake.base_url, "api_key": fake.api_key}],
              "tasks": {"poll_intervals": {"minimax": 0.05}, "jitter": 0.0, "max_backoff": 0.1}}
    first = relayport_gateway(config, env={})
    task = httpx.post(first.url + "/v1/videos/generations", json={"model": "hailuo", "prompt": "x"}).json()
    wait_for(lambda: len(sent(fake, "/v1/files/retrieve")) >= 2)
    first.stop()
    queries = len(sent(fake, "/v1/query/video_generation"))
    fake.media.retrieve_limit = 0
    second = relayport_gateway(config, env={})
    done = wait_for(lambda: (t := task_of(second, task["task_id"]))["status"] == "succeeded" and t)
    assert len(sent(fake, "/v1/query/video_generation")) == queries  # the file_id was remembered
    assert httpx.get(done["result"]["outputs"][0]["url"]).content == MP4


def test_failed_video_is_a_content_filter(gw, fake):
    fake.media.steps = ("Preparing", "Processing", "Fail")
    handle = gw("MiniMax-Hailuo-2.3")
    task = httpx.post(handle.url + "/v1/videos/generations", json={"model": "MiniMax-Hailuo-2.3",
                                                                   "prompt": "x"}).json()
    done = finished(handle, task["task_id"])
    assert done["status"] == "failed"
    assert done["error"]["code"] == "content_filter" and "(1027)" in done["error"]["message"]


def test_rate_limited_queries_are_retried(gw, fake):
    fake.media.limit_next = 2
    handle = gw("MiniMax-Hailuo-2.3")
    task = httpx.post(handle.url + "/v1/videos/generations", json={"model": "MiniMax-Hailuo-2.3",
                                                                   "prompt": "x"}).json()
    assert finished(handle, task["task_id"])["status"] == "succeeded"
    assert fake.media.limit_next == 0


def test_base_resp_errors_under_http_200(gw, fake):
    handle = gw("MiniMax-Hailuo-2.3")
    r = httpx.post(handle.url + "/v1/videos/generations", json={"model": "MiniMax-Hailuo-2.3", "prompt": "x",
                                                                "duration": 10, "resolution": "1080P"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_request"
    assert "1080P supports 6 s only (2013)" in r.json()["error"]["message"]
    bad = gw("MiniMax-Hailuo-02", base_url=fake.base_url)
    fake.api_key = "sk-other"
    r = httpx.post(bad.url + "/v1/videos/generations", json={"model": "MiniMax-Hailuo-02", "prompt": "x"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"


def test_cancel_is_refused_clearly(gw, fake):
    fake.media.steps = ("Queueing",)
    handle = gw("MiniMax-Hailuo-2.3")
    task = httpx.post(handle.url + "/v1/videos/generations", json={"model": "MiniMax-Hailuo-2.3",
                                                                   "prompt": "x"}).json()
    r = httpx.delete(f"{handle.url}/v1/videos/generations/{task['task_id']}")
    assert r.status_code == 501 and "cannot cancel" in r.json()["error"]["message"]


# ------------------------------------------------------------------ images


def test_openai_sdk_image_01(gw, fake):
    handle = gw("image-01")
    client = sdk(handle)
    out = client.images.generate(model="image-01", prompt="a cyberpunk city", size="1024x1024", n=2)
    assert len(out.data) == 2 and httpx.get(out.data[0].url).content == JPEG
    assert sent(fake, "/v1/image_generation")[0].json() == {
        "model": "image-01", "prompt": "a cyberpunk city", "n": 2, "width": 1024, "height": 1024,
        "response_format": "url"}
    out = client.images.generate(model="image-01", prompt="x", response_format="b64_json")
    assert base64.b64decode(out.data[0].b64_json) == JPEG
    assert sent(fake, "/v1/image_generation")[1].json()["response_format"] == "base64"


def test_seed_image_example(gw, fake):
    body = {"model": "image-01", "messages": [{"role": "user", "content": "生成一张赛博朋克风格的城市夜景海报。"}],
            "images": ["https://example.com/subject.png"], "n": 1, "size": "1024x1024"}
    handle = gw("image-01")
    r = httpx.post(handle.url + "/v1/images/generations", json=body)
    assert r.status_code == 200, r.text
    urls = r.json()["data"]["image_url"]  # the seed's field
    assert len(urls) == 1 and httpx.get(urls[0]).content == JPEG
    assert sent(fake, "/v1/image_generation")[0].json()["subject_reference"] == [
        {"type": "character", "image_file": "https://example.com/subject.png"}]
    r = httpx.post(handle.url + "/v1/images/generations", json={**body, "response_format": "base64"})
    assert base64.b64decode(r.json()["data"]["image_base64"][0]) == JPEG


# ------------------------------------------------------------------ speech


def test_openai_sdk_speech_decodes_hex(gw, fake):
    handle = gw("speech-2.8-hd")
    r = sdk(handle).audio.speech.with_raw_response.create(model="speech-2.8-hd", voice="alloy", input="hello",
                                                          speed=3.0)
    assert r.content == MP3 and r.headers["content-type"] == "audio/mpeg"
    assert r.headers["x-relayport-adjustments"] == "voice alloy is not a MiniMax voice: male-qn-qingse used"
    assert sent(fake, "/v1/t2a_v2")[0].json() == {
        "model": "speech-2.8-hd", "text": "hello", "stream": True, "output_format": "hex",
        "voice_setting": {"voice_id": "male-qn-qingse", "speed": 2.0}, "audio_setting": {"format": "mp3"}}


def test_speech_streams_hex_chunks_as_they_arrive(gw, fake):
    fake.media.speech_delay = 0.3  # before each event
    started = time.monotonic()
    with sdk(gw("speech-2.8-hd")).audio.speech.with_streaming_response.create(
            model="speech-2.8-hd", voice="female-shaonv", input="hello", response_format="pcm") as resp:
        assert resp.headers["content-type"] == "audio/pcm"
        chunks = resp.iter_bytes()
        first = next(chunks)
        first_at = time.monotonic() - started
        rest = b"".join(chunks)
    # The closing event repeats the whole audio: it is not sent twice.
    assert first + rest == bytes(range(128))
    assert first_at < 0.3 * 4  # the first chunk did not wait for the whole answer (5 events)


def test_speech_sse_carries_minimax_usage(gw, fake):
    r = httpx.post(gw("speech-2.8-hd").openai_base_url + "/audio/speech", timeout=20,
                   json={"model": "speech-2.8-hd", "voice": "female-shaonv", "input": "hello", "stream_format": "sse"})
    events = [orjson.loads(b[6:]) for b in r.content.split(b"\n\n") if b]
    for ev in events:
        validate("CreateSpeechResponseStreamEvent", ev)
    assert b"".join(base64.b64decode(e["audio"]) for e in events[:-1]) == MP3
    assert events[-1]["type"] == "speech.audio.done"


def test_speech_wav_is_answered_whole(gw, fake):
    r = sdk(gw("speech-2.8-hd")).audio.speech.create(model="speech-2.8-hd", voice="female-shaonv", input="hi",
                                                      response_format="wav")
    assert r.content == b"RIFF" + bytes(range(64)) and r.response.headers["content-type"] == "audio/wav"
    assert sent(fake, "/v1/t2a_v2")[0].json()["stream"] is False


def test_speech_base_resp_error_before_audio_is_an_error_answer(gw, fake):
    handle = gw("speech-2.8-hd")
    fake.push(failure(1004, "login fail: Please carry the API secret key"))  # a JSON body, HTTP 200
    with pytest.raises(openai.AuthenticationError) as auth:
        sdk(handle).audio.speech.create(model="speech-2.8-hd", voice="female-shaonv", input="hi")
    assert auth.value.body["code"] == "invalid_api_key" and "(1004)" in auth.value.message
    fake.media.speech_fail_after = 0  # the stream's first event is the error
    with pytest.raises(openai.InternalServerError) as exc:
        sdk(handle).audio.speech.create(model="speech-2.8-hd", voice="female-shaonv", input="hi")
    assert "(1000)" in exc.value.message


def test_speech_base_resp_error_mid_stream(gw, fake):
    fake.media.speech_fail_after = 2
    r = httpx.post(gw("speech-2.8-hd").openai_base_url + "/audio/speech", timeout=20,
                   json={"model": "speech-2.8-hd", "voice": "female-shaonv", "input": "hello", "stream_format": "sse"})
    events = [orjson.loads(b[6:]) for b in r.content.split(b"\n\n") if b]
    assert events[-1]["type"] == "error" and "(1000)" in events[-1]["error"]["message"]
    assert {e["type"] for e in events[:-1]} == {"speech.audio.delta"}
    with pytest.raises(Exception, match="incomplete chunked read"), sdk(gw("speech-2.8-hd")).audio.speech.\
            with_streaming_response.create(model="speech-2.8-hd", voice="female-shaonv", input="hello") as resp:
        resp.read()


def test_seed_speech_example(gw, fake):
    body = {"model": "speech-2.8-hd", "messages": [{"role": "user", "content": "欢迎使用 MiniMax 语音合成服务。"}],
            "voice_id": "Boyan_new_hd", "stream": False}
    r = httpx.post(gw("speech-2.8-hd").url + "/v1/audio/speech", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert bytes.fromhex(out["data"]["audio"]) == MP3 and out["data"]["status"] == 2
    assert out["trace_id"] and out["base_resp"] == {"status_code": 0, "status_msg": "success"}
    text = body["messages"][0]["content"]
    assert out["extra_info"]["usage_characters"] == len(text) and out["usage"] == {"characters": len(text)}
    assert sent(fake, "/v1/t2a_v2")[0].json()["voice_setting"] == {"voice_id": "Boyan_new_hd"}
    # a full voice_setting wins over voice_id
    httpx.post(gw("speech-2.8-hd").url + "/v1/audio/speech",
               json={**body, "voice_setting": {"voice_id": "female-shaonv", "emotion": "happy"},
                     "audio_setting": {"format": "wav", "sample_rate": 32000}})
    last = sent(fake, "/v1/t2a_v2")[-1].json()
    assert last["voice_setting"] == {"voice_id": "female-shaonv", "emotion": "happy"}
    assert last["audio_setting"] == {"format": "wav", "sample_rate": 32000}
