"""The OpenAI-compatible egress base: a vendor that speaks OpenAI chat configures it in a few lines.

A plugin registers `ProviderSpec(..., openai_compat=OpenAICompat(...))`; the core's builtin
hooks (`relayport.builtins`) then pass OpenAI clients through, translate other clients' calls,
and parse answers and streams, all shaped by the options below. A plugin overrides any single
hook by implementing it; its own implementation runs before the builtin one.
"""

from __future__ import annotations

import fnmatch
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import orjson

from relayport.compat.quirks import Normalizer, ThinkSplitter, split_think
from relayport.model.chat import ChatRequest, ChatResponse, Thinking
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.model.stream import Finish, ReasoningDelta, StreamError, StreamEvent, TextDelta
from relayport.model.usage import Usage
from relayport.provider import Deployment, Passthrough
from relayport.vendor_errors import stream_failure
from relayport.wire import openai_chat
from relayport.wire.runs import FieldRuns
from relayport.wire.sse import DONE, SSEEvent, payloads

UsagePatch = Callable[[dict[str, Any]], bool]


@attrs.define(frozen=True)
class OpenAICompat:
    """How an OpenAI-compatible vendor differs from OpenAI.

    :param chat_path: path under the base URL.
    :param reasoning_field: the message/delta field that carries reasoning text.
    :param thinking: how a thinking request is spelled for this vendor:
        "reasoning_effort" (OpenAI: only `reasoning_effort`), "thinking_type"
        (`thinking: {type: enabled|disabled}` plus `reasoning_effort`: DeepSeek, Kimi, GLM,
        Doubao, MiMo), "enable_thinking" (`enable_thinking` + `thinking_budget`: Qwen),
        "reasoning_object" (`reasoning: {enabled, effort | max_tokens}`: OpenRouter), or
        "none" (drop it).
    :param effort_map: rewrites of `reasoning_effort` values the vendor does not take.
    :param search_field: the body field that turns on web search (e.g. "enable_search"),
        or None when the vendor has none (the request then goes without it).
    :param native_media_arrays: the vendor takes `images[]`/`videos[]`/... itself; otherwise
        they are inlined as content parts of the last user message.
    :param max_tokens_field: the name the vendor takes for the output cap (OpenAI's reasoning
        models refuse `max_tokens` and take only `max_completion_tokens`).
    :param max_tokens_fields: fnmatch pattern -> field, for vendors whose models differ
        (OpenAI: gpt-5 and o-series take only `max_completion_tokens`); first match wins.
    :param patch_usage: rewrites the vendor's usage object into OpenAI's fields in place,
        returning True when it changed something (e.g. DeepSeek's cache-hit counts). It sees
        the usage wherever the vendor put it (inside a choice too, with `usage_in_choices`).
    :param passthrough: False: OpenAI clients' calls are always translated (parsed and
        re-encoded), never forwarded as bytes.
    :param think_tags: the vendor puts reasoning inside `<think>...</think>` at the start of
        `content`; it is split out into `reasoning_content`. Calls are then translated.
    :param usage_in_choices: the vendor may put usage inside `choices[i].usage` (Kimi
        streams); it is moved to the top-level `usage`.
    :param stream_usage: "openai": the vendor honours `stream_options.include_usage`;
        "always": it sends usage on content chunks whether asked or not (on the last one, or
        cumulative on every one). The client then gets OpenAI's separate final usage chunk
        when it asked and no usage when it did not.
    :param finish_map: vendor finish-reason spellings -> OpenAI's (stop, length, tool_calls,
        content_filter, function_call); setting it (even to `{}`) turns on finish fixing with
        common spellings built in: the string "null" or "" becomes null, unknown values "stop".
    :param fill_missing: fill fields OpenAI clients expect and the vendor omits: `id`,
        `object`, `created`, `logprobs` and `message.refusal` (null).
    :param max_output_tokens: fnmatch pattern -> the model's output limit; a larger
        request is clamped (announced in `x-relayport-adjustments`). Per model in TOML:
        `options.max_output_tokens`.
    :param json_schema: False: the vendor cannot take `response_format: json_schema`; it is
        sent as `json_object` with the schema in a system instruction (announced).
    :param drop_fields: request fields removed before the call (extensions a server refuses).
    :param replay_reasoning: False: `reasoning_content` of assistant turns in the history is
        not sent back to the vendor.
    :param adapt: the vendor's own last word on the request, on both paths: called with the
        OpenAI-form body after the base's changes, just before it is encoded, and a `VendorCall`
        saying what the client asked (thinking, search) and whether the call is translated. It
        changes the body in place, appends to `call.adjustments`, or raises `GatewayError` (400)
        for what the vendor cannot take. One function instead of wrapping both hooks.
    :param native_form: recognises a body in the vendor's own (non-OpenAI) format sent to
        `/v1/chat/completions` (DashScope's `input` + `parameters`); such a body skips the
        OpenAI shape checks, and the plugin's `relayport_passthrough` must take it.
    """

    chat_path: str = "/chat/completions"
    reasoning_field: str = "reasoning_content"
    thinking: str = "reasoning_effort"
    effort_map: Mapping[str, str] = attrs.field(factory=dict)
    search_field: str | None = None
    native_media_arrays: bool = False
    max_tokens_field: str = "max_tokens"
    patch_usage: UsagePatch | None = None
    max_tokens_fields: Mapping[str, str] = attrs.field(factory=dict)
    passthrough: bool = True
    think_tags: bool = False
    usage_in_choices: bool = False
    stream_usage: str = attrs.field(default="openai", validator=attrs.validators.in_(("openai", "always")))
    finish_map: Mapping[str, str] | None = None
    fill_missing: bool = False
    max_output_tokens: Mapping[str, int] = attrs.field(factory=dict)
    json_schema: bool = True
    drop_fields: tuple[str, ...] = ()
    replay_reasoning: bool = True
    native_form: Callable[[dict[str, Any]], bool] | None = None
    adapt: Callable[[dict[str, Any], VendorCall], None] | None = None
    # True when only the output cap's spelling may need fixing on the way out (OpenAI,
    # DeepSeek without limits): the passthrough then skips everything else.
    _plain_request: bool = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        plain = (not self.max_tokens_fields and not self.max_output_tokens and self.json_schema
                 and self.reasoning_field == "reasoning_content" and self.replay_reasoning
                 and not self.drop_fields)
        object.__setattr__(self, "_plain_request", plain)

    def normalizer(self) -> Normalizer | None:
        """A fresh per-call output fixer, or None when the vendor's output needs no fixing."""
        if (self.reasoning_field == "reasoning_content" and not self.usage_in_choices
                and self.finish_map is None and not self.fill_missing):
            return None
        return Normalizer(self.reasoning_field, self.usage_in_choices, self.finish_map, self.fill_missing)


