"""Seed 003's Qwen media examples (7.1.2 images, 7.1.3 video, 7.1.4 speech, 7.6 task queries),
replayed through the gateway in the seed's own form; each ends in the documented result."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from ds_fixtures import dashscope_fixture  # noqa: F401  (fixture)

from relayport.testing.openai_media import MP4, PNG
from relayport.testing.servers import GatewayHandle
from relayport_dashscope.testing_media import MULTIMODAL, TEXT2IMAGE, VIDEO, WAV

# 7.1.3: the three video requests, and the submit answer the seed documents.
I2V = {"model": "wan2.7-i2v",
       "messages": [{"role": "user", "content": "一个由喷漆画成的少年从墙上活过来,边 rap 边摆姿势。"}],
       "images": ["https://example.com/frame.png"], "voices": ["https://example.com/rap.mp3"],
       "media_roles": {"images": ["first_frame"], "voices": ["driving_audio"]},
       "duration": 10, "resolution": "720P"}
R2V = {"model": "wan2.7-r2v",
       "messages": [{"role": "user", "content": "保持人物造型不变,生成一段轻微转身并微笑的视频。"}],
       "images": ["https://example.com/reference-character.png"],
       "videos": ["https://example.com/reference-motion.mp4"],
       "voices": ["https://example.com/reference-voice.mp3"], "duration": 5, "resolution": "720P"}
T2V = {"model": "wan2.7-t2v", "messages": [{"role": "user", "content": "一只橘猫坐在窗边,雨滴缓慢滑落玻璃。"}],
       "voices": ["https://example.com/background-music.mp3"], "duration": 5, "resolution": "720P"}
SENT = {
    "wan2.7-i2v": {"prompt": I2V["messages"][0]["content"],
                   "media": [{"type": "first_frame", "url": "https://example.com/frame.png"},
                             {"type": "driving_audio", "url": "https://example.com/rap.mp3"}]},
    "wan2.7-r2v": {"prompt": R2V["messages"][0]["content"],
                   "media": [{"type": "reference_image", "url": "https://example.com/reference-character.png",
                              "reference_voice": "https://example.com/reference-voice.mp3"},
                             {"type": "reference_video", "url": "https://example.com/reference-motion.mp4"}]},
    "wan2.7-t2v": {"prompt": T2V["messages"][0]["content"], "audio_url": "https://example.com/background-music.mp3"},
}
IMAGE = {"model": "qwen-image-2.0-pro", "messages": [{"role": "user", "content": "生成一张俯瞰雪山湖泊的超写实照片。"}],
         "images": ["https://example.com/input.webp"], "size": "1664*928", "n": 1, "watermark": False}
SPEECH = {"model": "qwen3-tts-flash", "messages": [{"role": "user", "content": "你好,欢迎使用统一体验端口。"}],
          "voice": "Cherry", "language_type": "Chinese", "stream": False}


@pytest.fixture
def gw(relayport_gateway: Callable[..., GatewayHandle], dashscope) -> GatewayHandle:
    models = ["wan2.7-i2v", "wan2.7-r2v", "wan2.7-t2v", "qwen-image-2.0-pro", "wan2.7-image-pro",
              "wan2.2-t2i-flash", "qwen3-tts-flash"]
    entries = [{"name": m, "provider": "dashscope", "model": m, "base_url": dashscope.url,
                "api_key": dashscope.api_key} for m in models]
    return relayport_gateway({"models": entries, "tasks": {"poll_intervals": {"dashscope": 0.05}, "jitter": 0.0}},
                             env={})


def query(gw: GatewayHandle, kind: str, task_id: str) -> dict[str, Any]:
    deadline = time.time() + 10
    while (task := httpx.get(f"{gw.url}/v1/{kind}/generations/{task_id}").json())["status"] != "succeeded":
        assert time.time() < deadline and task["status"] in ("queued", "running"), task
        time.sleep(0.05)
    return httpx.get(f"{gw.url}/v1/{kind}/generations/{task_id}", params={"format": "native"}).json()


@pytest.mark.parametrize("body", [I2V, R2V, T2V], ids=lambda b: b["model"])
def test_seed_video_examples(gw, dashscope, body):
    r = httpx.post(gw.url + "/v1/videos/generations", json=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    # the documented submit answer: output.{task_id, task_status}, request_id, and task_id on top
    assert answer["output"]["task_status"] == "PENDING" and answer["request_id"]
    assert answer["task_id"].startswith("task_")  # the gateway's id, which the seed says to query with
    sent = [q for q in dashscope.requests if q.path == VIDEO][-1].json()
    assert sent == {"model": body["model"], "input": SENT[body["model"]],
                    "parameters": {"duration": body["duration"], "resolution": "720P"}}
    # 7.6: the video task query answers the vendor's own structure
    native = query(gw, "videos", answer["task_id"])
    assert native["output"]["task_id"] == answer["output"]["task_id"]
    assert native["output"]["task_status"] == "SUCCEEDED" and native["request_id"]
    assert httpx.get(native["output"]["video_url"]).content == MP4
    assert httpx.get(f"{gw.url}/v1/videos/generations/{answer['task_id']}/content").content == MP4


@pytest.mark.parametrize("model", ["qwen-image-2.0-pro", "wan2.7-image-pro"])
def test_seed_image_example(gw, dashscope, model):
    r = httpx.post(gw.url + "/v1/images/generations", json={**IMAGE, "model": model})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["output"]["choices"][0]["finish_reason"] == "stop"
    url = out["output"]["choices"][0]["message"]["content"][0]["image"]
    assert httpx.get(url).content == PNG
    assert out["usage"]["image_count"] == 1 and out["request_id"]
    assert [q for q in dashscope.requests if q.path == MULTIMODAL][-1].json() == {
        "model": model,
        "input": {"messages": [{"role": "user", "content": [{"image": "https://example.com/input.webp"},
                                                            {"text": IMAGE["messages"][0]["content"]}]}]},
        "parameters": {"watermark": False, "size": "1664*928", "n": 1}}


def test_seed_image_task_query(gw, dashscope):
    """7.6's image query shape comes from a Wan text-to-image task (asked with `async: true`)."""
    prompt = "一片宁静的竹林,清晨薄雾,写实风格。"
    r = httpx.post(gw.url + "/v1/images/generations", json={
        "model": "wan2.2-t2i-flash", "messages": [{"role": "user", "content": prompt}], "async": True})
    assert r.status_code == 200, r.text
    assert [q for q in dashscope.requests if q.path == TEXT2IMAGE][-1].headers["x-dashscope-async"] == "enable"
    native = query(gw, "images", r.json()["task_id"])
    assert native["output"]["task_status"] == "SUCCEEDED" and native["request_id"]
    assert native["output"]["results"][0]["orig_prompt"] == prompt
    assert httpx.get(native["output"]["results"][0]["url"]).content == PNG
    # without `async`, a seed-form call waits and gets that same structure back at once
    r = httpx.post(gw.url + "/v1/images/generations", json={
        "model": "wan2.2-t2i-flash", "messages": [{"role": "user", "content": prompt}]})
    assert r.json()["output"]["task_status"] == "SUCCEEDED" and r.json()["output"]["results"][0]["url"]


def test_seed_speech_example(gw, dashscope):
    r = httpx.post(gw.url + "/v1/audio/speech", json=SPEECH)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["status_code"] == 200 and out["request_id"]
    assert out["output"]["finish_reason"] == "stop"
    assert httpx.get(out["output"]["audio"]["url"]).content == WAV
    assert out["usage"] == {"characters": len(SPEECH["messages"][0]["content"])}
    assert [q for q in dashscope.requests if q.path == MULTIMODAL][-1].json() == {
        "model": "qwen3-tts-flash",
        "input": {"text": SPEECH["messages"][0]["content"], "voice": "Cherry", "language_type": "Chinese"}}
