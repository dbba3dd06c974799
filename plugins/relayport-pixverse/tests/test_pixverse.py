"""PixVerse through the gateway: API-KEY + Ai-trace-id, the ErrCode envelope, integer statuses,
image-to-video as upload then generate (idempotent by trace id), 429s and expiring links."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from relayport.plugins import load_plugins
from relayport.testing import video_tasks
from relayport.testing.task_fakes import serving
from relayport.testing.waiting import wait_for
from relayport_pixverse import api
from relayport_pixverse.testing import KEY, MP4, PNG, FakePixVerse

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")
DATA_PNG = "data:image/png;base64," + base64.b64encode(PNG).decode()
MODELS = ("pixverse-v5.5-t2v", "pixverse-v5.5-i2v", "pixverse-v5.6")


@pytest.fixture
def pixverse() -> Iterator[FakePixVerse]:
    yield from serving(FakePixVerse())


@pytest.fixture
def gw(relayport_gateway, pixverse) -> video_tasks.VideoTasks:
    return video_tasks.video_gateway(relayport_gateway, "pixverse", pixverse.url, KEY, MODELS)


def posts(pixverse: FakePixVerse) -> list[Any]:
    return [q for q in pixverse.requests if q.method == "POST"]


def test_registers_and_reads_seed_model_names():
    entry = load_plugins({"RELAYPORT_LOAD_PLUGINS": "pixverse"}).provider("pixverse")
    assert entry is not None and entry.plugin == "pixverse" and entry.spec.model_patterns == ("pixverse-*",)
    assert api.vendor_model("pixverse-v5.5-i2v") == ("v5.5", "i2v")
    assert api.vendor_model("pixverse-v5.6") == ("v5.6", None)


def test_text_to_video_runs_to_its_content(gw, pixverse):
    r = gw.post(model="pixverse-v5.5-t2v", messages=[{"role": "user", "content": "a koi pond in rain"}],
             duration=8, resolution="720P", aspect_ratio="9:16", negative_prompt="blur", seed=11, watermark=False,
             motion_mode="normal", style="anime")
    assert r.status_code == 200, r.text
    task = r.json()
    sent = posts(pixverse)[0]
    assert sent.path == "/openapi/v2/video/text/generate" and sent.headers["api-key"] == KEY
    uuid.UUID(sent.headers["ai-trace-id"])
    assert sent.json() == {"model": "v5.5", "prompt": "a koi pond in rain", "duration": 8, "quality": "720p",
                           "negative_prompt": "blur", "seed": 11, "water_mark": False, "motion_mode": "normal",
                           "style": "anime", "aspect_ratio": "9:16"}
    done = gw.until(task["id"], "succeeded")
    assert done["vendor"]["Resp"]["status"] == 1
    assert gw.get(task["id"], "?format=native")["Resp"]["outputWidth"] == 1280
    traces = [q.headers["ai-trace-id"] for q in pixverse.requests if q.path.startswith("/openapi/")]
    assert len(set(traces)) == len(traces)  # a fresh trace id on every call
    assert gw.content(task["id"]).content == MP4


def test_image_to_video_uploads_then_generates(gw, pixverse):
    r = gw.post(model="pixverse-v5.5-i2v", prompt="the cat blinks", images=[DATA_PNG], duration=5)
    assert r.status_code == 200, r.text
    task = r.json()
    upload = posts(pixverse)[0]
    assert upload.path == "/openapi/v2/image/upload"
    assert upload.headers["content-type"].startswith("multipart/form-data")
    assert list(pixverse.images.values()) == [PNG]
    done = gw.until(task["id"], "succeeded")
    generate = [q for q in posts(pixverse) if q.path == "/openapi/v2/video/img/generate"]
    # A client GET may poll alongside the poller: any second generate carries the same trace id,
    # so PixVerse answers it with the same video.
    assert len(pixverse.book.tasks) == 1 and len({q.headers["ai-trace-id"] for q in generate}) == 1
    assert generate[0].json() == {"model": "v5.5", "prompt": "the cat blinks", "duration": 5, "quality": "540p",
                                  "img_id": next(iter(pixverse.images))}
    assert done["vendor"]["Resp"]["url"].startswith(pixverse.url + "/files/")


def test_seed_style_image_url_is_fetched_and_uploaded(relayport_gateway, pixverse):
    """Seed 003's form gives images by URL; PixVerse takes only uploads, so the gateway fetches it."""
    gw = video_tasks.video_gateway(relayport_gateway, "pixverse", pixverse.url, KEY, MODELS,
                                   fetch={"allow_private": True})
    url = pixverse.files.publish(pixverse.url, "input.png", PNG, "image/png")
    r = gw.post(model="pixverse-v5.6", messages=[{"role": "user", "content": "海浪拍打礁石"}], images=[url],
             size="1280*720")
    assert r.status_code == 200, r.text
    assert r.headers["x-relayport-adjustments"] == "aspect ratio dropped (image-to-video follows its image)"
    assert list(pixverse.images.values()) == [PNG]
    body = wait_for(lambda: [q for q in posts(pixverse) if q.path.endswith("/img/generate")])[0].json()
    assert body["quality"] == "720p" and "aspect_ratio" not in body


