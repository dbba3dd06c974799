"""The TOML config (people write it: typos and wrong types must fail loudly, naming where) and
the reading of vendor error responses into gateway errors."""

from __future__ import annotations

import email.utils
import time
import tomllib
from pathlib import Path

import pytest
from multidict import CIMultiDict

from relayport.config import Config, ConfigError, load_config, parse_config
from relayport.model import GatewayError, UpstreamResponse
from relayport.provider import Timeouts
from relayport.vendor_errors import map_error, retry_after

# ----------------------------------------------------------------------------- config

FULL_EXAMPLE = """\
# relayport.toml: everything a deployment may set
[server]
host = "0.0.0.0"
port = 9000
max_body_bytes = 10_485_760
state_path = "/var/lib/relayport/state.sqlite3"
log_level = "debug"
log_requests = false

[auth]
keys = ["env:RELAYPORT_KEY", "sk-relay-local"]

[[models]]
name = "gpt-4o"
provider = "openai"
api_key = "env:OPENAI_API_KEY"

[[models]]
name = "reasoner"
provider = "deepseek"
model = "deepseek-reasoner"
base_url = "https://api.deepseek.com"
api_key = "env:DEEPSEEK_KEY_2"
proxy = "http://proxy.internal:3128"
headers = { "X-Team" = "research", "X-Trace" = "on" }

[models.timeouts]
connect = 5
first_byte = 900
idle = 120.5
total = 3600

[models.options]
thinking = "always"
nested = { a = [1, 2], b = true }

[[models]]
name = "reasoner"          # a second deployment of the same name: the fallback
provider = "openai"
model = "o4-mini"

[models.timeouts]
total = 60
"""


