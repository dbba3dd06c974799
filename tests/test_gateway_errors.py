"""Bad input, vendor failures and disconnects: a clear error in the OpenAI envelope, never a hang."""

from __future__ import annotations

import time

import httpx
import openai
import orjson
import pytest

from relayport.testing import openapi
from relayport.testing.fakes import Reply, openai_error
from relayport.testing.servers import closed_port
from tests.fake_echo import ECHO_KEY

GW_KEY = "sk-gw-errors"


@pytest.fixture
def gw(relayport_gateway, fake_openai, fake_echo):
    return relayport_gateway(
        {
            "server": {"max_body_bytes": 4096},
            "auth": {"keys": [GW_KEY]},
            "models": [
                {"name": "gpt-test", "provider": "openai", "model": "gpt-4o-mini",
                 "base_url": fake_openai.base_url, "api_key": fake_openai.api_key,
                 "timeouts": {"first_byte": 1.0, "idle": 1.0}},
                {"name": "echo-test", "provider": "echo", "base_url": fake_echo.base_url, "api_key": ECHO_KEY,
                 "timeouts": {"first_byte": 1.0, "idle": 1.0}},
                {"name": "down", "provider": "openai", "base_url": f"http://127.0.0.1:{closed_port()}/v1",
                 "api_key": "sk-x"},
            ],
        },
        env={},
    )


def post(gw, body, **kw):
    headers = kw.pop("headers", gw.headers())
    return httpx.post(gw.openai_base_url + "/chat/completions", headers=headers, timeout=10, **kw,
                      **({"json": body} if not isinstance(body, (bytes, str)) else {"content": body}))


def assert_envelope(r: httpx.Response, status: int, code: str | None = None, param: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    openapi.validate_error(body)
    assert set(body["error"]) == {"message", "type", "param", "code"}
    if code is not None:
        assert body["error"]["code"] == code
    if param is not None:
        assert body["error"]["param"] == param
    assert "Traceback" not in r.text
    return body["error"]


def test_malformed_json(gw):
    err = assert_envelope(post(gw, b'{"model": "gpt-test", "messages": ['), 400, "invalid_json")
    assert "not valid JSON" in err["message"]
    assert_envelope(post(gw, b"[1, 2]"), 400, "invalid_json")
    assert_envelope(post(gw, b""), 400, "invalid_json")


@pytest.mark.parametrize("model", ["gpt-test", "echo-test"])
@pytest.mark.parametrize(
    ("patch", "param"),
    [
        ({"messages": "hi"}, "messages"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"content": "x"}]}, "messages[0].role"),
        ({"stream": "yes"}, "stream"),
        ({"temperature": "hot"}, "temperature"),
        ({"max_tokens": 1.5}, "max_tokens"),
        ({"model": 42}, "model"),
    ],
)
def test_wrong_field_types_name_the_field(gw, model, patch, param):
    body = {"model": model, "messages": [{"role": "user", "content": "x"}], **patch}
    err = assert_envelope(post(gw, body), 400, param=param)
    assert param in err["message"]


def test_translated_path_names_nested_fields(gw):
    body = {"model": "echo-test", "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"description": "no name"}}]}
    assert_envelope(post(gw, body), 400, param="tools[0].function.name")


def test_unknown_model_is_404(gw):
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=GW_KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    err = assert_envelope(info.value.response, 404, "model_not_found", "model")
    assert "no-such-model" in err["message"]


def test_gateway_key_required(gw):
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "x"}]}
    assert_envelope(post(gw, body, headers={}), 401, "missing_api_key")
    assert_envelope(post(gw, body, headers={"Authorization": "Bearer wrong"}), 401, "invalid_api_key")
    assert post(gw, body, headers={"x-api-key": GW_KEY}).status_code == 200
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_body_over_limit_is_413(gw):
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "x" * 10_000}]}
    assert_envelope(post(gw, body), 413, "request_too_large")


def test_unknown_route_and_method(gw):
    assert_envelope(httpx.get(gw.url + "/v1/nothing", headers=gw.headers()), 404)
    assert_envelope(httpx.get(gw.openai_base_url + "/chat/completions", headers=gw.headers()), 405)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 429, 500, 503])
def test_vendor_errors_keep_status_and_message(gw, fake_openai, status):
    headers = {"retry-after": "7"} if status == 429 else {}
    reply = openai_error(status, f"upstream problem {status}", code="some_code")
    reply.headers.update(headers)
    fake_openai.push(reply)
    r = post(gw, {"model": "gpt-test", "messages": [{"role": "user", "content": "x"}]})
    err = assert_envelope(r, status)
    assert err["message"] == f"openai: upstream problem {status}"
    assert err["code"] == "some_code"
    if status == 429:
        assert r.headers["retry-after"] == "7"
    assert fake_openai.api_key not in r.text


