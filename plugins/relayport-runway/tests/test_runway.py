"""Runway through the gateway: its version header, camelCase bodies and pixel ratios, the task
object's status words, cancel by DELETE, 429s and output URLs that expire."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from relayport.plugins import load_plugins
from relayport.testing import video_tasks
from relayport.testing.task_fakes import serving
from relayport.testing.waiting import wait_for
from relayport_runway.testing import KEY, MP4, PNG, VERSION, FakeRunway

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


@pytest.fixture
def runway() -> Iterator[FakeRunway]:
    yield from serving(FakeRunway())


@pytest.fixture
def gw(relayport_gateway, runway) -> video_tasks.VideoTasks:
    models = ("gen4_turbo", "gen4.5", "gen4_image", "veo3.1")
    return video_tasks.video_gateway(relayport_gateway, "runway", runway.url, KEY, models)


def creates(runway: FakeRunway) -> list[Any]:
    return [q for q in runway.requests if q.method == "POST"]


def test_registers_through_its_entry_point():
    entry = load_plugins({"RELAYPORT_LOAD_PLUGINS": "runway"}).provider("runway")
    assert entry is not None and entry.plugin == "runway"
    assert entry.spec.auth == "bearer" and {"video_generation", "images"} <= entry.spec.capabilities


def test_image_to_video_runs_through_runways_status_words(gw, runway):
    r = gw.post(model="gen4_turbo", messages=[{"role": "user", "content": "the kite rises"}],
             images=["https://example.com/kite.png"], aspect_ratio="9:16", duration=5, seed=3)
    assert r.status_code == 200, r.text
    task = r.json()
    sent = creates(runway)[0]
    assert sent.path == "/v1/image_to_video"
    assert sent.headers["x-runway-version"] == VERSION and sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json() == {"model": "gen4_turbo", "promptText": "the kite rises", "seed": 3,
                           "promptImage": "https://example.com/kite.png", "ratio": "720:1280", "duration": 5}
    seen = set()

    def finished() -> dict[str, Any] | None:
        t = gw.get(task["id"])
        seen.add((t["status"], t["vendor"].get("status")))
        return t if t["status"] == "succeeded" else None

    done = wait_for(finished)
    assert done["vendor"]["status"] == "SUCCEEDED" and done["progress"] == 100
    # THROTTLED is still queued for the client; RUNNING carries Runway's progress.
    assert seen <= {("queued", None), ("queued", "PENDING"), ("queued", "THROTTLED"), ("running", "RUNNING"),
                    ("succeeded", "SUCCEEDED")}
    polls = {q.path for q in runway.requests if q.method == "GET" and q.path.startswith("/v1/")}
    assert polls == {f"/v1/tasks/{task['vendor']['id']}"}
    content = gw.content(task["id"])
    assert content.content == MP4 and content.headers["content-type"] == "video/mp4"


def test_first_and_last_frames_become_positions(gw, runway):
    r = gw.post(model="veo3.1", prompt="sunrise to noon", negative_prompt="people",
             images=["https://example.com/a.png", "https://example.com/b.png"],
             media_roles={"images": ["first_frame", "last_frame"]}, size="1920x1080", duration=6.2)
    assert r.status_code == 200, r.text
    assert r.headers["x-relayport-adjustments"] == "duration 6.2 rounded to 6"
    body = creates(runway)[0].json()
    assert body["promptImage"] == [{"uri": "https://example.com/a.png", "position": "first"},
                                   {"uri": "https://example.com/b.png", "position": "last"}]
    assert body["ratio"] == "1920:1080" and body["negativePrompt"] == "people" and body["duration"] == 6


def test_text_to_video_picks_a_ratio_and_says_so(gw, runway):
    r = gw.post(model="gen4.5", prompt="a glass city", duration=5, negative_prompt="fog")
    assert r.status_code == 200, r.text
    assert r.headers["x-relayport-adjustments"] == "ratio 1280:720 chosen, negative_prompt dropped"
    sent = creates(runway)[0]
    assert sent.path == "/v1/text_to_video" and sent.json()["ratio"] == "1280:720"


def test_openai_sdk_videos(gw, runway):
    assert gw.sdk_video(model="gen4.5", prompt="waves", seconds="8", size="720x1280") == MP4
    body = creates(runway)[0].json()
    assert body["ratio"] == "720:1280" and body["duration"] == 8


def test_text_to_image_with_the_openai_sdk(gw, runway):
    result = gw.sdk().images.generate(model="gen4_image", prompt="a paper crane", size="1360x768",
                                    response_format="b64_json")
    assert base64.b64decode(result.data[0].b64_json or "") == PNG
    sent = creates(runway)[0]
    assert sent.path == "/v1/text_to_image"
    assert sent.json() == {"model": "gen4_image", "promptText": "a paper crane", "ratio": "1360:768"}


def test_cancel_deletes_the_runway_task(gw, runway):
    runway.book.steps = ("PENDING", "RUNNING")
    task = gw.post(model="gen4.5", prompt="x", duration=5).json()
    gw.until(task["id"], "running")
    r = gw.cancel(task["id"])
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    deletes = [q.path for q in runway.requests if q.method == "DELETE"]
    assert deletes == [f"/v1/tasks/{task['vendor']['id']}"]
    assert runway.book.status(runway.book.tasks[task["vendor"]["id"]]) == "CANCELLED"


def test_failed_task_carries_the_failure_code(gw, runway):
    runway.book.steps = ("PENDING", "FAILED")
    task = gw.post(model="gen4.5", prompt="x", duration=5).json()
    done = gw.until(task["id"], "failed")
    assert done["error"]["code"] == "SAFETY.INPUT.TEXT" and "content policy" in done["error"]["message"]


def test_429_on_create_and_on_poll(gw, runway):
    runway.busy_next = 1
    r = gw.post(model="gen4.5", prompt="x", duration=5)
    assert r.status_code == 429 and r.headers["retry-after"] == "2"
    video_tasks.check_polls_retried_after_429(gw, runway.book, model="gen4.5", prompt="x", duration=5)


def test_result_outlives_runways_url(gw, runway):
    video_tasks.check_result_outlives_vendor_link(gw, runway.files, lambda native: native["output"][0],
                                                  model="gen4.5", prompt="x", duration=5)


def test_validation_issue_names_the_field_and_bad_ratio_is_ours(gw, runway):
    r = gw.post(model="gen4.5", prompt="x", duration=12)
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["param"] == "duration" and "from 2 to 10" in err["message"]
    r = gw.post(model="gen4.5", prompt="x", aspect_ratio="5:4")
    assert r.status_code == 400 and r.json()["error"]["param"] == "aspect_ratio"
    assert len(creates(runway)) == 1  # the second never reached Runway


def test_wrong_key_never_shows(relayport_gateway, runway):
    r = video_tasks.check_wrong_vendor_key(relayport_gateway, "runway", runway.url, "gen4.5",
                                           "key_wrong_secret")
    assert "Invalid API key" in r.json()["error"]["message"]
