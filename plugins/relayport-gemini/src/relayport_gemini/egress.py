"""Canonical chat request -> Gemini `generateContent` request.

Gemini differs from OpenAI chat where gateways most often break: one `systemInstruction`,
roles `user`/`model` that alternate (tool results are `functionResponse` parts of a user
turn, merged with what follows), function calls with parsed `args` paired to their responses
by name, thought signatures replayed on the part that carried them, a JSON-schema subset for
tool parameters, and `generationConfig` for sampling, output format and thinking.

Per-deployment options (`options` in the model's config):
  api_version      "v1beta" (default) or "v1"
  safety_settings  a `safetySettings` list sent on every call
On Vertex AI (provider `vertex`): `project`, `location`, `credentials_file` (`relayport.gcp`)
and `labels` (a `labels` map sent on every call).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from relayport import gcp
from relayport.model.chat import ChatRequest, Message, Thinking, Tool, ToolChoice
from relayport.model.content import (
    AudioBlock,
    FileBlock,
    ImageBlock,
    RawBlock,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
    ToolResultBlock,
    VideoBlock,
)
from relayport.model.errors import bad_request
from relayport.model.http import UpstreamRequest
from relayport.provider import Deployment
from relayport_gemini import schema, server_tools, vocab
from relayport_gemini.media import encode_media

# Tools the client can name by type (OpenAI-style `{"type": "google_search"}`) -> Gemini tools.
_BUILTIN_TOOLS = {"google_search": "googleSearch", "googleSearch": "googleSearch",
                  "web_search": "googleSearch", "code_execution": "codeExecution",
                  "codeExecution": "codeExecution", "url_context": "urlContext",
                  "urlContext": "urlContext", "google_search_retrieval": "googleSearchRetrieval",
                  "computer_use": "computerUse", "computerUse": "computerUse"}
_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY", "function": "ANY"}


def api_root(deployment: Deployment) -> str:
    """The base URL with the API version (`.../v1beta`): resource names (operations) hang off it."""
    version = str(deployment.options.get("api_version") or vocab.API_VERSION)
    base = deployment.base_url.rstrip("/")
    # An operator may configure the base URL with the version already on it.
    return base if base.endswith(("/v1beta", "/v1")) else f"{base}/{version}"


def model_path(deployment: Deployment, action: str, stream: bool = False) -> str:
    if deployment.provider.name == vocab.VERTEX_PROVIDER:
        url = gcp.model_url(deployment, "google", action)
    else:
        model = deployment.model.removeprefix("models/")
        url = f"{api_root(deployment)}/models/{model}:{action}"
    return url + "?alt=sse" if stream else url


def request_headers(deployment: Deployment) -> dict[str, str]:
    headers = deployment.auth_headers()
    headers["Content-Type"] = "application/json"
    return headers


def build_request(deployment: Deployment, request: ChatRequest) -> UpstreamRequest:
    adjustments: list[str] = []
    body = encode_request(request, deployment.model, deployment.options, adjustments)
    if deployment.provider.name == vocab.VERTEX_PROVIDER:
        vertex_extras(body, deployment)
    action = "streamGenerateContent" if request.stream else "generateContent"
    up = UpstreamRequest("POST", model_path(deployment, action, request.stream), request_headers(deployment),
                         orjson.dumps(body), stream=request.stream)
    up.adjustments = adjustments
    return up


def vertex_extras(body: dict[str, Any], deployment: Deployment) -> None:
    """What only Vertex AI takes: `labels` (billing and usage reports) from `options.labels`;
    a client's own labels (a Gemini client passing through) win."""
    labels = deployment.options.get("labels")
    if isinstance(labels, dict) and labels:
        own = body.get("labels")
        body["labels"] = {**{str(k): str(v) for k, v in labels.items()}, **(own if isinstance(own, dict) else {})}


class _Turns:
    """Contents under construction: consecutive parts of the same role share one content."""

    def __init__(self) -> None:
        self.contents: list[dict[str, Any]] = []

    def add(self, role: str, parts: list[dict[str, Any]]) -> None:
        if not parts:
            return
        if self.contents and self.contents[-1]["role"] == role:
            self.contents[-1]["parts"].extend(parts)
        else:
            self.contents.append({"role": role, "parts": parts})


