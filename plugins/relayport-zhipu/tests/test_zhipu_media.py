"""Zhipu media through the gateway: CogVideoX tasks, GLM-Image / CogView (sync and async),
embedding-3; seed 003's GLM examples replayed against the fake."""

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
from relayport_zhipu.fake_media import KEY, FakeZhipuMedia

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


@pytest.fixture
def zhipu() -> Iterator[FakeZhipuMedia]:
    yield from serving(FakeZhipuMedia())


@pytest.fixture
def gw(relayport_gateway, zhipu):
    models = [{"name": m, "provider": "zhipu", "base_url": zhipu.base_url, "api_key": KEY}
              for m in ("glm-image", "cogview-4-250304", "cogvideox-3", "embedding-3")]
    return relayport_gateway({"auth": {"keys": ["gw-key", "gw-other"]}, "models": models,
                              "tasks": {"poll_interval": 0.05, "jitter": 0.0}}, env={})


@pytest.fixture
def client(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_base_url, api_key="gw-key", max_retries=0, timeout=20)


def finished(gw, route: str, task_id: str) -> dict[str, Any]:
    return wait_for(lambda: (t := httpx.get(f"{gw.url}{route}/{task_id}", headers=gw.headers()).json())["status"]
                    in ("succeeded", "failed") and t)


def test_seed_glm_image_sync(gw, zhipu):
    """Seed 003 §7.3.3: `messages` + `size`; answered in the vendor's shape, the seed's `data[].url`."""
    r = httpx.post(gw.url + "/v1/images/generations", headers=gw.headers(), json={
        "model": "glm-image", "messages": [{"role": "user", "content": "生成一张未来感办公室的概念图。"}],
        "size": "1024x1024"})
    assert r.status_code == 200, r.text
    sent = zhipu.requests[0]
    assert sent.path == "/api/paas/v4/images/generations"
    assert sent.json() == {"model": "glm-image", "prompt": "生成一张未来感办公室的概念图。", "size": "1024x1024"}
    answer = r.json()
    assert set(answer) >= {"created", "data"} and answer["data"][0]["url"].startswith(zhipu.url + "/files/")
    assert httpx.get(answer["data"][0]["url"]).content == PNG


def test_seed_glm_image_async_is_a_task(gw, zhipu):
    """Seed 003: `"async": true` answers with a task id, polled on GET /v1/images/generations/{id};
    GLM-Image's async endpoint is used, and the result outlives the vendor's URL."""
    zhipu.files.lifetime = 1.0
    r = httpx.post(gw.url + "/v1/images/generations", headers=gw.headers(), json={
        "model": "glm-image", "messages": [{"role": "user", "content": "竹林"}], "size": "1024*1024", "async": True})
    assert r.status_code == 200, r.text
    task = r.json()
    assert task["task_id"] == task["id"] and task["status"] == "running"
    assert zhipu.requests[0].path == "/api/paas/v4/async/images/generations"
    assert zhipu.requests[0].json()["size"] == "1024x1024"  # the seed's `*` spelling becomes Zhipu's `x`
    done = finished(gw, "/v1/images/generations", task["id"])
    assert done["status"] == "succeeded" and done["progress"] == 100
    native = httpx.get(f"{gw.url}/v1/images/generations/{task['id']}?format=native", headers=gw.headers()).json()
    assert native["task_status"] == "SUCCESS" and native["image_result"][0]["url"].startswith(zhipu.url)
    wait_for(lambda: zhipu.files.downloads >= 1)  # copied into the result store on success
    time.sleep(1.1)
    assert httpx.get(native["image_result"][0]["url"]).status_code == 403  # the vendor's URL has expired
    content = httpx.get(done["result"]["outputs"][0]["url"], headers=gw.headers())
    assert content.status_code == 200 and content.content == PNG
    other = httpx.get(f"{gw.url}/v1/images/generations/{task['id']}", headers={"Authorization": "Bearer gw-other"})
    assert other.status_code == 404


