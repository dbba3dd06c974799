"""Media task calls are metered in their own units: a finished video's seconds, an image call's
images, a speech call's characters, priced at the model's `video_second` / `image` /
`speech_1k_chars` and charged to the key once, on both stores."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import httpx
import openai
import orjson
import pytest

from relayport.accounts.prices import MediaUnits
from relayport.cli import main
from relayport.model import GatewayError, MediaKind, MediaOutput, MediaRequest, TaskRecord, TaskStatus, Usage
from relayport.tasks.metering import media_units, task_record
from tests.accounts_helpers import store_url  # noqa: F401  (fixture)
from tests.test_accounts_gateway import ADMIN, admin, create

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")
M = Decimal(10**6)
SPOKEN = "Hello from the gateway, twice over."


def task(kind: MediaKind, status: TaskStatus = TaskStatus.SUCCEEDED, **kw) -> TaskRecord:
    req = kw.pop("request", None) or MediaRequest(kind, "m", prompt="a prompt")
    return TaskRecord(id="task_x", provider="p", model="m-up", vendor_task_id="v", status=status, request=req,
                      created_at=100.0, updated_at=130.0, deadline=1e10, deployment="m", completed_at=130.0, **kw)


def test_units_come_from_the_vendor_when_it_says_and_are_counted_otherwise() -> None:
    two = [MediaOutput(url="https://x.test/1.png"), MediaOutput(url="https://x.test/2.png")]
    assert media_units(task(MediaKind.IMAGE, outputs=two)) == MediaUnits(images=2)
    assert media_units(task(MediaKind.IMAGE, outputs=two, usage=Usage(extra={"image_count": 4}))) == \
        MediaUnits(images=4)
    video = MediaRequest(MediaKind.VIDEO, "m", prompt="p", duration=5.0)
    assert media_units(task(MediaKind.VIDEO, request=video, outputs=[MediaOutput()])) == \
        MediaUnits(video_seconds=Decimal(5))
    assert media_units(task(MediaKind.VIDEO, request=video, outputs=[MediaOutput()] * 2)) == \
        MediaUnits(video_seconds=Decimal(10))  # n videos of the asked length
    assert media_units(task(MediaKind.VIDEO, request=video, usage=Usage(extra={"video_seconds": "6.5"}))) == \
        MediaUnits(video_seconds=Decimal("6.5"))
    speech = MediaRequest(MediaKind.SPEECH, "m", prompt=SPOKEN)
    assert media_units(task(MediaKind.SPEECH, request=speech)) == MediaUnits(speech_chars=len(SPOKEN))
    assert media_units(task(MediaKind.SPEECH, request=speech, usage=Usage(extra={"characters": 9}))) == \
        MediaUnits(speech_chars=9)
    # nonsense from a vendor falls back to the gateway's own count
    assert media_units(task(MediaKind.IMAGE, outputs=two, usage=Usage(extra={"image_count": "many"}))) == \
        MediaUnits(images=2)
    # nothing produced, nothing billed per unit
    assert media_units(task(MediaKind.VIDEO, TaskStatus.FAILED, request=video)) is None
    assert media_units(task(MediaKind.IMAGE, TaskStatus.CANCELLED)) is None


def test_a_failed_task_is_recorded_with_its_error() -> None:
    failed = task(MediaKind.VIDEO, TaskStatus.FAILED, error=GatewayError(422, "blocked", code="moderation_blocked"),
                  caller="key_1")
    rec = task_record(failed, "m#0")
    assert (rec.status, rec.error, rec.caller, rec.model, rec.upstream_model) == \
        (422, "moderation_blocked", "key_1", "m", "m-up")
    assert rec.latency == 30.0 and rec.media is None
    done = task_record(task(MediaKind.IMAGE, outputs=[MediaOutput(b64="AAAA")]), "m#0")
    assert (done.status, done.error, done.media) == (200, None, MediaUnits(images=1))


VIDEO_PRICE = {"video_second": 0.1}
DALLE_PRICE = {"image": 0.02}
GPT_IMAGE_PRICE = {"input": 5, "output": 40, "image": 0.011}
TTS_PRICE = {"speech_1k_chars": 0.015}


def test_mixed_media_run_costs_the_hand_computed_total(relayport_gateway, store_url, fake_openai,  # noqa: F811
                                                       tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert fake_openai.media is not None
    fake_openai.media.video_steps = ("queued", "in_progress", "completed")
    up = {"provider": "openai", "base_url": fake_openai.base_url, "api_key": fake_openai.api_key}
    gw = relayport_gateway({
        "server": {"store": store_url}, "auth": {"admin_keys": [ADMIN]},
        "tasks": {"poll_interval": 0.05, "jitter": 0.0},
        "models": [
            {"name": "sora", "model": "sora-2", "price": VIDEO_PRICE, **up},
            {"name": "dalle", "model": "dall-e-2", "price": DALLE_PRICE, **up},
            {"name": "gpt-image", "model": "gpt-image-1", "price": GPT_IMAGE_PRICE, **up},
            {"name": "tts", "model": "tts-1", "price": TTS_PRICE, **up},
        ]}, env={"RELAYPORT_LOAD_PLUGINS": "openai"})
    secret = create(gw, name="studio", balance="5")
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=secret, max_retries=0)

    eight = client.videos.create(model="sora", prompt="a boat at dawn", seconds="8")
    four = client.videos.create(model="sora", prompt="a boat at dusk")  # the vendor's default length: 4 s
    images = client.images.generate(model="dalle", prompt="a lighthouse", n=2)
    assert len(images.data) == 2
    client.images.generate(model="gpt-image", prompt="a harbour")  # tokens and an image
    speech = client.audio.speech.create(model="tts", voice="alloy", input=SPOKEN)
    assert speech.content
    for video in (eight, four):
        deadline = time.time() + 10
        while client.videos.retrieve(video.id).status != "completed":
            assert time.time() < deadline, "the video did not finish"
            time.sleep(0.05)

    video_cost = Decimal("12") * Decimal("0.1")
    dalle_cost = 2 * Decimal("0.02")
    gpt_image_cost = (12 * Decimal(5) + 4160 * Decimal(40)) / M + Decimal("0.011")
    tts_cost = len(SPOKEN) * Decimal("0.015") / 1000
    total = video_cost + dalle_cost + gpt_image_cost + tts_cost

    def by_model() -> dict[str, dict]:
        return {r["model"]: r for r in admin(gw, "GET", "/admin/usage?by=model&key=studio").json()["data"]}

    deadline = time.time() + 5
    while sum(r["calls"] for r in by_model().values()) < 5:
        assert time.time() < deadline, by_model()
        time.sleep(0.1)
    rows = by_model()
    assert Decimal(rows["sora"]["cost"]) == video_cost
    assert rows["sora"]["calls"] == 2 and rows["sora"]["media_seconds"] == 12.0  # charged once each
    assert Decimal(rows["dalle"]["cost"]) == dalle_cost and rows["dalle"]["images"] == 2
    assert Decimal(rows["gpt-image"]["cost"]) == gpt_image_cost and rows["gpt-image"]["images"] == 1
    assert (rows["gpt-image"]["prompt_tokens"], rows["gpt-image"]["completion_tokens"]) == (12, 4160)
    assert Decimal(rows["tts"]["cost"]) == tts_cost and rows["tts"]["characters"] == len(SPOKEN)
    assert sum(Decimal(r["cost"]) for r in rows.values()) == total
    shown = admin(gw, "GET", "/admin/keys/studio").json()
    assert Decimal(shown["spent"]) == total and Decimal(shown["balance"]) == Decimal(5) - total

    # a finished task read again (by the client, or a poller) is not charged again
    client.videos.retrieve(eight.id)
    time.sleep(0.7)
    assert by_model()["sora"]["calls"] == 2

    # `relayport usage` shows the same units and cost
    config = tmp_path / "relayport.toml"
    config.write_text(f'[server]\nstore = "{store_url}"\nstate_path = "{tmp_path / "cli.sqlite3"}"\n')
    capsys.readouterr()
    assert main(["usage", "--by", "model", "--format", "json", "--config", str(config)]) == 0
    cli = {r["model"]: r for r in orjson.loads(capsys.readouterr().out)}
    assert (cli["sora"]["media_seconds"], cli["dalle"]["images"], cli["tts"]["characters"]) == (12.0, 2, len(SPOKEN))
    assert sum(Decimal(r["cost"]) for r in cli.values()) == total
    assert main(["usage", "--by", "model", "--config", str(config)]) == 0
    table = capsys.readouterr().out
    assert "video_s" in table and any(line.startswith("sora") and " 12 " in line for line in table.splitlines())
    csv_text = httpx.get(gw.url + "/admin/usage?by=model&format=csv", headers={"Authorization": f"Bearer {ADMIN}"}).text
    assert csv_text.splitlines()[0].endswith("images,media_seconds,characters,cost,currency")


async def test_a_store_from_before_media_units_gains_the_column(store_url: str) -> None:  # noqa: F811
    """rp_usage as the first release made it (no `characters`): opened, altered, written, reported."""
    from relayport.accounts.live import record_row
    from relayport.accounts.store import open_store
    from relayport.calls import CallRecord

    old = ("CREATE TABLE rp_usage (ts DOUBLE PRECISION NOT NULL, request_id TEXT, key_id TEXT, model TEXT NOT NULL, "
           "provider TEXT NOT NULL, deployment TEXT, upstream_model TEXT, status BIGINT NOT NULL, error TEXT, "
           "stream BIGINT NOT NULL, prompt_tokens BIGINT, completion_tokens BIGINT, cached_tokens BIGINT, "
           "cache_write_tokens BIGINT, reasoning_tokens BIGINT, audio_tokens BIGINT, image_tokens BIGINT, "
           "video_tokens BIGINT, images BIGINT, media_seconds DOUBLE PRECISION, latency_ms DOUBLE PRECISION, "
           "ttfb_ms DOUBLE PRECISION, cost BIGINT NOT NULL)")
    if store_url.startswith("postgresql://"):
        import asyncpg

        base, schema = store_url.split("?search_path=")
        conn = await asyncpg.connect(base, server_settings={"search_path": schema})
        try:
            await conn.execute(old)
        finally:
            await conn.close()
    else:
        import sqlite3

        db = sqlite3.connect(store_url)
        db.execute(old)
        db.commit()
        db.close()
    store = open_store(store_url, store_url)
    await store.open()
    try:
        rec = CallRecord(request_id="task_1", caller=None, model="tts", provider="openai", deployment="tts",
                         upstream_model="tts-1", status=200, error=None, usage=None, latency=1.0,
                         media=MediaUnits(speech_chars=1234))
        await store.write([record_row(rec, 7)], [])
        (row,) = await store.usage("model")
        assert (row["model"], row["characters"], row["cost"], row["media_seconds"]) == ("tts", 1234, 7, 0.0)
    finally:
        await store.close()
