"""Vidu through the gateway: Token auth, the four modes, Vidu's states, cancel, 429s, expiring links."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from relayport.plugins import load_plugins
from relayport.testing import video_tasks
from relayport.testing.task_fakes import serving
from relayport_vidu import api
from relayport_vidu.testing import KEY, MP4, FakeVidu

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


@pytest.fixture
def vidu() -> Iterator[FakeVidu]:
    yield from serving(FakeVidu())


@pytest.fixture
def gw(relayport_gateway, vidu) -> video_tasks.VideoTasks:
    models = ("viduq2-pro", "vidu-2.0-img2video", "viduq2")
    return video_tasks.video_gateway(relayport_gateway, "vidu", vidu.url, KEY, models)


def vendor_posts(vidu: FakeVidu) -> list[Any]:
    return [q for q in vidu.requests if q.method == "POST" and q.path.startswith("/ent/v2/") and "/tasks/" not in q.path]


def test_registers_through_its_entry_point():
    entry = load_plugins({"RELAYPORT_LOAD_PLUGINS": "vidu"}).provider("vidu")
    assert entry is not None and entry.plugin == "vidu"
    assert entry.spec.model_patterns == ("vidu*",) and "video_generation" in entry.spec.capabilities


def test_aggregator_model_names_map_to_vidus_own():
    assert api.vendor_model("vidu-2.0-img2video") == ("vidu2.0", "img2video")
    assert api.vendor_model("viduq2-pro") == ("viduq2-pro", None)
    assert api.vendor_model("vidu-1.5-start-end2video") == ("vidu1.5", "start-end2video")


def test_text2video_runs_to_its_content(gw, vidu):
    r = gw.post(model="viduq2-pro", messages=[{"role": "user", "content": "a lighthouse in a storm"}],
             duration=5, resolution="1080P", aspect_ratio="9:16", seed=9, movement_amplitude="large", bgm=True)
    assert r.status_code == 200, r.text
    task = r.json()
    assert task["status"] == "queued" and task["vendor"]["state"] == "created"
    sent = vendor_posts(vidu)[0]
    assert sent.path == "/ent/v2/text2video" and sent.headers["authorization"] == f"Token {KEY}"
    assert sent.json() == {"model": "viduq2-pro", "prompt": "a lighthouse in a storm", "duration": 5, "seed": 9,
                           "resolution": "1080p", "aspect_ratio": "9:16", "movement_amplitude": "large", "bgm": True}
    done = gw.until(task["id"], "succeeded")
    assert done["vendor"]["state"] == "success"
    polls = {q.path for q in vidu.requests if q.method == "GET" and q.path.startswith("/ent/")}
    assert polls == {f"/ent/v2/tasks/{task['vendor']['task_id']}/creations"}
    native = gw.get(task["id"], "?format=native")
    assert native["creations"][0]["cover_url"].startswith(vidu.url + "/files/")
    content = gw.content(task["id"])
    assert content.content == MP4 and content.headers["content-type"] == "video/mp4"


def test_seed_001_img2video_model_name(gw, vidu):
    """Seed 001 sells `vidu-2.0-img2video`: Vidu's `vidu2.0` on the img2video endpoint."""
    r = gw.post(model="vidu-2.0-img2video", prompt="让画面动起来", images=["https://example.com/cat.png"],
             duration=4, resolution="720P")
    assert r.status_code == 200, r.text
    sent = vendor_posts(vidu)[0]
    assert sent.path == "/ent/v2/img2video"
    assert sent.json() == {"model": "vidu2.0", "prompt": "让画面动起来", "images": ["https://example.com/cat.png"],
                           "duration": 4, "resolution": "720p"}


def test_frames_by_role_go_to_start_end2video_in_order(gw, vidu):
    r = gw.post(model="viduq2-pro", prompt="day to night",
             images=["https://example.com/end.png", "https://example.com/start.png"],
             media_roles={"images": ["last_frame", "first_frame"]}, aspect_ratio="16:9", duration=4.6)
    assert r.status_code == 200, r.text
    assert r.headers["x-relayport-adjustments"] == ("duration 4.6 rounded to 5, "
                                                    "aspect ratio dropped (start-end2video follows its images)")
    sent = vendor_posts(vidu)[0]
    assert sent.path == "/ent/v2/start-end2video"
    assert sent.json()["images"] == ["https://example.com/start.png", "https://example.com/end.png"]
    assert "aspect_ratio" not in sent.json()


