"""Media generation requests and async task state (used by the task-polling hooks)."""

from __future__ import annotations

import enum
from typing import Any

import attrs

from relayport.model.chat import MediaInputs
from relayport.model.errors import GatewayError
from relayport.model.http import Fetched
from relayport.model.usage import Usage


class MediaKind(enum.StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    SPEECH = "speech"


class TaskStatus(enum.StrEnum):
    """The unified lifecycle of a vendor task. The last three are final."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in (TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED)


@attrs.define
class MediaRequest:
    """An image, video or speech generation request in canonical form."""

    kind: MediaKind
    model: str
    prompt: str | None = None
    negative_prompt: str | None = None
    n: int | None = None
    size: str | None = None
    duration: float | None = None
    resolution: str | None = None
    aspect_ratio: str | None = None
    voice: str | None = None
    response_format: str | None = None
    seed: int | None = None
    media: MediaInputs = attrs.field(factory=MediaInputs)
    extra: dict[str, Any] = attrs.field(factory=dict)
    # The client asked for a task (`async: true`): vendors with a sync and an async endpoint
    # for the same model (Zhipu's GLM-Image) pick the async one.
    asynchronous: bool = False
    # Speech only: how the client takes a streamed answer, "audio" (raw bytes, OpenAI's default)
    # or "sse" (`speech.audio.delta` events); plugins streaming with `relayport_speech_stream`
    # may ask the vendor for the matching form.
    stream: str = "audio"
    # Downloads the plugin asked for (`relayport_media_urls_to_fetch`): URL -> Fetched. Only for
    # `relayport_submit_task`; the runner empties it before the task is stored.
    fetched: dict[str, Fetched] = attrs.field(factory=dict, eq=False, repr=False)


@attrs.define
class MediaOutput:
    """One result: a URL the vendor serves, or inline bytes as base64."""

    url: str | None = None
    b64: str | None = None
    media_type: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class SubmittedTask:
    """What a vendor said to a submit: its task id, or (sync vendors) the finished result."""

    vendor_task_id: str | None
    update: TaskUpdate | None = None
    # Kept on the task for later hooks (`TaskRecord.vendor_state`), e.g. BFL's polling URL.
    vendor_state: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class TaskUpdate:
    status: TaskStatus
    progress: float | None = None
    outputs: list[MediaOutput] = attrs.field(factory=list)
    error: GatewayError | None = None
    usage: Usage | None = None
    # Seconds the vendor asked us to wait before the next poll, when it said.
    poll_after: float | None = None
    # Merged into `TaskRecord.vendor_state`: lets a plugin run a multi-step result (MiniMax's
    # "Success" carries a file_id; the next poll request retrieves its download URL).
    vendor_state: dict[str, Any] | None = None
    # What `?format=native` (and a call in seed 003's form) answers instead of the vendor's raw
    # JSON, when the plugin completes it: fields the seed documents beyond the vendor's body, or
    # the answers of a two-step result joined. None keeps the raw body.
    native: Any = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class TaskRecord:
    """A task as the store keeps it. `id` is the gateway's own opaque id."""

    id: str
    provider: str
    model: str
    vendor_task_id: str | None
    status: TaskStatus
    request: MediaRequest
    created_at: float
    updated_at: float
    deadline: float
    deployment: str = ""
    progress: float | None = None
    outputs: list[MediaOutput] = attrs.field(factory=list)
    error: GatewayError | None = None
    usage: Usage | None = None
    # Who may see it: a digest of the gateway key that created it ("anonymous" without keys).
    owner: str = "anonymous"
    # The vendor's own last answer (decoded JSON), served with `?format=native`.
    native: Any = None
    # Set by the store on every write; a write naming an older version loses (compare-and-set).
    version: int = 0
    completed_at: float | None = None
    last_polled_at: float = 0.0
    next_poll_at: float = 0.0
    poll_errors: int = 0
    callback_url: str | None = None
    # "" (none), "pending", "sent" or "failed": a final task's callback is POSTed once.
    callback_state: str = ""
    callback_attempts: int = 0
    # "" (nothing to fetch), "pending", "stored" or "failed": the result copy in the result store.
    content_state: str = ""
    # Short vendor-specific facts a plugin needs again later (e.g. which endpoint family
    # served the submit, an absolute polling URL); never secrets.
    vendor_state: dict[str, Any] = attrs.field(factory=dict)
    # What the plugin changed to make the vendor take the request (`x-relayport-adjustments`).
    adjustments: list[str] = attrs.field(factory=list)
    # Scheme and host the client reached the gateway at: content URLs in callbacks use it.
    origin: str = ""
    # The store key that submitted it (its id, never the key), charged when the task ends.
    caller: str | None = None

    @property
    def has_chores(self) -> bool:
        """Work left after the task became final: storing its result, calling back."""
        return self.content_state == "pending" or self.callback_state == "pending"


@attrs.define
class EmbeddingRequest:
    """An embeddings call. `input` is what the client sent: a string, strings, or token arrays."""

    model: str
    input: Any
    dimensions: int | None = None
    user: str | None = None
    extra: dict[str, Any] = attrs.field(factory=dict)


@attrs.define
class EmbeddingResponse:
    """Vectors in input order: lists of floats, or base64 float32 (little-endian) strings as
    OpenAI sends with `encoding_format: base64`; the surface converts to what the client asked."""

    data: list[list[float] | str]
    model: str
    usage: Usage = attrs.field(factory=Usage)
