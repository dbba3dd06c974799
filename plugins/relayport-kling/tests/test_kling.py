"""Kling through the gateway: JWT auth, both endpoint families, Kling's status words and envelope."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import jwt
import pytest

from relayport.plugins import load_plugins
from relayport.testing import video_tasks
from relayport.testing.task_fakes import serving
from relayport_kling import api
from relayport_kling.testing import ACCESS_KEY, KEY, SECRET_KEY, VIDEO, FakeKling

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


@pytest.fixture
def kling() -> Iterator[FakeKling]:
    yield from serving(FakeKling())


@pytest.fixture
def gw(relayport_gateway, kling) -> video_tasks.VideoTasks:
    return video_tasks.video_gateway(relayport_gateway, "kling", kling.url, KEY, ("kling-v2-master",))


def test_plugin_loads_and_registers():
    plugins = load_plugins({})
    spec = plugins.provider("kling").spec
    assert spec.auth == "none" and "video_generation" in spec.capabilities


def test_jwt_claims():
    dep = load_plugins({}).provider("kling")
    assert dep is not None
    from relayport.provider import Deployment
    from relayport.secrets import Secret

    d = Deployment("k", dep.spec, "kling-v1", "https://x", Secret(KEY), dep.hooks)
    token = api.token(d, now=1_800_000_000)
    claims = jwt.decode(token, SECRET_KEY, algorithms=["HS256"], options={"verify_exp": False, "verify_nbf": False})
    assert claims == {"iss": ACCESS_KEY, "exp": 1_800_001_800, "nbf": 1_799_999_995}
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    bad = Deployment("k", dep.spec, "kling-v1", "https://x", Secret("no-separator"), dep.hooks)
    with pytest.raises(Exception, match="access_key\\|secret_key"):
        api.token(bad)


def test_text2video_through_the_unified_route(gw, kling):
    r = gw.post(model="kling-v2-master", messages=[{"role": "user", "content": "a fox in snow"}],
                duration=10, aspect_ratio="16:9", negative_prompt="blur", mode="pro", watermark=False)
    assert r.status_code == 200, r.text
    task = r.json()
    sent = kling.requests[0]
    assert sent.path == "/v1/videos/text2video"
    assert sent.json() == {"model_name": "kling-v2-master", "prompt": "a fox in snow", "duration": "10",
                           "aspect_ratio": "16:9", "negative_prompt": "blur", "mode": "pro",
                           "watermark_info": {"enabled": False}}
    assert KEY not in str(sent.headers) and SECRET_KEY not in str(sent.headers)  # a JWT, never the key
    done = gw.until(task["id"], "succeeded")
    polls = [q.path for q in kling.requests if q.method == "GET" and q.path.startswith("/v1/")]
    assert set(polls) == {f"/v1/videos/text2video/{task['vendor']['data']['task_id']}"}
    assert done["vendor"]["data"]["task_status"] == "succeed"  # Kling's own word, under `vendor`
    native = gw.get(task["id"], "?format=native")
    assert native["code"] == 0 and native["data"]["task_result"]["videos"][0]["duration"] == "5.1"
    content = gw.content(task["id"])
    assert content.content == VIDEO and content.headers["content-type"] == "video/mp4"


def test_seed_style_image_to_video_uses_the_image2video_family(gw, kling):
    """Seed 003's wan2.7-i2v request shape (images + voices + media_roles), sent to a Kling model."""
    r = gw.post(model="kling-v2-master",
                messages=[{"role": "user", "content": "一个由喷漆画成的少年从墙上活过来,边 rap 边摆姿势。"}],
                images=["https://example.com/frame.png", "https://example.com/end.png"],
                voices=["https://example.com/rap.mp3"],
                media_roles={"images": ["first_frame", "last_frame"], "voices": ["driving_audio"]},
                duration=6, resolution="720P")
    assert r.status_code == 200, r.text
    assert r.headers["x-relayport-adjustments"] == "duration 6 rounded to 5, voices and videos dropped"
    sent = kling.requests[0]
    assert sent.path == "/v1/videos/image2video"
    body = sent.json()
    assert body["image"] == "https://example.com/frame.png" and body["image_tail"] == "https://example.com/end.png"
    assert body["duration"] == "5" and body["mode"] == "std" and "resolution" not in body
    task_id = r.json()["task_id"]
    gw.until(task_id, "succeeded")
    assert all("/image2video/" in q.path for q in kling.requests if q.method == "GET" and q.path.startswith("/v1/"))


def test_failed_task_and_vendor_words(gw, kling):
    kling.steps = ("submitted", "processing", "failed")
    task = gw.post(model="kling-v2-master", prompt="x").json()
    failed = gw.until(task["id"], "failed")
    assert failed["error"]["code"] == "kling_task_failed"
    assert "risk control" in failed["error"]["message"]


def test_rate_limited_poll_is_retried(gw, kling):
    video_tasks.check_polls_retried_after_429(gw, kling, model="kling-v2-master", prompt="x")


def test_vendor_validation_error_reaches_the_client(gw, kling):
    r = gw.post(model="kling-v2-master", prompt="x", mode="ultra")
    assert r.status_code == 400 and r.json()["error"]["code"] == "1201"
    assert "mode must be" in r.json()["error"]["message"]


def test_wrong_key_is_kling_401(relayport_gateway, kling):
    r = video_tasks.check_wrong_vendor_key(relayport_gateway, "kling", kling.url, "kling-v1",
                                           f"{ACCESS_KEY}|wrong-secret-0123456789abcdef0123456789")
    assert r.json()["error"]["code"] == "1002"
    assert "wrong-secret" not in r.text and ACCESS_KEY not in r.text


def test_openai_sdk_videos_against_kling(gw, kling):
    """`client.videos.create(model="kling-...")`: the simplest video API for a Python user."""
    assert gw.sdk_video(model="kling-v2-master", prompt="waves at dusk", seconds="8") == VIDEO
    assert kling.requests[0].json()["duration"] == "10"


def test_images_are_refused_clearly(gw):
    r = httpx.post(gw.url + "/v1/images/generations", headers=gw.headers(), json={"model": "kling-v2-master", "prompt": "x"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "model"