def test_seed_cogvideox_video(gw, zhipu):
    """Seed 003 §7.3.4: the answer carries `id` and `task_id`; fps and the frame go to Zhipu."""
    r = httpx.post(gw.url + "/v1/videos/generations", headers=gw.headers(), json={
        "model": "cogvideox-3", "messages": [{"role": "user", "content": "从城市街头推镜到远处的霓虹广告牌。"}],
        "images": ["https://example.com/street-frame.png"], "fps": 24})
    assert r.status_code == 200, r.text
    task = r.json()
    assert task["id"] == task["task_id"] and task["id"].startswith("task_")
    assert zhipu.requests[0].path == "/api/paas/v4/videos/generations"
    # CogVideoX renders at 30 or 60 fps only: the seed's 24 would be Zhipu's 400.
    assert zhipu.requests[0].json() == {"model": "cogvideox-3", "prompt": "从城市街头推镜到远处的霓虹广告牌。",
                                        "image_url": "https://example.com/street-frame.png", "fps": 30}
    assert r.headers["x-relayport-adjustments"] == "fps 24 sent as 30: CogVideoX renders 30 or 60"
    done = finished(gw, "/v1/videos/generations", task["id"])
    assert done["status"] == "succeeded" and done["vendor"]["task_status"] == "SUCCESS"
    polls = {q.path for q in zhipu.requests if q.method == "GET" and not q.path.startswith("/files/")}
    assert polls == {f"/api/paas/v4/async-result/{task['vendor']['id']}"}
    assert done["result"]["outputs"][0]["media_type"] == "video/mp4"
    content = httpx.get(done["result"]["outputs"][0]["url"], headers=gw.headers())
    assert content.content == MP4 and content.headers["content-type"] == "video/mp4"
    part = httpx.get(done["result"]["outputs"][0]["url"], headers={**gw.headers(), "Range": "bytes=8-11"})
    assert part.status_code == 206 and part.content == MP4[8:12]


def test_resolution_and_ratio_become_a_size_and_unknown_knobs_are_said(gw, zhipu):
    r = httpx.post(gw.url + "/v1/videos/generations", headers=gw.headers(), json={
        "model": "cogvideox-3", "prompt": "x", "resolution": "1080P", "aspect_ratio": "9:16", "fps": 60,
        "negative_prompt": "blur", "style": "anime"})
    assert r.status_code == 200, r.text
    assert zhipu.requests[0].json() == {"model": "cogvideox-3", "prompt": "x", "fps": 60, "size": "1080x1920"}
    assert r.headers["x-relayport-adjustments"] == "style and negative_prompt dropped: Zhipu has none"


def test_first_and_last_frame_and_extra_images(gw, zhipu):
    r = httpx.post(gw.url + "/v1/videos/generations", headers=gw.headers(), json={
        "model": "cogvideox-3", "prompt": "a door opens", "images": ["https://a/1.png", "https://a/2.png",
                                                                     "https://a/3.png"],
        "duration": 5, "size": "1920*1080", "quality": "quality", "with_audio": True, "watermark": False})
    assert r.status_code == 200, r.text
    assert r.headers["x-relayport-adjustments"] == "images after the first 2 dropped"
    assert zhipu.requests[0].json() == {"model": "cogvideox-3", "prompt": "a door opens", "size": "1920x1080",
                                        "image_url": ["https://a/1.png", "https://a/2.png"], "duration": 5,
                                        "quality": "quality", "with_audio": True, "watermark_enabled": False}


def test_openai_sdk_videos_against_cogvideox(client, zhipu):
    video = client.videos.create(model="cogvideox-3", prompt="waves at dusk", seconds="4")
    assert video.status == "in_progress"  # Zhipu's first word is PROCESSING
    assert zhipu.requests[0].json()["duration"] == 4
    video = wait_for(lambda: (v := client.videos.retrieve(video.id)).status == "completed" and v)
    assert video.progress == 100
    assert client.videos.download_content(video.id).read() == MP4