@attrs.define
class VendorCall:
    """What an `OpenAICompat.adapt` function is told besides the body."""

    deployment: Deployment
    # The client's thinking request and `enable_search`, read before the base folded them into
    # the vendor's spelling (so a budget the vendor has no field for can still be announced).
    thinking: Thinking | None
    enable_search: bool | None
    adjustments: list[str]
    # True when the body was encoded from a canonical request (a client of another surface,
    # or a fallback), False for an OpenAI client's own body passed through.
    translated: bool


# Per-model TOML `options` that override the provider's OpenAICompat (see `compat_for`).
OPTION_KEYS = frozenset({
    "reasoning_field", "think_tags", "thinking", "usage_in_choices", "stream_usage", "finish_map",
    "fill_missing", "max_tokens_field", "json_schema", "drop_fields", "replay_reasoning",
    "passthrough", "chat_path", "search_field",
})
_effective: weakref.WeakKeyDictionary[Deployment, OpenAICompat] = weakref.WeakKeyDictionary()


def compat_for(deployment: Deployment, compat: OpenAICompat | None = None) -> OpenAICompat:
    """The provider's OpenAICompat with the deployment's TOML `options` applied (cached)."""
    base = compat or deployment.provider.openai_compat
    assert base is not None
    options = deployment.options
    if not options or OPTION_KEYS.isdisjoint(options):
        return base
    found = _effective.get(deployment)
    if found is None:
        changes = {k: v for k, v in options.items() if k in OPTION_KEYS}
        if "drop_fields" in changes:
            changes["drop_fields"] = tuple(changes["drop_fields"])
        try:
            found = attrs.evolve(base, **changes)
        except (TypeError, ValueError) as exc:
            raise GatewayError(500, f"Model '{deployment.name}' has invalid options: {exc}") from None
        _effective[deployment] = found
    return found


def _by_model(mapping: Mapping[str, Any], model: str) -> Any:
    for pattern, value in mapping.items():
        if fnmatch.fnmatchcase(model, pattern):
            return value
    return None


