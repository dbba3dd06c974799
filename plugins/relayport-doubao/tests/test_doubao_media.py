"""Ark media through the gateway: Seedance tasks (roles, cancel, 429, failure), Seedream images,
text embeddings; the unified form, OpenAI's SDK and `?format=native`."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from relayport.testing.openai_media import vector
from relayport.testing.task_fakes import MP4, PNG, serving
from relayport.testing.waiting import wait_for
from relayport_doubao.fake_media import KEY, FakeArkMedia

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")
SEEDANCE = "doubao-seedance-1-5-pro-251215"
SEEDREAM = "doubao-seedream-4-0-250828"
EMBED = "doubao-embedding-text-240715"
VISION_EMBED = "doubao-embedding-vision-250615"


@pytest.fixture
def ark() -> Iterator[FakeArkMedia]:
    yield from serving(FakeArkMedia())


@pytest.fixture
def gw(relayport_gateway, ark):
    models = [{"name": m, "provider": "doubao", "base_url": ark.base_url, "api_key": KEY}
              for m in (SEEDANCE, SEEDREAM, EMBED, VISION_EMBED)]
    return relayport_gateway({"auth": {"keys": ["gw-key"]}, "models": models,
                              "tasks": {"poll_interval": 0.05, "jitter": 0.0}}, env={})


@pytest.fixture
def client(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key="gw-key", max_retries=0, timeout=20)


def get(gw, task_id: str, query: str = "") -> dict[str, Any]:
    return httpx.get(f"{gw.url}/v1/videos/generations/{task_id}{query}", headers=gw.headers()).json()


def test_unified_form_with_frames_to_its_content(gw, ark):
    r = httpx.post(gw.url + "/v1/videos/generations", headers=gw.headers(), json={
        "model": SEEDANCE, "messages": [{"role": "user", "content": "少年从墙上活过来"}],
        "images": ["https://example.com/first.png", "https://example.com/last.png"],
        "media_roles": {"images": ["first_frame", "last_frame"]},
        "duration": 5, "resolution": "720P", "aspect_ratio": "9:16", "watermark": False, "seed": 7,
        "camera_fixed": True})
    assert r.status_code == 200, r.text
    task = r.json()
    assert task["status"] == "queued" and task["vendor"]["id"].startswith("cgt-")
    sent = ark.requests[0]
    assert sent.path == "/api/v3/contents/generations/tasks"
    assert sent.json() == {
        "model": SEEDANCE, "watermark": False, "camera_fixed": True, "resolution": "720p", "ratio": "9:16",
        "duration": 5, "seed": 7,
        "content": [{"type": "text", "text": "少年从墙上活过来"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/first.png"}, "role": "first_frame"},
                    {"type": "image_url", "image_url": {"url": "https://example.com/last.png"}, "role": "last_frame"}]}
    done = wait_for(lambda: (t := get(gw, task["id"]))["status"] == "succeeded" and t)
    assert done["usage"]["output_tokens"] == 108900
    native = get(gw, task["id"], "?format=native")
    assert native["status"] == "succeeded" and native["content"]["video_url"].startswith(ark.url + "/files/")
    content = httpx.get(done["result"]["outputs"][0]["url"], headers=gw.headers())
    assert content.status_code == 200 and content.content == MP4


def test_references_and_audio_roles(gw, ark):
    """Seed 003's r2v shape: reference image, video and voice become Seedance's reference roles."""
    r = httpx.post(gw.url + "/v1/videos/generations", headers=gw.headers(), json={
        "model": SEEDANCE, "messages": [{"role": "user", "content": "保持人物造型不变"}],
        "images": ["https://e.com/ref.png"], "videos": ["https://e.com/motion.mp4"],
        "voices": ["https://e.com/voice.mp3"], "media_roles": {"images": ["reference"]}})
    assert r.status_code == 200, r.text
    assert ark.requests[0].json()["content"][1:] == [
        {"type": "image_url", "image_url": {"url": "https://e.com/ref.png"}, "role": "reference_image"},
        {"type": "video_url", "video_url": {"url": "https://e.com/motion.mp4"}, "role": "reference_video"},
        {"type": "audio_url", "audio_url": {"url": "https://e.com/voice.mp3"}, "role": "reference_audio"}]


def test_knobs_seedance_lacks_are_said(gw, ark):
    r = httpx.post(gw.url + "/v1/videos/generations", headers=gw.headers(), json={
        "model": SEEDANCE, "prompt": "x", "fps": 30, "negative_prompt": "blur"})
    assert r.status_code == 200, r.text
    assert r.headers["x-relayport-adjustments"] == "fps and negative_prompt dropped: Seedance has none"
    assert ark.requests[0].json() == {"model": SEEDANCE, "content": [{"type": "text", "text": "x"}]}


def test_mixed_modes_are_ark_400(gw):
    r = httpx.post(gw.url + "/v1/videos/generations", headers=gw.headers(), json={
        "model": SEEDANCE, "prompt": "x", "images": ["https://e.com/a.png", "https://e.com/b.png"],
        "media_roles": {"images": ["first_frame", "reference"]}})
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidParameter"
    assert "cannot be used together" in r.json()["error"]["message"]


def test_cancel_while_queued(gw, ark):
    ark.book.steps = ("queued",)
    task = httpx.post(gw.url + "/v1/videos/generations", headers=gw.headers(),
                      json={"model": SEEDANCE, "prompt": "x"}).json()
    r = httpx.delete(f"{gw.url}/v1/videos/generations/{task['id']}", headers=gw.headers())
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    deletes = [q.path for q in ark.requests if q.method == "DELETE"]
    assert deletes == [f"/api/v3/contents/generations/tasks/{task['vendor']['id']}"]
    assert get(gw, task["id"])["status"] == "cancelled"
    again = httpx.delete(f"{gw.url}/v1/videos/generations/{task['id']}", headers=gw.headers())
    assert again.status_code == 409


def test_cancel_of_a_running_task_is_refused_and_it_runs_on(gw, ark):
    ark.book.steps = ("running",)
    task = httpx.post(gw.url + "/v1/videos/generations", headers=gw.headers(),
                      json={"model": SEEDANCE, "prompt": "x"}).json()
    wait_for(lambda: get(gw, task["id"])["status"] == "running")
    r = httpx.delete(f"{gw.url}/v1/videos/generations/{task['id']}", headers=gw.headers())
    assert r.status_code == 400 and "only queued" in r.json()["error"]["message"]
    assert get(gw, task["id"])["status"] == "running"


def test_failed_task_keeps_arks_code(gw, ark):
    ark.book.steps = ("queued", "failed")
    task = httpx.post(gw.url + "/v1/videos/generations", headers=gw.headers(),
                      json={"model": SEEDANCE, "prompt": "x"}).json()
    done = wait_for(lambda: (t := get(gw, task["id"]))["status"] == "failed" and t)
    assert done["error"]["code"] == "OutputVideoSensitiveContentDetected"


def test_rate_limited_polls_are_retried(gw, ark):
    ark.book.limit_next = 2
    task = httpx.post(gw.url + "/v1/videos/generations", headers=gw.headers(),
                      json={"model": SEEDANCE, "prompt": "x"}).json()
    wait_for(lambda: get(gw, task["id"])["status"] == "succeeded")
    assert ark.book.limit_next == 0


def test_openai_sdk_videos_size_becomes_ratio_and_resolution(client, ark):
    video = client.videos.create(model=SEEDANCE, prompt="waves", seconds="8", size="1280x720")
    assert video.status == "queued"
    sent = ark.requests[0].json()
    assert (sent["ratio"], sent["resolution"], sent["duration"]) == ("16:9", "720p", 8)
    video = wait_for(lambda: (v := client.videos.retrieve(video.id)).status == "completed" and v)
    assert client.videos.download_content(video.id).read() == MP4


def test_seedream_with_the_openai_sdk(client, ark):
    result = client.images.generate(model=SEEDREAM, prompt="a red fox", size="2048x2048")
    assert result.data[0].url.startswith(ark.url + "/files/")
    assert ark.last.json() == {"model": SEEDREAM, "prompt": "a red fox", "size": "2048x2048"}
    group = client.images.generate(model=SEEDREAM, prompt="four seasons", n=4, response_format="b64_json")
    assert [base64.b64decode(d.b64_json) for d in group.data] == [PNG] * 4
    assert ark.last.json()["sequential_image_generation_options"] == {"max_images": 4}
    assert group.usage is not None and group.usage.output_tokens == 4 * 16384


def test_seedream_edit_with_the_openai_sdk(client, ark):
    result = client.images.edit(model=SEEDREAM, image=("in.png", PNG, "image/png"), prompt="make it winter")
    assert result.data[0].url.startswith(ark.url + "/files/")
    sent = ark.last.json()
    assert sent == {"model": SEEDREAM, "prompt": "make it winter",
                    "image": "data:image/png;base64," + base64.b64encode(PNG).decode()}


def test_seedream_seed_form_answers_natively(gw, ark):
    r = httpx.post(gw.url + "/v1/images/generations", headers=gw.headers(), json={
        "model": SEEDREAM, "messages": [{"role": "user", "content": "一片宁静的竹林"}],
        "images": ["https://e.com/style.png"], "size": "1664*928", "watermark": False})
    assert r.status_code == 200, r.text
    assert ark.last.json() == {"model": SEEDREAM, "prompt": "一片宁静的竹林", "image": "https://e.com/style.png",
                               "size": "1664x928", "watermark": False}
    answer = r.json()
    assert answer["usage"]["generated_images"] == 1 and answer["data"][0]["size"] == "1664x928"


def test_seedream_bad_size_is_arks_400(client):
    with pytest.raises(openai.BadRequestError) as exc:
        client.images.generate(model=SEEDREAM, prompt="x", size="256x256")
    assert exc.value.code == "InvalidParameter" and exc.value.param == "size"


def test_embeddings_both_encodings(client, ark):
    result = client.embeddings.create(model=EMBED, input=["hello world", "天空"])
    assert ark.last.json()["encoding_format"] == "base64"  # a quarter of the bytes; the gateway converts
    for got, text in zip(result.data, ("hello world", "天空"), strict=True):
        assert got.embedding == pytest.approx(vector(text, 2560), abs=1e-6)
    floats = client.embeddings.create(model=EMBED, input="x", encoding_format="float")
    assert floats.data[0].embedding == pytest.approx(vector("x", 2560), abs=1e-6)
    assert floats.usage.prompt_tokens == 2


def test_vision_embeddings_one_vector_per_call(client, gw, ark):
    one = client.embeddings.create(model=VISION_EMBED, input="天空", dimensions=1024)
    assert ark.last.path == "/api/v3/embeddings/multimodal"
    assert ark.last.json() == {"model": VISION_EMBED, "input": [{"type": "text", "text": "天空"}],
                               "encoding_format": "float", "dimensions": 1024}
    assert one.data[0].embedding == pytest.approx(vector("天空", 1024), abs=1e-6)
    items = [{"type": "text", "text": "a cat"}, {"type": "image_url", "image_url": {"url": "https://e.com/c.png"}}]
    r = httpx.post(gw.openai_base_url + "/embeddings", headers=gw.headers(),
                   json={"model": VISION_EMBED, "input": items})
    assert r.status_code == 200, r.text
    assert ark.last.json()["input"] == items and r.json()["usage"]["prompt_tokens"] == 1010
    assert r.json()["data"][0]["embedding"] == pytest.approx(vector("a cat|https://e.com/c.png", 2048), abs=1e-6)
    with pytest.raises(openai.BadRequestError) as exc:
        client.embeddings.create(model=VISION_EMBED, input=["a", "b"])
    assert exc.value.param == "input" and "one vector per call" in exc.value.message