def test_openai_sdk_images_url_and_b64(client, zhipu):
    result = client.images.generate(model="cogview-4-250304", prompt="a lighthouse", size="1024x1024")
    assert result.data[0].url.startswith(zhipu.url + "/files/")  # a sync vendor's own URL
    b64 = client.images.generate(model="glm-image", prompt="a fox", response_format="b64_json", n=2)
    assert [base64.b64decode(d.b64_json) for d in b64.data] == [PNG]  # fetched and encoded by the gateway


def test_n_is_reduced_and_said(gw, zhipu):
    r = httpx.post(gw.openai_base_url + "/images/generations", headers=gw.headers(),
                   json={"model": "glm-image", "prompt": "x", "n": 3})
    assert r.status_code == 200 and len(r.json()["data"]) == 1
    assert r.headers["x-relayport-adjustments"] == "n=3 reduced to 1: Zhipu makes one image per call"
    assert "n" not in zhipu.requests[0].json()


def test_vendor_size_error_keeps_its_code(gw):
    r = httpx.post(gw.openai_base_url + "/images/generations", headers=gw.headers(),
                   json={"model": "glm-image", "prompt": "x", "size": "1000x1000"})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "1214" and "32" in err["message"] and err["type"] == "invalid_request_error"


def test_failed_task(gw, zhipu):
    zhipu.book.steps = ("PROCESSING", "FAIL")
    task = httpx.post(gw.url + "/v1/videos/generations", headers=gw.headers(),
                      json={"model": "cogvideox-3", "prompt": "x"}).json()
    done = finished(gw, "/v1/videos/generations", task["id"])
    assert done["status"] == "failed" and done["error"]["code"] == "zhipu_task_failed" and done["result"] is None
    r = httpx.get(f"{gw.url}/v1/videos/generations/{task['id']}/content", headers=gw.headers())
    assert r.status_code == 404 and r.json()["error"]["code"] == "no_content"


def test_rate_limited_poll_is_retried(gw, zhipu):
    zhipu.book.limit_next = 2
    task = httpx.post(gw.url + "/v1/videos/generations", headers=gw.headers(),
                      json={"model": "cogvideox-3", "prompt": "x"}).json()
    assert finished(gw, "/v1/videos/generations", task["id"])["status"] == "succeeded"
    assert zhipu.book.limit_next == 0


def test_embeddings_with_the_openai_sdk(client, zhipu):
    result = client.embeddings.create(model="embedding-3", input=["你好", "world"], dimensions=256)
    for got, text in zip(result.data, ("你好", "world"), strict=True):
        assert got.embedding == pytest.approx(vector(text, 256), abs=1e-6)
    assert result.usage.prompt_tokens == 7
    assert zhipu.last.json() == {"model": "embedding-3", "input": ["你好", "world"], "dimensions": 256}
    floats = client.embeddings.create(model="embedding-3", input="one", encoding_format="float")
    assert len(floats.data[0].embedding) == 2048


def test_embeddings_errors(client):
    with pytest.raises(openai.BadRequestError) as exc:
        client.embeddings.create(model="embedding-3", input="x", dimensions=100)
    assert exc.value.code == "1214"
    with pytest.raises(openai.BadRequestError) as exc:
        client.embeddings.create(model="embedding-3", input=[[1, 2, 3]])
    assert exc.value.param == "input" and "token arrays" in exc.value.message


def test_wrong_vendor_key_is_401_without_the_key(relayport_gateway, zhipu):
    gw = relayport_gateway({"models": [{"name": "cogvideox-3", "provider": "zhipu", "base_url": zhipu.base_url,
                                        "api_key": "wrong.key"}]}, env={})
    r = httpx.post(gw.url + "/v1/videos/generations", json={"model": "cogvideox-3", "prompt": "x"})
    assert r.status_code == 401 and "wrong.key" not in r.text
