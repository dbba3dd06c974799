"""The sheets generated from LiteLLM's price table (issue 14), and StepFun's CNY sheet: each vendor
plugin ships one, and a call through the gateway is charged exactly what its sheet says,
hand-computed here."""

from __future__ import annotations

import time
from decimal import Decimal

import anthropic
import openai
import pytest
from google import genai

from relayport.accounts.money import to_units
from relayport.accounts.prices import Price, price_table
from relayport.config import BillingConfig
from relayport.testing.fakes import FakeOpenAI
from relayport.testing.task_fakes import serving
from relayport_bedrock.testing import FakeBedrock
from relayport_bfl.testing import KEY as BFL_KEY
from relayport_bfl.testing import FakeBFL
from relayport_elevenlabs.testing import KEY as XI_KEY
from relayport_elevenlabs.testing import VOICE, FakeElevenLabs
from relayport_gemini.testing import FakeGemini
from relayport_stepfun.testing import FakeStepFun
from tests.accounts_helpers import store_url  # noqa: F401  (fixture)
from tests.test_accounts_gateway import ADMIN, admin, create
from tests.test_shipped_prices import _specs

M = Decimal(10**6)
LITELLM = "https://github.com/BerriAI/litellm/blob/v1.110.2/model_prices_and_context_window.json"
STEPFUN_PAGE = "https://platform.stepfun.com/docs/zh/guides/pricing/details"


def test_every_vendor_in_the_table_ships_a_sheet() -> None:
    specs = _specs()
    shipping = {name for name, spec in specs.items() if spec.prices is not None}
    assert {"openai", "gemini", "vertex", "mistral", "groq", "dashscope", "moonshot", "zai", "minimax",
            "doubao", "mimo", "elevenlabs", "bfl", "runway", "xai", "bedrock", "stepfun"} <= shipping
    # Mainland platforms bill in CNY: the USD figures are not theirs. Azure names deployments.
    # The video vendors price one model id differently by resolution, mode and clip length (or
    # in credits), which one price per second cannot say; OpenRouter's price follows the
    # provider it routes to. None of them ships a sheet that would misprice calls.
    assert not {"zhipu", "minimax-cn", "azure", "kling", "vidu", "pixverse", "ltx", "hunyuan-video",
                "openrouter"} & shipping
    for name in shipping - {"anthropic", "deepseek", "xai", "stepfun"}:
        assert specs[name].prices.load().source == LITELLM, name
    # StepFun's sheet is the vendor's own page, in the currency it bills.
    stepfun = specs["stepfun"].prices.load()
    assert stepfun.currency == "CNY"
    assert {e.source for e in stepfun.entries} == {STEPFUN_PAGE}


def test_media_prices_per_unit() -> None:
    table = price_table([], _specs(), BillingConfig())
    assert table.get("m", "openai", "sora-2") == Price(video_second=to_units("0.1"))
    assert table.get("m", "openai", "tts-1") == Price(speech_1k_chars=to_units("0.015"))
    assert table.get("m", "gemini", "imagen-3.0-generate-001") == Price(image=to_units("0.04"))
    assert table.get("m", "gemini", "veo-3.1-generate-001") == Price(video_second=to_units("0.4"))
    assert table.get("m", "elevenlabs", "eleven_multilingual_v2") == Price(speech_1k_chars=to_units("0.08"))
    assert table.get("m", "bfl", "flux-pro-1.1") == Price(image=to_units("0.04"))
    assert table.get("m", "runway", "gen4_turbo") == Price(video_second=to_units("0.05"))
    # The xAI sheet keeps its Grok 2/3 figures and adds the later models.
    assert table.get("m", "xai", "grok-3").input == to_units(3)
    assert table.get("m", "xai", "grok-4.20") == Price(input=to_units("1.25"), output=to_units("2.5"),
                                                      cached_input=to_units("0.2"))
    # Vertex serves the same Gemini ids and reads the same sheet.
    assert table.get("m", "vertex", "gemini-2.5-flash") == table.get("m", "gemini", "gemini-2.5-flash")