def output_limit(deployment: Deployment, compat: OpenAICompat) -> int | None:
    """The model's max output tokens: TOML `options.max_output_tokens`, else the plugin's table."""
    limit = deployment.options.get("max_output_tokens") if deployment.options else None
    if isinstance(limit, int) and not isinstance(limit, bool):
        return limit
    return _by_model(compat.max_output_tokens, deployment.model) if compat.max_output_tokens else None


def tokens_field(deployment: Deployment, compat: OpenAICompat) -> str:
    if compat.max_tokens_fields:
        return _by_model(compat.max_tokens_fields, deployment.model) or compat.max_tokens_field
    return compat.max_tokens_field


def vendor_body(body: dict[str, Any], deployment: Deployment, compat: OpenAICompat,
                adjustments: list[str]) -> None:
    """What both paths do to an OpenAI body before it goes to the vendor: the output cap in the
    vendor's field and within the model's limit, schema downgrade, history reasoning field."""
    has_max = "max_tokens" in body or "max_completion_tokens" in body
    limit = output_limit(deployment, compat) if (has_max or compat.max_output_tokens
                                                 or deployment.options) else None
    if has_max or limit is not None:
        value = body.pop("max_completion_tokens", None)
        legacy = body.pop("max_tokens", None)
        if value is None:
            value = legacy
        if isinstance(value, int) and limit is not None and value > limit:
            adjustments.append(f"max_tokens clamped to {limit}")
            value = limit
        if value is not None:
            body[tokens_field(deployment, compat)] = value
    if not compat.json_schema:
        _downgrade_schema(body, adjustments)
    if compat.reasoning_field != "reasoning_content" or not compat.replay_reasoning:
        _history_reasoning(body, compat)
    for key in compat.drop_fields:
        body.pop(key, None)


def _cap_spelling(body: dict[str, Any], field: str) -> None:
    """The client's `max_tokens` or `max_completion_tokens` (which wins) as the vendor's field."""
    other = "max_tokens" if field == "max_completion_tokens" else "max_completion_tokens"
    if other in body:
        value = body.pop(other)
        if other == "max_completion_tokens" or field not in body:
            body[field] = value


def _downgrade_schema(body: dict[str, Any], adjustments: list[str]) -> None:
    fmt = body.get("response_format")
    if not isinstance(fmt, dict) or fmt.get("type") != "json_schema":
        return
    spec = fmt.get("json_schema")
    schema = spec.get("schema", {}) if isinstance(spec, dict) else {}
    body["response_format"] = {"type": "json_object"}
    instruction = ("Answer with a single JSON object (no prose, no code fences) that is valid "
                   "against this JSON Schema:\n" + orjson.dumps(schema).decode())
    messages = body.setdefault("messages", [])
    if isinstance(messages, list):
        messages.insert(0, {"role": "system", "content": instruction})
    adjustments.append("json_schema sent as json_object with the schema in a system message")


def _history_reasoning(body: dict[str, Any], compat: OpenAICompat) -> None:
    field = compat.reasoning_field
    for m in body.get("messages") or ():
        if isinstance(m, dict) and m.get("role") == "assistant" and "reasoning_content" in m:
            value = m.pop("reasoning_content")
            if compat.replay_reasoning:
                m[field] = value


_EXTENSION_KEYS = openai_chat.EXTENSION_FIELDS


def apply_thinking(body: dict[str, Any], thinking: Thinking | None, compat: OpenAICompat) -> None:
    """Write a canonical thinking request into `body` the way the vendor spells it."""
    if thinking is None or compat.thinking == "none":
        return
    effort = compat.effort_map.get(thinking.effort, thinking.effort) if thinking.effort else None
    if compat.thinking == "reasoning_effort":
        if effort:
            body["reasoning_effort"] = effort
    elif compat.thinking == "thinking_type":
        if thinking.enabled is not None:
            body["thinking"] = {"type": "enabled" if thinking.enabled else "disabled"}
        if effort and thinking.enabled is not False:
            body["reasoning_effort"] = effort
    elif compat.thinking == "reasoning_object":
        spec = dict(body["reasoning"]) if isinstance(body.get("reasoning"), dict) else {}
        if thinking.enabled is not None:
            spec["enabled"] = thinking.enabled
        if thinking.enabled is not False:  # effort or a budget, never both (OpenRouter's rule)
            if effort:
                spec["effort"] = effort
            elif thinking.budget_tokens is not None:
                spec["max_tokens"] = thinking.budget_tokens
        if spec:
            body["reasoning"] = spec
    elif compat.thinking == "enable_thinking":
        if thinking.enabled is not None:
            body["enable_thinking"] = thinking.enabled
        if thinking.budget_tokens is not None:
            body["thinking_budget"] = thinking.budget_tokens
        if effort:
            body["reasoning_effort"] = effort