def test_vendor_error_in_plugin_envelope(gw, fake_echo):
    fake_echo.push(Reply.json({"problem": "quota gone", "retry": False}, status=402))
    err = assert_envelope(post(gw, {"model": "echo-test", "messages": [{"role": "user", "content": "x"}]}), 402)
    assert err["message"] == "echo: quota gone"


def test_vendor_error_non_json_body(gw, fake_openai):
    fake_openai.push(Reply(status=502, body=b"<html>Bad Gateway</html>"))
    err = assert_envelope(post(gw, {"model": "gpt-test", "messages": [{"role": "user", "content": "x"}]}), 502)
    assert "Bad Gateway" in err["message"]


def test_vendor_unreachable_is_502(gw):
    err = assert_envelope(post(gw, {"model": "down", "messages": [{"role": "user", "content": "x"}]}), 502,
                          "upstream_unreachable")
    assert "sk-x" not in err["message"]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", ["gpt-test", "echo-test"])
def test_vendor_that_hangs_is_504(gw, fake_openai, fake_echo, stream, model):
    (fake_openai if model == "gpt-test" else fake_echo).push(Reply(hang=True))
    started = time.monotonic()
    r = post(gw, {"model": model, "stream": stream, "messages": [{"role": "user", "content": "x"}]})
    assert_envelope(r, 504, "upstream_timeout")
    assert time.monotonic() - started < 5


def test_vendor_dropping_mid_stream_ends_with_error_event(gw, fake_openai):
    fake_openai.queue_text("one two three four five six", drop_after=3)
    client = openai.OpenAI(base_url=gw.openai_base_url, api_key=GW_KEY, max_retries=0)
    text = ""
    with pytest.raises(openai.APIError) as info:
        for chunk in client.chat.completions.create(
                model="gpt-test", messages=[{"role": "user", "content": "x"}], stream=True):
            text += chunk.choices[0].delta.content or ""
    assert text == "one two"  # what arrived before the drop is kept
    assert "openai" in str(info.value.message)


def test_translated_stream_cut_short_ends_with_error_event(gw, fake_echo):
    fake_echo.push(Reply.sse([b'{"delta": "partial"}\n'], headers={"Content-Type": "application/x-ndjson"}))
    with httpx.stream("POST", gw.openai_base_url + "/chat/completions", headers=gw.headers(), json={
            "model": "echo-test", "stream": True, "messages": [{"role": "user", "content": "x"}]}) as r:
        assert r.status_code == 200
        raw = r.read()
    datas = [orjson.loads(line[6:]) for line in raw.split(b"\n") if line.startswith(b"data: {")]
    assert datas[0]["choices"][0]["delta"]["content"] in ("", "partial")
    assert datas[-1]["error"]["message"] == "echo: the stream ended before it was done."
    openapi.validate_error(datas[-1])
    assert b"[DONE]" not in raw


def test_client_disconnect_cancels_upstream(gw, fake_openai):
    words = " ".join(f"w{i}" for i in range(200))
    fake_openai.queue_text(words, delay=0.05)
    with httpx.stream("POST", gw.openai_base_url + "/chat/completions", headers=gw.headers(), json={
            "model": "gpt-test", "stream": True, "messages": [{"role": "user", "content": "x"}]}) as r:
        it = r.iter_bytes()
        next(it)
        next(it)
    deadline = time.monotonic() + 5
    while fake_openai.cancelled_streams < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake_openai.cancelled_streams == 1
    assert fake_openai.open_streams == 0


def test_fallback_to_next_deployment(relayport_gateway, fake_openai):
    gw = relayport_gateway({"models": [
        {"name": "m", "provider": "openai", "base_url": f"http://127.0.0.1:{closed_port()}/v1", "api_key": "k"},
        {"name": "m", "provider": "openai", "base_url": fake_openai.base_url, "api_key": fake_openai.api_key},
    ]}, env={})
    r = post(gw, {"model": "m", "messages": [{"role": "user", "content": "fallback"}]})
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "echo: fallback"
    fake_openai.push(openai_error(400, "bad request is final"))
    r = post(gw, {"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 400  # not retryable: no second try hides it


def test_no_traceback_on_plugin_crash(relayport_gateway):
    from relayport import hookimpl
    from relayport.provider import ProviderSpec

    class Crashing:
        @hookimpl
        def relayport_register_providers(self, register):
            register(ProviderSpec(name="crashy", base_url="https://crashy.example", key_env=()))

        @hookimpl
        def relayport_translate_request(self, deployment, request):
            raise RuntimeError("secret internal detail")

    gw = relayport_gateway({"models": [{"name": "c", "provider": "crashy"}]}, env={},
                           extra_plugins={"crashy": Crashing()})
    err = assert_envelope(post(gw, {"model": "c", "messages": [{"role": "user", "content": "x"}]}), 500,
                          "internal_error")
    assert "secret internal detail" not in err["message"] and "incident" in err["message"]
