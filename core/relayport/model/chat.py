"""Chat requests and responses in relayport's canonical form."""

from __future__ import annotations

from typing import Any, Literal

import attrs

from relayport.model.content import (
    Block,
    RedactedThinkingBlock,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from relayport.model.http import Fetched
from relayport.model.usage import Usage

Role = Literal["system", "developer", "user", "assistant", "tool"]


@attrs.define
class Message:
    role: str
    content: list[Block] = attrs.field(factory=list)
    name: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)

    def text(self) -> str:
        return "".join(b.text for b in self.content if isinstance(b, TextBlock))

    def reasoning(self) -> str:
        return "".join(b.text for b in self.content if isinstance(b, ThinkingBlock))

    def tool_calls(self) -> list[ToolCallBlock]:
        return [b for b in self.content if isinstance(b, ToolCallBlock)]

    def has_signed_reasoning(self) -> bool:
        return any(
            isinstance(b, RedactedThinkingBlock) or (isinstance(b, ThinkingBlock) and b.signature)
            for b in self.content
        )


@attrs.define
class Tool:
    """A function tool; `parameters` is its JSON Schema. Non-function tools keep `type` and `extra`."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    type: str = "function"
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class ToolChoice:
    """`mode` is auto | none | required | function (then `name` says which)."""

    mode: str = "auto"
    name: str | None = None


@attrs.define
class Thinking:
    """What the client asked of the model's reasoning, from any of the accepted spellings.

    `enabled` None means "vendor default"; `effort` is low/medium/high (or a vendor's own word);
    `budget_tokens` caps reasoning tokens where the vendor takes a budget.
    """

    enabled: bool | None = None
    budget_tokens: int | None = None
    effort: str | None = None
    # The client's `thinking.type` when it sent one (enabled/disabled/adaptive/auto).
    kind: str | None = None


@attrs.define
class MediaInputs:
    """The gateway's media arrays (`images[]`, `videos[]`, `file_urls[]`, `voices[]`, `media_roles`)."""

    images: list[str] = attrs.field(factory=list)
    videos: list[str] = attrs.field(factory=list)
    file_urls: list[str] = attrs.field(factory=list)
    voices: list[str] = attrs.field(factory=list)
    roles: dict[str, list[str]] = attrs.field(factory=dict)

    def __bool__(self) -> bool:
        return bool(self.images or self.videos or self.file_urls or self.voices)


@attrs.define
class ChatRequest:
    """A chat call. `model` is the name the client sent; the deployment knows the vendor's id.

    `media` holds the media arrays as sent; `messages` already carries them as blocks on the
    last user message, so a translator that ignores `media` still sends them.
    Request fields without a canonical home stay in `extra` and go to vendors of the same format.
    """

    model: str
    messages: list[Message]
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    n: int | None = None
    seed: int | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    thinking: Thinking | None = None
    enable_search: bool | None = None
    user: str | None = None
    media: MediaInputs = attrs.field(factory=MediaInputs)
    extra: dict[str, Any] = attrs.field(factory=dict)
    # The client used OpenAI's deprecated `functions`: answers go back as `function_call`.
    legacy_functions: bool = False
    # Client URLs the gateway downloaded for the vendor (see `relayport_urls_to_fetch`).
    fetched: dict[str, Fetched] = attrs.field(factory=dict, eq=False, repr=False)


@attrs.define
class Choice:
    message: Message
    finish_reason: str | None = None
    index: int = 0
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class ChatResponse:
    id: str
    model: str
    choices: list[Choice]
    created: int = 0
    usage: Usage | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)
    # HTTP headers for the client's response, not part of the body: what the gateway adjusted,
    # the vendor's request id. Filled by the gateway; surfaces send them.
    headers: dict[str, str] = attrs.field(factory=dict, eq=False, repr=False)