def write(tmp_path: Path, text: str, name: str = "relayport.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message, "the error must name the file"
    return message


def test_defaults() -> None:
    for config in (Config(), load_config(None), parse_config({})):
        assert (config.server.host, config.server.port) == ("127.0.0.1", 8080)
        assert config.server.max_body_bytes == 32 * 1024 * 1024
        assert config.server.state_path == "relayport.sqlite3"
        assert config.server.log_requests is True
        assert config.auth.keys == []
        assert config.models == []
    assert load_config(None).source == "<defaults>"


def test_full_example(tmp_path: Path) -> None:
    path = write(tmp_path, FULL_EXAMPLE)
    config = load_config(path)
    assert config.source == str(path)
    s = config.server
    assert (s.host, s.port, s.max_body_bytes, s.state_path, s.log_level, s.log_requests) == (
        "0.0.0.0", 9000, 10 * 1024 * 1024, "/var/lib/relayport/state.sqlite3", "debug", False,
    )
    assert config.auth.keys == ["env:RELAYPORT_KEY", "sk-relay-local"]
    gpt, reasoner, fallback = config.models
    assert (gpt.name, gpt.provider, gpt.model, gpt.base_url, gpt.api_key) == (
        "gpt-4o", "openai", None, None, "env:OPENAI_API_KEY",
    )
    assert gpt.timeouts == Timeouts()
    assert reasoner.model == "deepseek-reasoner"
    assert reasoner.base_url == "https://api.deepseek.com"
    assert reasoner.proxy == "http://proxy.internal:3128"
    assert reasoner.headers == {"X-Team": "research", "X-Trace": "on"}
    assert reasoner.timeouts == Timeouts(connect=5, first_byte=900, idle=120.5, total=3600)
    assert reasoner.options == {"thinking": "always", "nested": {"a": [1, 2], "b": True}}
    assert (fallback.name, fallback.provider, fallback.model) == ("reasoner", "openai", "o4-mini")
    # a partial timeouts table keeps the other defaults
    assert fallback.timeouts == Timeouts(total=60)


def test_readme_example_is_valid() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Configuration", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    config = parse_config(tomllib.loads(example), "README.md")
    assert config.auth.keys == ["env:RELAYPORT_KEY", "sk-literal-key"]
    first, fallback, local = config.models
    assert (local.provider, local.base_url, local.options) == (
        "openai-compatible", "http://127.0.0.1:8000/v1", {"think_tags": True, "max_output_tokens": 8192})
    assert first.timeouts == Timeouts(connect=10, first_byte=600, idle=300, total=1800)
    assert first.headers == {"OpenAI-Organization": "org-123"}
    assert (first.name, fallback.name) == ("gpt-4o-mini", "gpt-4o-mini")


def test_unknown_top_level_key(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[sevrer]\nport = 1\n')
    assert "sevrer" in message


def test_unknown_key_in_server(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[server]\nprot = 9000\n")
    assert "prot" in message and "server" in message


def test_unknown_key_inside_a_model(tmp_path: Path) -> None:
    message = config_error(
        tmp_path, '[[models]]\nname = "a"\nprovider = "openai"\n\n[[models]]\nname = "b"\nprovider = "openai"\napi_kye = "x"\n'
    )
    assert "api_kye" in message and "models[1]" in message


def test_unknown_key_inside_timeouts(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[[models]]\nname = "a"\nprovider = "openai"\n[models.timeouts]\nconect = 1\n')
    assert "conect" in message and "timeouts" in message


@pytest.mark.parametrize(
    ("toml", "where"),
    [
        ('[server]\nport = "eighty"\n', "server.port"),
        ('[server]\nport = "8080"\n', "server.port"),
        ("[server]\nport = 8080.5\n", "server.port"),
        ("[server]\nport = true\n", "server.port"),
        ('[server]\nlog_requests = "no"\n', "server.log_requests"),
        ("[server]\nhost = 127\n", "server.host"),
        # a single string is not a list of keys: split into characters, every letter would open the gateway
        ('[auth]\nkeys = "sk-relay-local"\n', "auth.keys"),
        ("[auth]\nkeys = [1, 2]\n", "auth.keys"),
        ('[models]\nname = "a"\nprovider = "openai"\n', "models"),
        ('[[models]]\nname = "a"\nprovider = "openai"\nheaders = "X-A: b"\n', "models[0].headers"),
        ('[[models]]\nname = "a"\nprovider = "openai"\n[models.timeouts]\ntotal = "60s"\n', "models[0].timeouts.total"),
    ],
)
def test_wrong_type(tmp_path: Path, toml: str, where: str) -> None:
    message = config_error(tmp_path, toml)
    assert where in message


def test_missing_provider(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[[models]]\nname = "gpt-4o"\n')
    assert "provider" in message and "models[0]" in message and "missing" in message


def test_empty_provider(tmp_path: Path) -> None:
    message = config_error(tmp_path, '[[models]]\nname = "gpt-4o"\nprovider = ""\n')
    assert "provider" in message


@pytest.mark.parametrize("url", ["api.openai.com/v1", "ftp://api.openai.com", "ws://x"])
def test_bad_base_url_scheme(tmp_path: Path, url: str) -> None:
    message = config_error(tmp_path, f'[[models]]\nname = "m"\nprovider = "openai"\nbase_url = "{url}"\n')
    assert "base_url" in message and url in message and "http" in message


@pytest.mark.parametrize("field", ["connect", "first_byte", "idle", "total"])
@pytest.mark.parametrize("value", ["0", "-1.5"])
def test_non_positive_timeout(tmp_path: Path, field: str, value: str) -> None:
    message = config_error(
        tmp_path, f'[[models]]\nname = "m"\nprovider = "openai"\n[models.timeouts]\n{field} = {value}\n'
    )
    assert f"timeouts.{field}" in message and "positive" in message


def test_bad_port_and_body_limit_are_all_reported(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[server]\nport = 70000\nmax_body_bytes = 0\n")
    assert "server.port" in message and "server.max_body_bytes" in message


def test_invalid_toml(tmp_path: Path) -> None:
    message = config_error(tmp_path, "[server\nport = 1\n")
    assert "TOML" in message and "line 1" in message


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[server]\nhost = "café"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    assert str(missing) in str(info.value) and "cannot read" in str(info.value)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path)  # a directory


def test_parse_config_names_its_source() -> None:
    with pytest.raises(ConfigError, match="^env-config: "):
        parse_config({"typo": 1}, source="env-config")


# ----------------------------------------------------------------------------- vendor errors


def response(status: int, body: bytes | str, **headers: str) -> UpstreamResponse:
    raw = body.encode() if isinstance(body, str) else body
    return UpstreamResponse(status, CIMultiDict({k.replace("_", "-"): v for k, v in headers.items()}), raw)


def test_openai_envelope() -> None:
    err = map_error(
        response(400, '{"error":{"message":"Invalid value for messages[0].role","type":"invalid_request_error",'
                      '"param":"messages[0].role","code":"invalid_value"}}'),
        "openai",
    )
    assert isinstance(err, GatewayError)
    assert (err.status, err.type, err.code, err.param, err.retryable) == (
        400, "invalid_request_error", "invalid_value", "messages[0].role", False,
    )
    assert err.message == "openai: Invalid value for messages[0].role"


def test_anthropic_overloaded_529_is_retryable() -> None:
    err = map_error(
        response(529, '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},'
                      '"request_id":"req_011"}'),
        "anthropic",
    )
    assert err.status == 529
    assert err.retryable is True
    assert err.type == "overloaded_error"
    assert err.message == "anthropic: Overloaded"


def test_google_status_word_becomes_the_code() -> None:
    body = ('{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).",'
            '"status":"RESOURCE_EXHAUSTED"}}')
    for raw in (body, f"[{body}]"):  # Google sometimes wraps the envelope in an array
        err = map_error(response(429, raw), "gemini")
        assert err.code == "RESOURCE_EXHAUSTED"
        assert err.type == "rate_limit_error"
        assert err.retryable is True
        assert err.message == "gemini: Resource has been exhausted (e.g. check quota)."


def test_google_invalid_argument() -> None:
    err = map_error(
        response(400, '{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT"}}'), "gemini"
    )
    assert (err.status, err.type, err.code, err.retryable) == (400, "invalid_request_error", "INVALID_ARGUMENT", False)


def test_azure_numeric_status_is_not_a_type() -> None:
    # Azure repeats the HTTP status as a number in `status`; it used to crash the reader.
    err = map_error(response(400, '{"error":{"message":"filtered","type":null,"param":"prompt",'
                                  '"code":"content_filter","status":400}}'), "azure")
    assert (err.status, err.type, err.code, err.param) == (400, "invalid_request_error", "content_filter", "prompt")


def test_dashscope_envelope() -> None:
    err = map_error(
        response(429, '{"code":"Throttling","message":"Requests rate limit exceeded.","request_id":"b7b2"}'),
        "dashscope",
    )
    assert (err.code, err.message, err.retryable) == ("Throttling", "dashscope: Requests rate limit exceeded.", True)


def test_minimax_base_resp() -> None:
    # MiniMax answers HTTP 200 with the error in `base_resp`: that is a failed call, not a success.
    err = map_error(response(200, '{"base_resp":{"status_code":1002,"status_msg":"rate limit exceeded"}}'), "minimax")
    assert err.status == 502
    assert err.code == "1002"
    assert err.message == "minimax: rate limit exceeded"


def test_bare_message_and_detail_bodies() -> None:
    assert map_error(response(404, '{"detail":"Not Found"}'), "v").message == "v: Not Found"
    assert map_error(response(500, '{"error":"internal"}'), "v").message == "v: internal"


def test_plain_text_body() -> None:
    err = map_error(response(502, "<html>Bad Gateway</html>\n"), "moonshot")
    assert (err.status, err.message, err.type, err.retryable) == (
        502, "moonshot: <html>Bad Gateway</html>", "upstream_error", True,
    )
    assert map_error(response(503, b""), "v").message == "v: HTTP 503"
    long = map_error(response(500, "x" * 10_000), "v").message
    assert len(long) < 400


def test_non_error_status_becomes_502() -> None:
    assert map_error(response(302, "moved"), "v").status == 502


def test_retry_after_seconds() -> None:
    err = map_error(response(429, "{}", Retry_After="7"), "v")
    assert err.retry_after == 7.0


def test_retry_after_http_date() -> None:
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    wait = map_error(response(503, "{}", Retry_After=future), "v").retry_after
    assert wait is not None and 25 <= wait <= 31
    past = email.utils.formatdate(time.time() - 3600, usegmt=True)
    assert map_error(response(503, "{}", Retry_After=past), "v").retry_after == 0.0


def test_retry_after_ms_wins() -> None:
    err = map_error(response(429, "{}", retry_after_ms="1500", retry_after="9"), "openai")
    assert err.retry_after == 1.5


def test_retry_after_garbage_is_ignored() -> None:
    assert map_error(response(429, "{}", Retry_After="soon"), "v").retry_after is None
    assert map_error(response(429, "{}", retry_after_ms="x", Retry_After="4"), "v").retry_after == 4.0
    assert retry_after(CIMultiDict()) is None
    assert retry_after({"retry-after": "-5"}) == 0.0


def test_x_should_retry_overrides_the_status() -> None:
    assert map_error(response(529, "{}", x_should_retry="false"), "anthropic").retryable is False
    assert map_error(response(400, "{}", x_should_retry="true"), "openai").retryable is True
    assert map_error(response(503, "{}", x_should_retry="maybe"), "v").retryable is True


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (401, False), (403, False), (404, False), (408, True), (409, True), (429, True),
     (500, True), (502, True), (503, True), (504, True), (529, True)],
)
def test_retryable_by_status(status: int, retryable: bool) -> None:
    err = map_error(response(status, "{}"), "v")
    assert (err.status, err.retryable) == (status, retryable)
