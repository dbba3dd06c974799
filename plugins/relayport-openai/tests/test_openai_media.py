"""OpenAI's media through the gateway, driven with the official `openai` SDK unchanged."""

from __future__ import annotations

import base64
import struct
import time

import httpx
import openai
import orjson
import pytest

from relayport.testing.openai_media import MP4, PNG, vector

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


@pytest.fixture
def gw(relayport_gateway, fake_openai):
    def entry(name, model):
        return {"name": name, "provider": "openai", "model": model, "base_url": fake_openai.base_url,
                "api_key": fake_openai.api_key}

    return relayport_gateway({
        "auth": {"keys": ["gw-key"]},
        "models": [entry("dall-e-3", "dall-e-3"), entry("gpt-image-1", "gpt-image-1"), entry("sora", "sora-2"),
                   entry("tts", "gpt-4o-mini-tts"), entry("embed", "text-embedding-3-small")],
        "tasks": {"poll_interval": 0.05, "jitter": 0.0},
    }, env={})


@pytest.fixture
def client(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key="gw-key", max_retries=0, timeout=20)


def test_images_generate_dalle_url(client, fake_openai):
    result = client.images.generate(model="dall-e-3", prompt="a lighthouse", size="1024x1024")
    assert result.data[0].url == f"{fake_openai.url}/files/img-0.png?se=signed"  # sync vendor: its own URL
    assert result.data[0].revised_prompt == "A detailed rendering of a lighthouse"
    sent = fake_openai.last.json()
    assert sent == {"model": "dall-e-3", "prompt": "a lighthouse", "size": "1024x1024"}
    assert fake_openai.last.headers["authorization"] == f"Bearer {fake_openai.api_key}"


def test_images_generate_gpt_image_b64_and_usage(client):
    result = client.images.generate(model="gpt-image-1", prompt="a fox", n=2)
    assert [base64.b64decode(d.b64_json) for d in result.data] == [PNG, PNG]
    assert result.usage is not None and result.usage.output_tokens == 8320


def test_images_vendor_error_keeps_status_and_envelope(client):
    with pytest.raises(openai.BadRequestError) as exc:
        client.images.generate(model="dall-e-3", prompt="two", n=2)
    assert exc.value.status_code == 400 and "n=1" in exc.value.message


def test_images_edit_multipart(client, fake_openai):
    result = client.images.edit(model="gpt-image-1", image=("in.png", PNG, "image/png"), prompt="add a hat")
    assert base64.b64decode(result.data[0].b64_json) == PNG
    sent = fake_openai.last
    assert sent.path == "/v1/images/edits" and sent.headers["content-type"].startswith("multipart/form-data")
    assert PNG in sent.body and b'name="prompt"\r\n\r\nadd a hat' in sent.body
    assert b'name="model"\r\n\r\ngpt-image-1' in sent.body


