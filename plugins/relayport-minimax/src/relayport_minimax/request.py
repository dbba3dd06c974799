"""A canonical chat request -> MiniMax's chat body (the OpenAI shape with MiniMax's rules)."""

from __future__ import annotations

import fnmatch
from typing import Any
from urllib.parse import urlsplit

import orjson

from relayport.model.chat import ChatRequest, Thinking
from relayport.model.content import AudioBlock, FileBlock, ImageBlock, VideoBlock
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest
from relayport.provider import Deployment
from relayport.wire import openai_chat
from relayport_minimax.reasoning import history_reasoning

CHAT_PATH = "/chat/completions"

# The M-series always reason (M2.x cannot be switched off; M3 thinks adaptively and takes
# `thinking: {type: disabled}` per third-party clients, UNCONFIRMED by MiniMax's pages).
REASONING_MODELS = ("minimax-m*",)
SWITCHABLE_THINKING = ("minimax-m3*",)
# Models that see images (M3 has native vision); MiniMax's chat models take no audio,
# video or files at all.
VISION_MODELS = ("minimax-m3*",)

_MEDIUM = {ImageBlock: "images", VideoBlock: "video", AudioBlock: "audio", FileBlock: "files"}


def _matches(model: str, patterns: tuple[str, ...]) -> bool:
    low = model.lower()
    return any(fnmatch.fnmatchcase(low, p) for p in patterns)


def v1_url(deployment: Deployment, path: str) -> str:
    """A `/v1` endpoint; a base URL given as the bare host (`https://api.minimaxi.com`) means its
    `/v1`, where MiniMax's APIs (chat, video, images, speech, files) live."""
    base = deployment.base_url.rstrip("/")
    if not urlsplit(base).path:
        base += "/v1"
    return base + path


def chat_url(deployment: Deployment) -> str:
    return v1_url(deployment, CHAT_PATH)


def check_media(request: ChatRequest, model: str) -> None:
    """A medium the model cannot take is the client's mistake: a 400 that names it."""
    vision = _matches(model, VISION_MODELS)
    for i, message in enumerate(request.messages):
        for j, block in enumerate(message.content):
            medium = _MEDIUM.get(type(block))
            if medium is None or (medium == "images" and vision):
                continue
            raise GatewayError(
                400, f"MiniMax model '{model}' does not take {medium} (messages[{i}].content[{j}]).",
                param=f"messages[{i}].content[{j}]", code="unsupported_media",
            )


def apply_thinking(body: dict[str, Any], thinking: Thinking | None, model: str,
                   adjustments: list[str]) -> None:
    if thinking is None:
        return
    if thinking.enabled is False:
        if _matches(model, SWITCHABLE_THINKING):
            body["thinking"] = {"type": "disabled"}
        elif _matches(model, REASONING_MODELS):
            adjustments.append(f"thinking stays on: {model} always reasons")
    if thinking.effort is not None:
        adjustments.append("reasoning_effort ignored: MiniMax has no effort control")
    if thinking.budget_tokens is not None:
        adjustments.append("thinking_budget ignored: MiniMax has no thinking budget")


def clamp_temperature(body: dict[str, Any], adjustments: list[str]) -> None:
    """MiniMax takes (0, 1] and refuses the rest with 2013 "invalid params" (its OpenAI and
    Anthropic endpoints alike); a value outside is moved to the nearest it takes."""
    temperature = body.get("temperature")
    if isinstance(temperature, (int, float)) and not 0 < temperature <= 1:
        body["temperature"] = min(max(temperature, 0.01), 1.0)
        adjustments.append(f"temperature {temperature} clamped to {body['temperature']}")


def build(deployment: Deployment, request: ChatRequest) -> UpstreamRequest:
    model = deployment.model
    check_media(request, model)
    body = openai_chat.encode_request(request, model)
    adjustments: list[str] = []
    # MiniMax documents `max_completion_tokens` and marks `max_tokens` deprecated.
    if "max_tokens" in body:
        body["max_completion_tokens"] = body.pop("max_tokens")
    clamp_temperature(body, adjustments)
    apply_thinking(body, request.thinking, model, adjustments)
    if request.enable_search:
        adjustments.append("enable_search ignored: MiniMax chat has no web search")
    if _matches(model, REASONING_MODELS):
        # Reasoning in its own field instead of `<think>` tags inside the answer. A client
        # that sent `reasoning_split: false` keeps the tags (they are split off on the way back).
        body.setdefault("reasoning_split", True)
    split = bool(body.get("reasoning_split"))
    for message in body["messages"]:
        if message.get("role") == "assistant" and "reasoning_content" in message:
            history_reasoning(message, split)
    headers = deployment.auth_headers()
    headers["Content-Type"] = "application/json"
    return UpstreamRequest("POST", chat_url(deployment), headers, orjson.dumps(body),
                           stream=request.stream, adjustments=adjustments)