def encode_request(req: ChatRequest, model: str, options: Mapping[str, Any] | None = None,
                   adjustments: list[str] | None = None) -> dict[str, Any]:
    options = options or {}
    notes = adjustments if adjustments is not None else []
    if req.stream and req.n is not None and req.n > 1:
        raise bad_request("Gemini streams one candidate; 'n' must be 1 when streaming.", param="n")
    system, contents = _encode_messages(req, model, notes)
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    tools = _encode_tools(req)
    if tools:
        body["tools"] = tools
        config = _tool_config(req.tool_choice)
        if config is not None:
            body["toolConfig"] = config
    gen = _generation_config(req)
    thinking = _thinking_config(req, model, notes)
    if thinking:
        gen["thinkingConfig"] = thinking
    if gen:
        body["generationConfig"] = gen
    google = _google_options(req)
    safety = req.extra.get("safety_settings") or google.get("safety_settings") or options.get("safety_settings")
    if isinstance(safety, list):
        body["safetySettings"] = safety
    cached = req.extra.get("cached_content") or google.get("cached_content")
    if isinstance(cached, str):
        body["cachedContent"] = cached
    return body


# ---------------------------------------------------------------------------- messages


def _encode_messages(req: ChatRequest, model: str, notes: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    turns = _Turns()
    names: dict[str, str] = {}  # tool_call_id -> function name, for functionResponse
    for i, m in enumerate(req.messages):
        path = f"messages[{i}]"
        if m.role in ("system", "developer"):
            for j, b in enumerate(m.content):
                if not isinstance(b, TextBlock):
                    raise bad_request(f"A system message takes text only on Gemini ('{path}.content[{j}]').",
                                      param=f"{path}.content[{j}]")
                system.append({"text": b.text})
        elif m.role == "assistant":
            turns.add("model", _model_parts(m, model, path, names, notes))
        elif m.role == "tool":
            turns.add("user", [_function_response(b, names, path) for b in m.content
                               if isinstance(b, ToolResultBlock)])
        else:
            turns.add("user", _user_parts(m, req, path))
    if not turns.contents:
        raise bad_request("Gemini needs at least one user or assistant message besides the system prompt.",
                          param="messages")
    return system, turns.contents


def _user_parts(m: Message, req: ChatRequest, path: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for j, b in enumerate(m.content):
        p = f"{path}.content[{j}]"
        if isinstance(b, TextBlock):
            parts.append({"text": b.text})
        elif isinstance(b, (ImageBlock, AudioBlock, VideoBlock, FileBlock)):
            parts.extend(encode_media(b, req.fetched, p))
        elif isinstance(b, RawBlock):
            raise bad_request(f"Gemini models cannot take content of type {b.data.get('type')!r} ('{p}').",
                              param=p, code="unsupported_content")
    return parts


def _signature(call: ToolCallBlock) -> str | None:
    """A signature the client kept on the tool call itself, as Google's OpenAI-compatible
    endpoint returns it (`extra_content.google.thought_signature`)."""
    extra = call.extra.get("extra_content")
    if isinstance(extra, dict) and isinstance(extra.get("google"), dict):
        sig = extra["google"].get("thought_signature")
        return sig if isinstance(sig, str) else None
    return None


def _model_parts(m: Message, model: str, path: str, names: dict[str, str], notes: list[str]) -> list[dict[str, Any]]:
    signatures = [b.signature for b in m.content if isinstance(b, ThinkingBlock) and b.signature]
    parts: list[dict[str, Any]] = []
    calls = 0
    for b in m.content:
        if isinstance(b, TextBlock):
            if b.text:
                parts.append({"text": b.text})
        elif isinstance(b, ToolCallBlock):
            names[b.id] = b.name
            try:
                args = orjson.loads(b.arguments) if b.arguments.strip() else {}
            except orjson.JSONDecodeError:
                raise bad_request(f"'{path}.tool_calls[{calls}].function.arguments' is not valid JSON.",
                                  param=f"{path}.tool_calls[{calls}].function.arguments") from None
            if not isinstance(args, dict):
                raise bad_request(f"'{path}.tool_calls[{calls}].function.arguments' must be a JSON object.",
                                  param=f"{path}.tool_calls[{calls}].function.arguments")
            part: dict[str, Any] = {"functionCall": {"name": b.name, "args": args}}
            # Gemini signs the first call of a step; the signatures kept in thinking_blocks
            # are in the order of the calls they came with.
            sig = _signature(b) or (signatures[calls] if calls < len(signatures) else None)
            if sig is None and calls == 0 and vocab.uses_levels(model):
                # Gemini 3 refuses a replayed call without one (history from another model, or
                # a client that dropped thinking_blocks); Google documents this value for it.
                sig = vocab.SKIP_SIGNATURE
                if "thought signature missing: validation skipped" not in notes:
                    notes.append("thought signature missing: validation skipped")
            if sig is not None:
                part["thoughtSignature"] = sig
            parts.append(part)
            calls += 1
        elif isinstance(b, (ThinkingBlock, RedactedThinkingBlock)):
            continue  # thought summaries are not sent back; their signatures are placed above
        elif isinstance(b, RawBlock):
            raise bad_request(f"Gemini cannot replay assistant content of type {b.data.get('type')!r} ('{path}').",
                              param=path)
    if not calls and signatures and parts and "text" in parts[-1]:
        parts[-1]["thoughtSignature"] = signatures[-1]
    return parts


def _function_response(b: ToolResultBlock, names: dict[str, str], path: str) -> dict[str, Any]:
    name = names.get(b.tool_call_id)
    if name is None:
        raise bad_request(f"'{path}.tool_call_id' ({b.tool_call_id!r}) answers no tool call of an earlier "
                          "assistant message.", param=f"{path}.tool_call_id")
    texts = []
    for j, c in enumerate(b.content):
        if not isinstance(c, TextBlock):
            raise bad_request(f"Gemini takes text tool results only ('{path}.content[{j}]').",
                              param=f"{path}.content[{j}]", code="unsupported_content")
        texts.append(c.text)
    text = "".join(texts)
    try:
        value: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = text
    # `response` is a JSON object; a tool's plain text (or array) goes under one key.
    response = value if isinstance(value, dict) else {"error" if b.is_error else "result": value}
    return {"functionResponse": {"name": name, "response": response}}


# ---------------------------------------------------------------------------- tools


def _encode_tools(req: ChatRequest) -> list[dict[str, Any]]:
    declarations: list[dict[str, Any]] = []
    builtins: dict[str, dict[str, Any]] = {}
    for t in req.tools or ():
        if t.type == "function":
            declarations.append(_declaration(t))
        elif t.type in _BUILTIN_TOOLS:
            key = _BUILTIN_TOOLS[t.type]
            conf = t.extra.get(t.type)
            builtins[key] = conf if isinstance(conf, dict) else server_tools.default_config(key, t.extra)
        else:
            raise bad_request(f"Gemini has no tool of type {t.type!r}; use function, google_search, "
                              "code_execution, url_context or computer_use.", param="tools")
    if req.enable_search:
        builtins.setdefault("googleSearch", {})
    tools: list[dict[str, Any]] = []
    if declarations:
        tools.append({"functionDeclarations": declarations})
    tools.extend({key: conf} for key, conf in builtins.items())
    return tools


def _declaration(t: Tool) -> dict[str, Any]:
    out: dict[str, Any] = {"name": t.name}
    if t.description:
        out["description"] = t.description
    params = schema.parameters(t.parameters)
    if params is not None:
        out["parameters"] = params
    return out


def _tool_config(choice: ToolChoice | None) -> dict[str, Any] | None:
    if choice is None:
        return None
    config: dict[str, Any] = {"mode": _TOOL_MODES.get(choice.mode, "AUTO")}
    if choice.mode == "function" and choice.name:
        config["allowedFunctionNames"] = [choice.name]
    return {"functionCallingConfig": config}


# ---------------------------------------------------------------------------- generation


def _generation_config(req: ChatRequest) -> dict[str, Any]:
    gen: dict[str, Any] = {}
    extra = req.extra
    for key, value in (("temperature", req.temperature), ("topP", req.top_p),
                       ("maxOutputTokens", req.max_tokens), ("seed", req.seed),
                       ("candidateCount", req.n if req.n and req.n > 1 else None),
                       ("topK", extra.get("top_k")),
                       ("presencePenalty", extra.get("presence_penalty")),
                       ("frequencyPenalty", extra.get("frequency_penalty"))):
        if value is not None:
            gen[key] = value
    if req.stop:
        gen["stopSequences"] = req.stop[:5]  # Gemini's limit
    if extra.get("logprobs") is True:
        gen["responseLogprobs"] = True
        if isinstance(extra.get("top_logprobs"), int):
            gen["logprobs"] = extra["top_logprobs"]
    fmt = req.response_format
    if fmt:
        kind = fmt.get("type")
        if kind == "json_object":
            gen["responseMimeType"] = "application/json"
        elif kind == "json_schema":
            spec = fmt.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
                raise bad_request("'response_format.json_schema.schema' must be an object.",
                                  param="response_format.json_schema.schema")
            gen["responseMimeType"] = "application/json"
            # `responseJsonSchema` takes JSON Schema as clients write it ($ref, additionalProperties).
            gen["responseJsonSchema"] = spec["schema"]
        elif kind not in (None, "text"):
            raise bad_request(f"Unknown response_format type {kind!r}.", param="response_format.type")
    return gen


def _google_options(req: ChatRequest) -> dict[str, Any]:
    """Google's own options, as aggregators document them: `google` at the top level (what the
    OpenAI SDK sends for `extra_body={"google": ...}`) or a literal `extra_body.google`."""
    google = req.extra.get("google")
    if not isinstance(google, dict):
        body = req.extra.get("extra_body")
        google = body.get("google") if isinstance(body, dict) else None
    return google if isinstance(google, dict) else {}


def _explicit_thinking(req: ChatRequest) -> dict[str, Any] | None:
    conf = _google_options(req).get("thinking_config") or req.extra.get("thinking_config")
    if not isinstance(conf, dict):
        return None
    out: dict[str, Any] = {}
    for snake, camel in (("thinking_budget", "thinkingBudget"), ("include_thoughts", "includeThoughts"),
                         ("thinking_level", "thinkingLevel")):
        value = conf.get(snake, conf.get(camel))
        if value is not None:
            out[camel] = value
    return out


def _thinking_config(req: ChatRequest, model: str, notes: list[str]) -> dict[str, Any] | None:
    explicit = _explicit_thinking(req)
    t: Thinking | None = req.thinking
    if explicit is None and t is None:
        return None
    if not vocab.can_think(model):
        notes.append("thinking dropped: the model does not think")
        return None
    if explicit is not None:
        if "thinkingLevel" in explicit and "thinkingBudget" in explicit:
            raise bad_request("Send thinking_level or thinking_budget, not both.", param="thinking_config")
        return explicit
    assert t is not None
    levels = vocab.uses_levels(model)
    if t.enabled is False:
        if vocab.must_think(model):
            notes.append("thinking cannot be disabled on this model: kept at its lowest")
            return {"thinkingLevel": "low"} if levels else {"thinkingBudget": 128}
        return {"thinkingBudget": 0}
    out: dict[str, Any] = {"includeThoughts": True}
    if t.effort and t.effort in vocab.EFFORT_LEVELS:
        if levels:
            out["thinkingLevel"] = vocab.EFFORT_LEVELS[t.effort]
        else:
            out["thinkingBudget"] = vocab.EFFORT_BUDGETS[t.effort]
    elif t.budget_tokens is not None:
        out["thinkingBudget"] = t.budget_tokens
    elif t.effort:
        raise bad_request(f"Unknown reasoning_effort {t.effort!r}; use minimal, low, medium or high.",
                          param="reasoning_effort")
    return out