def _inline_media_parts(body: dict[str, Any]) -> None:
    """Move the media arrays into the last user message's content, as OpenAI-style parts."""
    parts: list[dict[str, Any]] = []
    for url in openai_chat.url_list(body, "images"):
        parts.append({"type": "image_url", "image_url": {"url": url}})
    for url in openai_chat.url_list(body, "videos"):
        parts.append({"type": "video_url", "video_url": {"url": url}})
    for url in openai_chat.url_list(body, "voices"):
        parts.append({"type": "audio_url", "audio_url": {"url": url}})
    for url in openai_chat.url_list(body, "file_urls"):
        parts.append({"type": "file", "file": {"file_url": url}})
    if not parts:
        return
    messages = body.get("messages") or []
    target = next((m for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), None)
    if target is None:
        target = {"role": "user", "content": []}
        messages.append(target)
    content = target.get("content")
    if isinstance(content, str):
        content = [{"type": "text", "text": content}] if content else []
    target["content"] = list(content or []) + parts


def adapt_body(body: dict[str, Any], deployment: Deployment, compat: OpenAICompat,
               adjustments: list[str] | None = None) -> None:
    """Rewrite a client's OpenAI body for the vendor: model id, and the gateway's extension fields."""
    body["model"] = deployment.model
    if not _EXTENSION_KEYS.isdisjoint(body):
        thinking = openai_chat.decode_thinking(body)
        search = body.get("enable_search")
        if search and adjustments is not None:
            _search_ignored(deployment, compat, adjustments)
        if not compat.native_media_arrays:
            _inline_media_parts(body)
        for key in _EXTENSION_KEYS:
            if compat.native_media_arrays and key in openai_chat.MEDIA_FIELDS:
                continue
            body.pop(key, None)
        apply_thinking(body, thinking, compat)
        if search is not None and compat.search_field:
            body[compat.search_field] = search
    stream_options = body.get("stream_options")
    if stream_options is not None and not body.get("stream"):
        del body["stream_options"]  # OpenAI rejects stream_options without stream


def _search_ignored(deployment: Deployment, compat: OpenAICompat, adjustments: list[str]) -> None:
    if not compat.search_field and "search" not in deployment.provider.capabilities:
        adjustments.append("enable_search ignored (no web search for this model)")


def _usage_reader(compat: OpenAICompat) -> Callable[[dict[str, Any]], Usage | None]:
    def usage_of(obj: dict[str, Any]) -> Usage | None:
        usage = obj.get("usage")
        return openai_chat.decode_usage(usage) if isinstance(usage, dict) else None

    return usage_of


def _usage_patcher(patch_usage: UsagePatch) -> Callable[[dict[str, Any]], bool]:
    def patch(obj: dict[str, Any]) -> bool:
        usage = obj.get("usage")
        return isinstance(usage, dict) and patch_usage(usage)

    return patch


def passthrough(deployment: Deployment, compat: OpenAICompat, body: dict[str, Any]) -> Passthrough | None:
    """The plan for forwarding an OpenAI client's call; None when it must be translated."""
    compat = compat_for(deployment, compat)
    if not compat.passthrough or compat.think_tags:
        return None  # tags straddle chunks: the translating parser splits them
    stream = bool(body.get("stream"))
    adjustments: list[str] = []
    call = None
    if compat.adapt is not None:
        search = body.get("enable_search")
        call = VendorCall(deployment, openai_chat.decode_thinking(body),
                          search if isinstance(search, bool) else None, adjustments, translated=False)
    adapt_body(body, deployment, compat, adjustments)
    if compat._plain_request and not deployment.options:
        _cap_spelling(body, compat.max_tokens_field)
    else:
        vendor_body(body, deployment, compat, adjustments)
    if compat.adapt is not None and call is not None:
        compat.adapt(body, call)
    headers = deployment.auth_headers()
    headers["Content-Type"] = "application/json"
    request = UpstreamRequest(
        "POST", deployment.url(compat.chat_path), headers, orjson.dumps(body),
        stream=stream, adjustments=adjustments,
    )
    normalizer = compat.normalizer()
    if normalizer is None and compat.stream_usage == "openai" and not compat.usage_in_choices:
        # The fast path (OpenAI, DeepSeek): events are decoded only when they carry usage.
        return Passthrough(
            request,
            patch=_usage_patcher(compat.patch_usage) if compat.patch_usage else None,
            usage=_usage_reader(compat),
        )
    include_usage = stream and bool((body.get("stream_options") or {}).get("include_usage"))
    fixer = _PassthroughFixer(compat, normalizer, stream, include_usage)
    return Passthrough(request, patch=fixer.patch, usage=fixer.usage, tail=fixer.tail if stream else None,
                       marker=b"data:" if stream else b'"usage"')


