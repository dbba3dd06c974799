"""Google media through the gateway: Veo operations (result bytes fetched with the key into the
result store), Imagen and Gemini image output behind /v1/images, embeddings behind /v1/embeddings."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from relayport.testing.openai_media import vector
from relayport.testing.task_fakes import MP4, PNG, serving
from relayport.testing.waiting import wait_for
from relayport_gemini.fake_media import KEY, FakeGeminiMedia

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")
VEO = "veo-3.1-generate-preview"
IMAGEN = "imagen-4.0-generate-001"
FLASH_IMAGE = "gemini-2.5-flash-image"
EMBED = "gemini-embedding-001"
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


@pytest.fixture
def google() -> Iterator[FakeGeminiMedia]:
    yield from serving(FakeGeminiMedia())


@pytest.fixture
def gw(relayport_gateway, google):
    models = [{"name": m, "provider": "gemini", "base_url": google.url, "api_key": KEY}
              for m in (VEO, IMAGEN, FLASH_IMAGE, EMBED)]
    return relayport_gateway({"auth": {"keys": ["gw-key"]}, "models": models,
                              "tasks": {"poll_interval": 0.05, "jitter": 0.0}}, env={})


@pytest.fixture
def client(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key="gw-key", max_retries=0, timeout=20)


def final(gw, task_id: str) -> dict[str, Any]:
    return wait_for(lambda: (t := httpx.get(f"{gw.url}/v1/videos/generations/{task_id}", headers=gw.headers())
                             .json())["status"] in ("succeeded", "failed") and t)


def test_veo_with_the_openai_sdk(client, google):
    video = client.videos.create(model=VEO, prompt="a hummingbird in slow motion", seconds="8", size="1280x720")
    assert video.status == "in_progress"
    submit = google.requests[0]
    assert submit.path == f"/v1beta/models/{VEO}:predictLongRunning" and submit.headers["x-goog-api-key"] == KEY
    assert submit.json() == {"instances": [{"prompt": "a hummingbird in slow motion"}],
                             "parameters": {"aspectRatio": "16:9", "durationSeconds": 8}}
    video = wait_for(lambda: (v := client.videos.retrieve(video.id)).status == "completed" and v)
    polls = [r for r in google.requests if "/operations/" in r.path]
    assert polls and all(r.path.startswith(f"/v1beta/models/{VEO}/operations/") for r in polls)
    assert client.videos.download_content(video.id).read() == MP4
    downloads = [r for r in google.requests if r.path.endswith(":download")]
    assert downloads and all(d.headers["x-goog-api-key"] == KEY for d in downloads)  # the URI needs the key


def test_veo_frames_as_inline_images_and_native_operation(gw, google):
    r = httpx.post(gw.url + "/v1/videos/generations", headers=gw.headers(), json={
        "model": VEO, "messages": [{"role": "user", "content": "the flower opens"}],
        "images": [PNG_URL, PNG_URL], "media_roles": {"images": ["first_frame", "last_frame"]},
        "duration": 6, "resolution": "1080P", "aspect_ratio": "9:16", "negative_prompt": "blur",
        "personGeneration": "allow_adult"})
    assert r.status_code == 200, r.text
    sent = google.requests[0].json()
    blob = {"bytesBase64Encoded": base64.b64encode(PNG).decode(), "mimeType": "image/png"}
    assert sent["instances"] == [{"prompt": "the flower opens", "image": blob, "lastFrame": blob}]
    assert sent["parameters"] == {"personGeneration": "allow_adult", "aspectRatio": "9:16", "durationSeconds": 6,
                                  "resolution": "1080p", "negativePrompt": "blur"}
    task = r.json()
    assert task["vendor"]["name"].startswith(f"models/{VEO}/operations/")
    done = final(gw, task["id"])
    assert done["status"] == "succeeded"
    native = httpx.get(f"{gw.url}/v1/videos/generations/{task['id']}?format=native", headers=gw.headers()).json()
    assert native["done"] is True
    uri = native["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"]
    assert httpx.get(uri).status_code == 400  # without the key Google refuses
    wait_for(lambda: google.files.downloads == 1)  # copied into the result store on success
    time.sleep(0.3)  # the copy's last write
    content = httpx.get(done["result"]["outputs"][0]["url"], headers=gw.headers())
    assert content.status_code == 200 and content.content == MP4
    assert google.file_downloads == 1  # served from the store, not fetched again


def test_veo_image_urls_are_downloaded_by_the_gateway(relayport_gateway, google):
    """Seed 003's form names frames by URL; Google takes only bytes, so the gateway fetches them."""
    gw = relayport_gateway({"models": [{"name": VEO, "provider": "gemini", "base_url": google.url, "api_key": KEY}],
                            "fetch": {"allow_private": True}}, env={})
    url = google.files.publish(google.url, "frame.png", PNG, "image/png")
    r = httpx.post(gw.url + "/v1/videos/generations", json={
        "model": VEO, "messages": [{"role": "user", "content": "it comes alive"}], "images": [url],
        "media_roles": {"images": ["first_frame"]}})
    assert r.status_code == 200, r.text
    submit = next(q for q in google.requests if q.path.endswith(":predictLongRunning"))
    assert submit.json()["instances"][0]["image"] == {"bytesBase64Encoded": base64.b64encode(PNG).decode(),
                                                      "mimeType": "image/png"}