def test_generate_retried_with_the_same_trace_id_starts_one_video(gw, pixverse):
    """The first poll's generate call meets the concurrency limit: the retry reuses the trace id
    (derived from the gateway's task id), so a generate that did start is never started twice."""
    pixverse.busy_next = 1
    task = gw.post(model="pixverse-v5.5-i2v", prompt="x", images=[DATA_PNG]).json()
    gw.until(task["id"], "succeeded")
    generates = [q for q in posts(pixverse) if q.path.endswith("/img/generate")]
    assert len(generates) >= 2 and len(pixverse.book.tasks) == 1
    assert len({q.headers["ai-trace-id"] for q in generates}) == 1


def test_concurrency_limit_is_429_and_bad_params_400(gw, pixverse):
    pixverse.busy_next = 1
    r = gw.post(model="pixverse-v5.5-t2v", prompt="x")
    assert r.status_code == 429 and "concurrent generations" in r.json()["error"]["message"]
    assert r.json()["error"]["code"] == "500044"
    r = gw.post(model="pixverse-v5.5-t2v", prompt="x", resolution="1080p", duration=8)
    assert r.status_code == 400 and "1080p does not support 8" in r.json()["error"]["message"]
    r = gw.post(model="pixverse-v5.5-t2v", prompt="x", resolution="4k")
    assert r.status_code == 400 and r.json()["error"]["param"] == "resolution"
    r = gw.post(model="pixverse-v5.5-i2v", prompt="x")
    assert r.status_code == 400 and r.json()["error"]["param"] == "images"


def test_moderation_and_generation_failures(gw, pixverse):
    pixverse.book.steps = ("5", "7")
    task = gw.post(model="pixverse-v5.5-t2v", prompt="x").json()
    done = gw.until(task["id"], "failed")
    assert done["error"]["code"] == "content_moderated"
    pixverse.book.steps = ("5", "8")
    task = gw.post(model="pixverse-v5.5-t2v", prompt="x").json()
    done = gw.until(task["id"], "failed")
    assert done["error"]["code"] == "generation_failed"


def test_rate_limited_polls_are_retried(gw, pixverse):
    video_tasks.check_polls_retried_after_429(gw, pixverse.book, model="pixverse-v5.5-t2v", prompt="x")


def test_openai_sdk_videos(gw, pixverse):
    assert gw.sdk_video(model="pixverse-v5.5-t2v", prompt="lanterns", seconds="8", size="720x1280") == MP4
    body = posts(pixverse)[0].json()
    assert body["duration"] == 8 and body["quality"] == "720p" and body["aspect_ratio"] == "9:16"


def test_result_outlives_pixverses_link(gw, pixverse):
    video_tasks.check_result_outlives_vendor_link(gw, pixverse.files, lambda native: native["Resp"]["url"],
                                                  model="pixverse-v5.5-t2v", prompt="x")


def test_wrong_key_never_shows(relayport_gateway, pixverse):
    r = video_tasks.check_wrong_vendor_key(relayport_gateway, "pixverse", pixverse.url, "pixverse-v5.6",
                                           "sk-wrong-secret")
    assert "Invalid API-KEY" in r.json()["error"]["message"]


def test_no_cancel_at_pixverse_is_said_plainly(gw, pixverse):
    pixverse.book.steps = ("5",)
    task = gw.post(model="pixverse-v5.5-t2v", prompt="x").json()
    r = gw.cancel(task["id"])
    assert r.status_code == 501 and "cannot cancel" in r.json()["error"]["message"]
    assert gw.get(task["id"])["status"] in ("queued", "running")
