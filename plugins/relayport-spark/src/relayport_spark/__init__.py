"""relayport plugin for iFlytek Spark (星火) over its OpenAI-like HTTP API.

What differs from OpenAI (xfyun.cn/doc/spark/HTTP调用文档 and X1http, and clients that call it):
- model ids are Spark's own: `lite`, `generalv3` (Pro), `pro-128k`, `generalv3.5` (Max),
  `max-32k`, `4.0Ultra` on `/v1/chat/completions`, and the reasoning model `x1` on
  `/v2/chat/completions` of the same host, whether `base_url` is the host or its `/v1` or
  `/v2` (`options.chat_path` overrides);
- the key is the HTTP `APIPassword`, or `APIKey:APISecret` joined by a colon, as a Bearer token;
- every answer and chunk carries `code` (0 = success), `message`, `sid`: a non-zero `code` is
  an error even under HTTP 200, so calls are always translated (`relayport_spark.response`);
- `temperature` is (0, 1] on v1 models and (0, 2] on x1, `max_tokens` at most 8192 (x1: 32768):
  values outside are clamped and announced;
- thinking is the model: `x1` always reasons (`reasoning_content`), the others never; a
  request a model cannot follow is announced;
- web search is the `web_search` tool, which `enable_search` adds (or switches off).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

import orjson

from relayport import hookimpl
from relayport.model.chat import ChatRequest, ChatResponse
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.openai_compat import OpenAICompat, compat_for, translate_request
from relayport.provider import Deployment, ProviderSpec
from relayport_spark.errors import map_spark_error
from relayport_spark.response import SparkStreamParser, parse

COMPAT = OpenAICompat(
    chat_path="/v1/chat/completions",
    thinking="none",
    passthrough=False,        # errors inside 200 bodies and streams need reading
    finish_map={},
    fill_missing=True,
    max_output_tokens={"x1*": 32768, "*": 8192},
)

REASONING = ("x1*",)
V2_PATH = "/v2/chat/completions"

SPARK = ProviderSpec(
    name="spark",
    base_url="https://spark-api-open.xf-yun.com",
    key_env=("SPARK_API_PASSWORD", "SPARK_API_KEY"),
    model_patterns=("lite", "generalv3", "generalv3.5", "pro-128k", "max-32k", "4.0Ultra", "x1"),
    capabilities=frozenset({"chat", "stream", "tools", "thinking", "search"}),
    openai_compat=COMPAT,
    description="iFlytek Spark (HTTP API: Lite, Pro, Max, 4.0 Ultra, X1)",
)


@hookimpl
def relayport_register_providers(register: Callable[[ProviderSpec], None]) -> None:
    register(SPARK)


def _reasoning(model: str) -> bool:
    return any(fnmatch.fnmatchcase(model, p) for p in REASONING)


@hookimpl
def relayport_translate_request(deployment: Deployment, request: ChatRequest) -> UpstreamRequest:
    up = translate_request(deployment, COMPAT, request)
    reasoning = _reasoning(deployment.model)
    if "chat_path" not in deployment.options:
        up.url = chat_url(deployment.base_url, reasoning)
    body = orjson.loads(up.body or b"{}")
    adapt(body, deployment.model, reasoning, request, up.adjustments)
    up.body = orjson.dumps(body)
    return up


def chat_url(base_url: str, reasoning: bool) -> str:
    """The chat URL for a model, from the host root or from the `/v1` or `/v2` base URL that
    Spark's OpenAI SDK examples configure (either one serves both kinds of model here)."""
    root = base_url.rstrip("/")
    if root.endswith(("/v1", "/v2")):
        root = root[:-3]
    return root + (V2_PATH if reasoning else "/v1/chat/completions")


def adapt(body: dict[str, Any], model: str, reasoning: bool, request: ChatRequest,
          adjustments: list[str]) -> None:
    temperature = body.get("temperature")
    if isinstance(temperature, (int, float)):
        top = 2.0 if reasoning else 1.0
        fixed = min(max(temperature, 0.01), top)
        if fixed != temperature:
            body["temperature"] = fixed
            adjustments.append(f"temperature clamped to {fixed:g}")
    wanted = request.thinking.enabled if request.thinking else None
    if wanted is False and reasoning:
        adjustments.append(f"thinking cannot be turned off for {model}")
    elif wanted and not reasoning:
        adjustments.append(f"thinking ignored: {model} does not think; use x1")
    if request.enable_search is not None:
        tools = body.setdefault("tools", [])
        if not any(isinstance(t, dict) and t.get("type") == "web_search" for t in tools):
            tools.append({"type": "web_search",
                          "web_search": {"enable": request.enable_search, "search_mode": "normal"}})


@hookimpl
def relayport_parse_response(deployment: Deployment, request: ChatRequest,
                             response: UpstreamResponse) -> ChatResponse:
    return parse(compat_for(deployment, COMPAT), response, deployment.provider.name, deployment.model)


@hookimpl
def relayport_stream_parser(deployment: Deployment, request: ChatRequest) -> SparkStreamParser:
    return SparkStreamParser(compat_for(deployment, COMPAT), deployment.provider.name)


@hookimpl
def relayport_map_error(deployment: Deployment, response: UpstreamResponse) -> GatewayError:
    return map_spark_error(response, deployment.provider.name)