# provider, vendor model id, (input, cached_input, output) per million as the sheet writes them
CHAT = [
    ("openai", "gpt-4o", ("2.5", "1.25", "10")),
    ("groq", "openai/gpt-oss-120b", ("0.15", "0.075", "0.6")),
    ("moonshot", "kimi-k2.5", ("0.6", "0.1", "3")),
    ("zai", "glm-4.7", ("0.6", "0.11", "2.2")),
    ("mimo", "mimo-v2.6-flash", ("0.14", "0.0028", "0.28")),
    ("xai", "grok-4.20", ("1.25", "0.2", "2.5")),
    ("mistral", "mistral-large-latest", ("0.5", "0.05", "1.5")),
    ("dashscope", "qwen-plus", ("0.4", "0.4", "1.2")),  # no cache price: cached tokens at input
    ("doubao", "doubao-seed-2-1-pro-260628", ("0.8625", "0.1725", "4.3125")),
]


@pytest.fixture
def fake_chat():
    fake = FakeOpenAI(api_key=None)  # MiMo sends its key as api-key, the others as a bearer token
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_gemini():
    fake = FakeGemini(api_key="gm-defaults").start()
    yield fake
    fake.stop()


def test_a_call_per_vendor_is_charged_its_sheet_price(relayport_gateway, store_url, fake_chat,  # noqa: F811
                                                      fake_gemini) -> None:
    models = [{"name": f"m-{provider}", "provider": provider, "model": model, "base_url": fake_chat.base_url,
               "api_key": "sk-vendor-defaults"} for provider, model, _ in CHAT]
    models.append({"name": "m-gemini", "provider": "gemini", "model": "gemini-2.5-flash",
                   "base_url": fake_gemini.base_url, "api_key": fake_gemini.api_key})
    gw = relayport_gateway({"server": {"store": store_url}, "auth": {"admin_keys": [ADMIN]}, "models": models},
                           env={"RELAYPORT_LOAD_PLUGINS": ",".join([p for p, _, _ in CHAT if p != "zai"] + ["zhipu", "gemini"])})
    secret = create(gw, name="vendors", balance="5")
    oa = openai.OpenAI(base_url=gw.openai_base_url, api_key=secret, max_retries=0)
    want: dict[str, Decimal] = {}
    for provider, _, (inp, cached, out) in CHAT:
        fake_chat.queue_text("ok", usage=fake_chat.usage(5000, 700, cached=3000))
        oa.chat.completions.create(model=f"m-{provider}", messages=[{"role": "user", "content": "hi"}])
        want[f"m-{provider}"] = (2000 * Decimal(inp) + 3000 * Decimal(cached) + 700 * Decimal(out)) / M

    # Gemini counts cached tokens inside the prompt and thoughts apart from the answer.
    fake_gemini.queue_turn([{"text": "ok"}], usage={
        "promptTokenCount": 4000, "cachedContentTokenCount": 1000, "candidatesTokenCount": 300,
        "thoughtsTokenCount": 200, "totalTokenCount": 4500})
    client = genai.Client(api_key=secret, http_options={"base_url": gw.url})
    client.models.generate_content(model="m-gemini", contents="hi")
    want["m-gemini"] = (3000 * Decimal("0.3") + 1000 * Decimal("0.03") + 500 * Decimal("2.5")) / M

    got = {r["model"]: Decimal(r["cost"]) for r in admin(gw, "GET", "/admin/usage?by=model").json()["data"]}
    assert got == want


@pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")
def test_openai_media_is_charged_its_sheet_price(relayport_gateway, store_url, fake_openai) -> None:  # noqa: F811
    assert fake_openai.media is not None
    fake_openai.media.video_steps = ("queued", "completed")
    up = {"provider": "openai", "base_url": fake_openai.base_url, "api_key": fake_openai.api_key}
    gw = relayport_gateway({
        "server": {"store": store_url}, "auth": {"admin_keys": [ADMIN]},
        "tasks": {"poll_interval": 0.05, "jitter": 0.0},
        "models": [{"name": "sora", "model": "sora-2", **up}, {"name": "tts", "model": "tts-1", **up},
                   {"name": "gpt-image", "model": "gpt-image-1", **up}],
    }, env={"RELAYPORT_LOAD_PLUGINS": "openai"})
    secret = create(gw, name="studio", balance="5")
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=secret, max_retries=0)
    spoken = "Shipped prices, spoken aloud."

    video = client.videos.create(model="sora", prompt="a boat at dawn", seconds="8")
    client.audio.speech.create(model="tts", voice="alloy", input=spoken)
    client.images.generate(model="gpt-image", prompt="a harbour")  # the fake reports 12 in, 4160 out
    deadline = time.time() + 10
    while client.videos.retrieve(video.id).status != "completed":
        assert time.time() < deadline, "the video did not finish"
        time.sleep(0.05)

    want = {"sora": 8 * Decimal("0.1"), "tts": len(spoken) * Decimal("0.015") / 1000,
            "gpt-image": (12 * Decimal(5) + 4160 * Decimal(40)) / M}  # image tokens at the image-token price
    deadline = time.time() + 5
    while True:
        rows = {r["model"]: r for r in admin(gw, "GET", "/admin/usage?by=model").json()["data"]}
        if len(rows) == 3 or time.time() > deadline:
            break
        time.sleep(0.1)
    assert {m: Decimal(r["cost"]) for m, r in rows.items()} == want


def test_speech_and_image_vendors_are_charged_their_sheet_price(relayport_gateway, store_url) -> None:  # noqa: F811
    eleven, bfl = FakeElevenLabs(), FakeBFL()
    eleven.start()
    bfl.start()
    try:
        gw = relayport_gateway({
            "server": {"store": store_url}, "auth": {"admin_keys": [ADMIN]},
            "tasks": {"poll_intervals": {"bfl": 0.05}, "jitter": 0.0},
            "models": [
                {"name": "voice", "provider": "elevenlabs", "model": "eleven_multilingual_v2",
                 "base_url": eleven.url, "api_key": XI_KEY},
                {"name": "flux", "provider": "bfl", "model": "flux-pro-1.1", "base_url": bfl.url, "api_key": BFL_KEY},
            ]}, env={"RELAYPORT_LOAD_PLUGINS": "elevenlabs,bfl"})
        secret = create(gw, name="media", balance="5")
        client = openai.OpenAI(base_url=gw.openai_base_url, api_key=secret, max_retries=0, timeout=20)
        spoken = "Hello there, general listener."
        client.audio.speech.create(model="voice", voice=VOICE, input=spoken)
        client.images.generate(model="flux", prompt="a red kite", size="1024x768")
        want = {"voice": len(spoken) * Decimal("0.08") / 1000, "flux": Decimal("0.04")}
        deadline = time.time() + 5
        while True:
            rows = {r["model"]: Decimal(r["cost"]) for r in admin(gw, "GET", "/admin/usage?by=model").json()["data"]}
            if len(rows) == 2 or time.time() > deadline:
                break
            time.sleep(0.1)
        assert rows == want
    finally:
        eleven.stop()
        bfl.stop()


@pytest.fixture
def fake_bedrock():
    yield from serving(FakeBedrock())