def test_reference_images_go_to_reference2video(gw, vidu):
    refs = [f"https://example.com/ref{i}.png" for i in range(3)]
    r = gw.post(model="viduq2", prompt="the three of them at a cafe", images=refs,
             media_roles={"images": ["reference"] * 3}, size="1280*720")
    assert r.status_code == 200, r.text
    sent = vendor_posts(vidu)[0]
    assert sent.path == "/ent/v2/reference2video"
    body = sent.json()
    assert body["images"] == refs and body["aspect_ratio"] == "16:9" and body["resolution"] == "720p"


def test_openai_sdk_create_retrieve_download(gw, vidu):
    assert gw.sdk_video(model="viduq2-pro", prompt="paper boats on a river", seconds="8", size="720x1280") == MP4
    body = vendor_posts(vidu)[0].json()
    assert body["duration"] == 8 and body["resolution"] == "720p" and body["aspect_ratio"] == "9:16"


def test_cancel_while_queued_and_refused_once_processing(gw, vidu):
    vidu.book.steps = ("created", "queueing")
    task = gw.post(model="viduq2-pro", prompt="x").json()
    r = gw.cancel(task["id"])
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    cancels = [q for q in vidu.requests if q.path.endswith("/cancel")]
    vendor_id = task["vendor"]["task_id"]
    assert [q.path for q in cancels] == [f"/ent/v2/tasks/{vendor_id}/cancel"] and cancels[0].json() == {"id": vendor_id}
    assert gw.get(task["id"])["status"] == "cancelled"

    vidu.book.steps = ("created", "processing")
    task = gw.post(model="viduq2-pro", prompt="y").json()
    gw.until(task["id"], "running")
    r = gw.cancel(task["id"])
    assert r.status_code == 400 and r.json()["error"]["code"] == "BadRequest"
    assert "can not cancel" in r.json()["error"]["message"]
    assert gw.get(task["id"])["status"] == "running"


def test_failed_task_keeps_vidus_err_code(gw, vidu):
    vidu.book.steps = ("created", "processing", "failed")
    task = gw.post(model="viduq2-pro", prompt="x").json()
    done = gw.until(task["id"], "failed")
    assert done["error"]["code"] == "CreationPolicyViolation"
    assert gw.get(task["id"], "?format=native")["err_code"] == "CreationPolicyViolation"


def test_429s_on_submit_and_poll(gw, vidu):
    vidu.busy_next = 1
    r = gw.post(model="viduq2-pro", prompt="x")
    assert r.status_code == 429 and r.json()["error"]["code"] == "TooManyRequests"
    video_tasks.check_polls_retried_after_429(gw, vidu.book, model="viduq2-pro", prompt="x")


def test_result_outlives_vidus_link(gw, vidu):
    video_tasks.check_result_outlives_vendor_link(gw, vidu.files, lambda native: native["creations"][0]["url"],
                                                  model="viduq2-pro", prompt="x")


def test_vendor_validation_and_wrong_key(relayport_gateway, gw, vidu):
    r = gw.post(model="vidu-2.0-img2video", prompt="x", images=["https://e.com/a.png", "https://e.com/b.png"])
    assert r.status_code == 400 and "img2video takes 1-1 images" in r.json()["error"]["message"]
    r = video_tasks.check_wrong_vendor_key(relayport_gateway, "vidu", vidu.url, "viduq2-pro",
                                           "vda_wrong_secret")
    assert r.json()["error"]["code"] == "Unauthorized"


def test_images_are_refused_clearly(gw):
    r = httpx.post(gw.url + "/v1/images/generations", headers=gw.headers(), json={"model": "viduq2-pro", "prompt": "x"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "model"