class _PassthroughFixer:
    """Per-call state of a quirky vendor's passthrough: every event is decoded and fixed.

    Usage the vendor put on content chunks is taken off them and, when the client asked with
    `stream_options.include_usage`, sent as OpenAI's separate final chunk after the finish.
    """

    def __init__(self, compat: OpenAICompat, normalizer: Normalizer | None, stream: bool,
                 include_usage: bool) -> None:
        self._normalizer = normalizer
        self._patch_usage = compat.patch_usage
        self._stream = stream
        self._move = stream and (compat.stream_usage == "always" or compat.usage_in_choices)
        self._include = include_usage
        self._finished = False
        self._held: dict[str, Any] | None = None  # usage taken off a chunk, for accounting
        self._tail: dict[str, Any] | None = None

    def patch(self, obj: dict[str, Any]) -> bool:
        changed = self._normalizer.fix(obj, self._stream) if self._normalizer is not None else False
        usage = obj.get("usage")
        if isinstance(usage, dict) and self._patch_usage is not None:
            changed = self._patch_usage(usage) or changed
        if not self._move:
            return changed
        choices = obj.get("choices")
        if choices and any(isinstance(c, dict) and c.get("finish_reason") for c in choices):
            self._finished = True
        if "usage" in obj and choices:
            del obj["usage"]
            changed = True
            if isinstance(usage, dict):
                self._held = usage
                if self._include and self._finished:
                    self._tail = {"id": obj.get("id"), "object": "chat.completion.chunk",
                                  "created": obj.get("created"), "model": obj.get("model"),
                                  "choices": [], "usage": usage}
        elif isinstance(usage, dict):
            if self._include:
                self._tail = None  # the vendor sent OpenAI's own usage chunk
            elif choices == [] and self._stream:
                # A usage-only chunk the client did not ask for: kept for accounting, not sent.
                self._held = usage
                obj.clear()
                return True
        return changed

    def usage(self, obj: dict[str, Any]) -> Usage | None:
        usage = obj.get("usage")
        if not isinstance(usage, dict):
            usage, self._held = self._held, None
        return openai_chat.decode_usage(usage) if isinstance(usage, dict) else None

    def tail(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        out, self._tail = self._tail, None
        return out


def translate_request(deployment: Deployment, compat: OpenAICompat, request: ChatRequest) -> UpstreamRequest:
    compat = compat_for(deployment, compat)
    body = openai_chat.encode_request(request, deployment.model)
    adjustments: list[str] = []
    vendor_body(body, deployment, compat, adjustments)
    if request.media and compat.native_media_arrays:
        body.update(images=request.media.images, videos=request.media.videos,
                    file_urls=request.media.file_urls, voices=request.media.voices)
    apply_thinking(body, request.thinking, compat)
    if request.enable_search is not None and compat.search_field:
        body[compat.search_field] = request.enable_search
    elif request.enable_search:
        _search_ignored(deployment, compat, adjustments)
    if compat.adapt is not None:
        compat.adapt(body, VendorCall(deployment, request.thinking, request.enable_search, adjustments,
                                      translated=True))
    headers = deployment.auth_headers()
    headers["Content-Type"] = "application/json"
    return UpstreamRequest("POST", deployment.url(compat.chat_path), headers, orjson.dumps(body),
                           stream=request.stream, adjustments=adjustments)


def parse_response(compat: OpenAICompat, response: UpstreamResponse) -> ChatResponse:
    try:
        obj = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        raise GatewayError(502, "The vendor sent a response that is not JSON.") from None
    if isinstance(obj, dict) and "error" in obj and "choices" not in obj:
        raise GatewayError(502, f"The vendor answered with an error: {obj['error']}")
    normalizer = compat.normalizer()
    if normalizer is not None and isinstance(obj, dict):
        normalizer.fix(obj, False)
    if compat.patch_usage and isinstance(obj, dict) and isinstance(obj.get("usage"), dict):
        compat.patch_usage(obj["usage"])
    if compat.think_tags and isinstance(obj, dict):
        _split_message_tags(obj)
    return openai_chat.decode_response(obj, "reasoning_content" if normalizer else compat.reasoning_field)


def _split_message_tags(obj: dict[str, Any]) -> None:
    for choice in obj.get("choices") or ():
        msg = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(msg, dict) and isinstance(msg.get("content"), str) and "<think>" in msg["content"]:
            reasoning, content = split_think(msg["content"])
            msg["content"] = content
            if reasoning is not None and not msg.get("reasoning_content"):
                msg["reasoning_content"] = reasoning


class OpenAIStreamParser:
    """Parses an OpenAI-format chat stream (`data: {chunk}` ... `data: [DONE]`).

    A subclass may override `feed` (one event at a time): the whole-read fast path then
    hands it each event instead of bypassing it.
    """

    framing = "sse"

    def __init__(self, compat: OpenAICompat, request: ChatRequest | None = None) -> None:
        self._normalizer = compat.normalizer()
        field = "reasoning_content" if self._normalizer is not None else compat.reasoning_field
        # A call that asked for spoken output gets a decoder that reads `delta.audio` too.
        self._decoder = (openai_chat.AudioChunkDecoder(field, openai_chat.audio_media_type(request))
                         if request is not None and openai_chat.wants_audio(request)
                         else openai_chat.ChunkDecoder(field))
        self._patch = compat.patch_usage
        self._think = ThinkSplitter() if compat.think_tags else None
        self._done = False
        self._finished = False
        self._own_feed = type(self).feed is not OpenAIStreamParser.feed
        # Runs of content (and reasoning) chunks of one read are joined before decoding.
        self._runs = (FieldRuns("content"), FieldRuns(compat.reasoning_field))

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, event: SSEEvent) -> list[StreamEvent]:
        return self._feed_data(event.data)

    def feed_sse(self, data: bytes) -> list[StreamEvent]:
        """A whole read at once (the core's fast path, see `StreamParser`)."""
        if not self._own_feed:
            for runs in self._runs:
                data = runs.merge(data)
        out: list[StreamEvent] = []
        try:
            for payload in payloads(data):
                if self._own_feed:
                    out.extend(self.feed(SSEEvent(payload)))
                else:
                    out.extend(self._feed_data(payload))
                if self._done:
                    break
        except GatewayError as exc:
            # What came before the failure in the same read still reaches the client.
            self._done = True
            out.append(StreamError(exc))
        return out

    def _feed_data(self, data: bytes) -> list[StreamEvent]:
        if data == DONE:
            self._done = True
            return self._flush_think()
        if not data:
            return []
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise GatewayError(502, "The vendor sent a stream event that is not JSON.") from None
        if not isinstance(obj, dict):
            return []
        if "error" in obj and (failure := stream_failure(obj)) is not None:
            raise failure
        if self._normalizer is not None:
            self._normalizer.fix(obj, True)
        if self._patch and isinstance(obj.get("usage"), dict):
            self._patch(obj["usage"])
        events = self._decoder.decode(obj)
        if self._think is not None:
            events = self._split_think(events)
        if not self._finished:
            self._finished = any(isinstance(e, Finish) for e in events)
        return events

    def _split_think(self, events: list[StreamEvent]) -> list[StreamEvent]:
        splitter = self._think
        assert splitter is not None
        out: list[StreamEvent] = []
        for ev in events:
            if isinstance(ev, TextDelta):
                reasoning, content = splitter.feed(ev.text)
            elif isinstance(ev, Finish):
                reasoning, content = splitter.flush()
            else:
                out.append(ev)
                continue
            if reasoning:
                out.append(ReasoningDelta(reasoning))
            if content:
                out.append(TextDelta(content))
            if isinstance(ev, Finish):
                out.append(ev)
        return out

    def _flush_think(self) -> list[StreamEvent]:
        if self._think is None:
            return []
        reasoning, content = self._think.flush()
        out: list[StreamEvent] = [ReasoningDelta(reasoning)] if reasoning else []
        return out + ([TextDelta(content)] if content else [])

    def close(self) -> list[StreamEvent]:
        if not self._done and not self._finished:
            raise GatewayError(502, "The vendor closed the stream before it finished.")
        return self._flush_think()