def test_bedrock_is_charged_its_sheet_price(relayport_gateway, store_url, fake_bedrock) -> None:  # noqa: F811
    up = {"provider": "bedrock", "base_url": fake_bedrock.base_url, "api_key": fake_bedrock.api_key}
    gw = relayport_gateway({"server": {"store": store_url}, "auth": {"admin_keys": [ADMIN]}, "models": [
        # A US cross-region profile costs more than the base id; the sheet prices each as AWS does.
        {"name": "sonnet-us", "model": "us.anthropic.claude-sonnet-4-6", **up},
        {"name": "haiku", "model": "anthropic.claude-haiku-4-5-20251001-v1:0", **up},
        {"name": "llama", "model": "meta.llama3-3-70b-instruct-v1:0", **up},
    ]}, env={"RELAYPORT_LOAD_PLUGINS": "bedrock,anthropic"})  # anthropic: the Messages surface
    secret = create(gw, name="bedrock", balance="5")
    oa = openai.OpenAI(base_url=gw.openai_base_url, api_key=secret, max_retries=0)
    msgs = [{"role": "user", "content": "hi"}]

    # Converse counts the cache read and written apart from the uncached prompt.
    fake_bedrock.queue_text("a", usage={"inputTokens": 400, "outputTokens": 90, "cacheReadInputTokens": 2000,
                                        "cacheWriteInputTokens": 300})
    oa.chat.completions.create(model="sonnet-us", messages=msgs)
    # Claude's own Messages API on InvokeModel, for an Anthropic client.
    fake_bedrock.queue_text("b", usage={"inputTokens": 1200, "outputTokens": 250,
                                        "cacheReadInputTokens": 800})
    anthropic.Anthropic(base_url=gw.url, api_key=secret, max_retries=0).messages.create(
        model="haiku", max_tokens=300, messages=msgs)
    fake_bedrock.queue_text("c d", usage={"inputTokens": 700, "outputTokens": 40})
    for _ in oa.chat.completions.create(model="llama", messages=msgs, stream=True):
        pass

    want = {
        "sonnet-us": (400 * Decimal("3.3") + 2000 * Decimal("0.33") + 300 * Decimal("4.125")
                      + 90 * Decimal("16.5")) / M,
        "haiku": (1200 * Decimal(1) + 800 * Decimal("0.1") + 250 * Decimal(5)) / M,
        "llama": (700 * Decimal("0.72") + 40 * Decimal("0.72")) / M,
    }
    got = {r["model"]: Decimal(r["cost"]) for r in admin(gw, "GET", "/admin/usage?by=model").json()["data"]}
    assert got == want


@pytest.fixture
def fake_stepfun():
    yield from serving(FakeStepFun())


def test_stepfun_cny_prices_are_charged_at_the_configured_rate(relayport_gateway, store_url,  # noqa: F811
                                                              fake_stepfun) -> None:
    gw = relayport_gateway({
        "server": {"store": store_url}, "auth": {"admin_keys": [ADMIN]},
        "billing": {"currency": "USD", "rates": {"CNY": 0.14}},
        "models": [{"name": "step", "provider": "stepfun", "model": "step-3.7-flash",
                    "base_url": fake_stepfun.base_url, "api_key": fake_stepfun.api_key}],
    }, env={"RELAYPORT_LOAD_PLUGINS": "stepfun"})
    secret = create(gw, name="stepfun", balance="5")
    oa = openai.OpenAI(base_url=gw.openai_base_url, api_key=secret, max_retries=0)
    msgs = [{"role": "user", "content": "hi"}]
    fake_stepfun.queue_text("ok", usage=fake_stepfun.usage(5000, 700, cached=3000))
    oa.chat.completions.create(model="step", messages=msgs)
    # A stream repeats its cumulative usage on every chunk: it is charged once.
    fake_stepfun.queue_text("one two three", usage=fake_stepfun.usage(900, 120))
    for _ in oa.chat.completions.create(model="step", messages=msgs, stream=True):
        pass

    # CNY 1.35 / 0.27 / 8.1 per million, at 0.14 USD per yuan.
    rate = Decimal("0.14")
    inp, cached, out = Decimal("1.35") * rate, Decimal("0.27") * rate, Decimal("8.1") * rate
    want = (2000 * inp + 3000 * cached + 700 * out + 900 * inp + 120 * out) / M
    got = {r["model"]: Decimal(r["cost"]) for r in admin(gw, "GET", "/admin/usage?by=model").json()["data"]}
    assert got == {"step": want}
    listed = {r["model"]: r for r in admin(gw, "GET", "/admin/prices").json()["data"]}
    assert listed["step"]["price"] == {"input": "0.189", "output": "1.134", "cached_input": "0.0378"}