def test_veo_private_image_urls_are_refused(gw, google):
    r = httpx.post(gw.url + "/v1/videos/generations", headers=gw.headers(),
                   json={"model": VEO, "prompt": "x", "images": [google.url + "/files/a.png"]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_url"
    assert not google.requests  # neither fetched nor submitted
    r = httpx.post(gw.url + "/v1/videos/generations", headers=gw.headers(),
                   json={"model": VEO, "prompt": "x", "images": ["ftp://example.com/a.png"]})
    assert r.status_code == 400 and r.json()["error"]["param"] == "images[0]"


def test_veo_vendor_validation_error(gw):
    r = httpx.post(gw.url + "/v1/videos/generations", headers=gw.headers(),
                   json={"model": VEO, "prompt": "x", "duration": 5})
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_ARGUMENT"
    assert "durationSeconds" in r.json()["error"]["message"]


@pytest.mark.parametrize(("word", "code", "text"), [("filtered", "content_filter", "safety filters"),
                                                    ("error", "INVALID_ARGUMENT", "could not be processed")])
def test_veo_failures(gw, google, word, code, text):
    google.book.steps = ("running", word)
    task = httpx.post(gw.url + "/v1/videos/generations", headers=gw.headers(), json={"model": VEO, "prompt": "x"})
    done = final(gw, task.json()["id"])
    assert done["status"] == "failed" and done["error"]["code"] == code and text in done["error"]["message"]


def test_veo_rate_limited_polls_are_retried(gw, google):
    google.book.limit_next = 2
    task = httpx.post(gw.url + "/v1/videos/generations", headers=gw.headers(), json={"model": VEO, "prompt": "x"})
    assert final(gw, task.json()["id"])["status"] == "succeeded"
    assert google.book.limit_next == 0


def test_imagen_with_the_openai_sdk(gw, client, google):
    result = client.images.generate(model=IMAGEN, prompt="a robot holding a red skateboard", n=2, size="1024x1024")
    assert [base64.b64decode(d.b64_json) for d in result.data] == [PNG, PNG]
    assert google.last.path == f"/v1beta/models/{IMAGEN}:predict"
    assert google.last.json() == {"instances": [{"prompt": "a robot holding a red skateboard"}],
                                  "parameters": {"sampleCount": 2, "aspectRatio": "1:1"}}
    r = httpx.post(gw.openai_base_url + "/images/generations", headers=gw.headers(),
                   json={"model": IMAGEN, "prompt": "wide", "size": "1792x1024"})
    assert r.status_code == 200 and google.last.json()["parameters"]["aspectRatio"] == "16:9"
    assert r.headers["x-relayport-adjustments"] == "size 1792x1024 sent as aspect ratio 16:9"


def test_imagen_all_filtered_is_a_clear_400(client):
    with pytest.raises(openai.BadRequestError) as exc:
        client.images.generate(model=IMAGEN, prompt="blocked words")
    assert exc.value.code == "content_filter" and "safety" in exc.value.message


def test_gemini_image_output_generate_and_edit(client, google):
    result = client.images.generate(model=FLASH_IMAGE, prompt="a nano banana dish", size="1536x1024")
    assert base64.b64decode(result.data[0].b64_json) == PNG
    assert result.usage is not None and result.usage.output_tokens == 1290
    sent = google.last.json()
    assert google.last.path == f"/v1beta/models/{FLASH_IMAGE}:generateContent"
    assert sent == {"contents": [{"role": "user", "parts": [{"text": "a nano banana dish"}]}],
                    "generationConfig": {"responseModalities": ["IMAGE"], "imageConfig": {"aspectRatio": "3:2"}}}
    edited = client.images.edit(model=FLASH_IMAGE, image=("cat.png", PNG, "image/png"), prompt="add a hat")
    assert base64.b64decode(edited.data[0].b64_json) == PNG
    parts = google.last.json()["contents"][0]["parts"]
    assert parts == [{"text": "add a hat"},
                     {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}}]


def test_embeddings_one_and_many(client, google):
    one = client.embeddings.create(model=EMBED, input="What is the meaning of life?", dimensions=768)
    assert google.last.path == f"/v1beta/models/{EMBED}:embedContent"
    assert google.last.json() == {"content": {"parts": [{"text": "What is the meaning of life?"}]},
                                  "outputDimensionality": 768}
    assert one.data[0].embedding == pytest.approx(vector("What is the meaning of life?", 768), abs=1e-6)
    many = client.embeddings.create(model=EMBED, input=["a", "b"], encoding_format="float",
                                    extra_body={"task_type": "RETRIEVAL_DOCUMENT"})
    assert google.last.path == f"/v1beta/models/{EMBED}:batchEmbedContents"
    assert google.last.json()["requests"][1] == {"model": f"models/{EMBED}", "content": {"parts": [{"text": "b"}]},
                                                 "taskType": "RETRIEVAL_DOCUMENT"}
    assert [d.index for d in many.data] == [0, 1] and len(many.data[1].embedding) == 3072
    assert many.data[1].embedding == pytest.approx(vector("b", 3072), abs=1e-6)


def test_embeddings_errors(client):
    with pytest.raises(openai.BadRequestError) as exc:
        client.embeddings.create(model=EMBED, input="x", dimensions=64)
    assert "outputDimensionality" in exc.value.message
    with pytest.raises(openai.BadRequestError) as exc:
        client.embeddings.create(model=EMBED, input=[[1, 2]])
    assert exc.value.param == "input"


def test_wrong_key_never_shows(relayport_gateway, google):
    gw = relayport_gateway({"models": [{"name": IMAGEN, "provider": "gemini", "base_url": google.url,
                                        "api_key": "AIza-wrong-key"}]}, env={})
    r = httpx.post(gw.openai_base_url + "/images/generations", json={"model": IMAGEN, "prompt": "x"})
    assert r.status_code == 400 and "API key not valid" in r.text and "AIza-wrong-key" not in r.text
