"""relayport's canonical representation: what every surface parses into and every vendor translates from."""

from relayport.model.chat import (
    ChatRequest,
    ChatResponse,
    Choice,
    MediaInputs,
    Message,
    Thinking,
    Tool,
    ToolChoice,
)
from relayport.model.content import (
    AudioBlock,
    Block,
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
from relayport.model.errors import GatewayError, bad_request
from relayport.model.http import UpstreamRequest, UpstreamResponse
from relayport.model.media import (
    EmbeddingRequest,
    EmbeddingResponse,
    MediaKind,
    MediaOutput,
    MediaRequest,
    SubmittedTask,
    TaskRecord,
    TaskStatus,
    TaskUpdate,
)
from relayport.model.stream import (
    AudioDelta,
    Finish,
    ReasoningDelta,
    ReasoningSignature,
    RedactedReasoning,
    StreamError,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    UsageUpdate,
)
from relayport.model.usage import Usage

__all__ = [
    "AudioBlock", "AudioDelta", "Block", "ChatRequest", "EmbeddingRequest", "EmbeddingResponse", "ChatResponse", "Choice", "FileBlock", "Finish",
    "GatewayError", "ImageBlock", "MediaInputs", "MediaKind", "MediaOutput", "MediaRequest",
    "Message", "RawBlock", "ReasoningDelta", "ReasoningSignature", "RedactedReasoning",
    "RedactedThinkingBlock", "StreamError", "StreamEvent", "StreamStart", "SubmittedTask",
    "TaskRecord", "TaskStatus", "TaskUpdate", "TextBlock", "TextDelta", "Thinking",
    "ThinkingBlock", "Tool", "ToolCallBlock", "ToolCallDelta", "ToolChoice",
    "ToolResultBlock", "Usage", "UsageUpdate", "VideoBlock", "bad_request",
    "UpstreamRequest", "UpstreamResponse",
]