def test_images_edit_json_with_data_url(gw, fake_openai):
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    r = httpx.post(gw.openai_base_url + "/images/edits", headers=gw.headers(),
                   json={"model": "gpt-image-1", "prompt": "add a hat", "images": [data_url]})
    assert r.status_code == 200, r.text
    assert base64.b64decode(r.json()["data"][0]["b64_json"]) == PNG
    r = httpx.post(gw.openai_base_url + "/images/edits", headers=gw.headers(),
                   json={"model": "gpt-image-1", "prompt": "add a hat", "images": ["https://example.com/x.png"]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "image"


def test_speech_returns_audio_bytes(client, fake_openai):
    from relayport.testing.openai_media import AUDIO

    with client.audio.speech.with_streaming_response.create(model="tts", voice="alloy", input="hello there",
                                                            response_format="wav") as resp:
        assert resp.headers["content-type"] == "audio/wav"
        audio = resp.read()
    assert audio == AUDIO["wav"][0]
    assert fake_openai.last.json() == {"model": "gpt-4o-mini-tts", "input": "hello there", "voice": "alloy",
                                       "response_format": "wav"}
    mp3 = client.audio.speech.create(model="tts", voice="nova", input="hi")
    assert mp3.content == AUDIO["mp3"][0] and mp3.response.headers["content-type"] == "audio/mpeg"


def test_speech_bad_input(client):
    with pytest.raises(openai.BadRequestError) as exc:
        client.audio.speech.create(model="tts", voice="alloy", input="")
    assert exc.value.body["param"] == "input"


@pytest.mark.parametrize("fmt", ["float", "base64"])
def test_embeddings(client, fake_openai, fmt):
    result = client.embeddings.create(model="embed", input=["one text", "another"], dimensions=4,
                                      encoding_format=fmt)
    vectors = [d.embedding for d in result.data]
    if fmt == "base64":  # the SDK hands base64 back undecoded when asked for it explicitly
        vectors = [list(struct.unpack("<4f", base64.b64decode(v))) for v in vectors]  # type: ignore[arg-type]
    expected = [vector("one text", 4), vector("another", 4)]
    assert [[round(x, 4) for x in v] for v in vectors] == expected
    assert result.usage.prompt_tokens == 3 and result.model == "embed"
    assert fake_openai.last.json()["model"] == "text-embedding-3-small"


def test_embeddings_sdk_default(client):
    """The SDK asks for base64 by default and decodes it: the floats arrive intact."""
    result = client.embeddings.create(model="embed", input="one text")
    assert [round(x, 4) for x in result.data[0].embedding] == vector("one text", 8)


def test_sora_video_create_retrieve_download(client, fake_openai, gw):
    video = client.videos.create(model="sora", prompt="a paper boat", seconds="8", size="1280x720")
    assert video.status == "queued" and video.id.startswith("task_") and video.seconds == "8"
    sent = next(r for r in fake_openai.requests if r.path == "/v1/videos").json()
    assert sent == {"model": "sora-2", "prompt": "a paper boat", "seconds": "8", "size": "1280x720"}
    deadline = time.time() + 10
    while (video := client.videos.retrieve(video.id)).status != "completed" and time.time() < deadline:
        time.sleep(0.05)
    assert video.status == "completed" and video.progress == 100 and video.model == "sora"
    content = client.videos.download_content(video.id)
    assert content.read() == MP4
    download = next(r for r in fake_openai.requests if r.path.endswith("/content"))
    assert download.headers["authorization"] == f"Bearer {fake_openai.api_key}"  # Sora wants the key
    # the unified route serves the same task
    r = httpx.get(f"{gw.url}/v1/videos/generations/{video.id}", headers=gw.headers())
    assert r.json()["status"] == "succeeded" and r.json()["vendor"]["status"] == "completed"


def test_sora_input_reference_goes_as_a_file(client, fake_openai):
    client.videos.create(model="sora", prompt="animate this", input_reference=("f.png", PNG, "image/png"))
    sent = next(r for r in fake_openai.requests if r.path == "/v1/videos")
    assert sent.headers["content-type"].startswith("multipart/form-data") and PNG in sent.body


def test_sora_failure_reaches_the_client(client, fake_openai):
    assert fake_openai.media is not None
    fake_openai.media.video_steps = ("queued", "failed")
    video = client.videos.create(model="sora", prompt="blocked", seconds="4")
    deadline = time.time() + 10
    while (video := client.videos.retrieve(video.id)).status != "failed" and time.time() < deadline:
        time.sleep(0.05)
    assert video.status == "failed" and video.error is not None and video.error.code == "moderation_blocked"
    with pytest.raises(openai.NotFoundError):
        client.videos.download_content(video.id)


def test_sora_bad_seconds_is_the_vendors_400(client):
    with pytest.raises(openai.BadRequestError) as exc:
        client.videos.create(model="sora", prompt="x", seconds="5")  # type: ignore[arg-type]
    assert exc.value.body["param"] == "seconds"


def test_images_async_flag_gives_a_task(gw):
    r = httpx.post(gw.openai_base_url + "/images/generations", headers=gw.headers(),
                   json={"model": "dall-e-3", "prompt": "x", "async": True})
    assert r.status_code == 200
    task = r.json()
    assert task["status"] == "succeeded" and task["object"] == "image.task"
    got = httpx.get(f"{gw.openai_base_url}/images/generations/{task['id']}", headers=gw.headers()).json()
    assert got["result"]["outputs"][0]["vendor_url"].endswith("/files/img-0.png?se=signed")
    native = httpx.get(f"{gw.openai_base_url}/images/generations/{task['id']}?format=native",
                       headers=gw.headers()).json()
    assert orjson.dumps(native).count(b"revised_prompt") == 1
