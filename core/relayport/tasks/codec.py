"""TaskRecord <-> JSON, with a private cattrs converter (never the global one)."""

from __future__ import annotations

from typing import Any

import attrs
import cattrs
import orjson

from relayport.model import content
from relayport.model.errors import GatewayError
from relayport.model.media import TaskRecord

# No per-field error collection: records are ours, and this runs for every poll.
converter = cattrs.Converter(detailed_validation=False)
attrs.resolve_types(content.ToolResultBlock, globals(), vars(content))
converter.register_unstructure_hook(
    GatewayError,
    lambda e: {"status": e.status, "message": e.message, "type": e.type, "code": e.code,
               "param": e.param, "retryable": e.retryable, "retry_after": e.retry_after, "extra": e.extra},
)
converter.register_structure_hook(GatewayError, lambda d, _: GatewayError(**d))


def dump_task(task: TaskRecord) -> bytes:
    return orjson.dumps(converter.unstructure(task))


def load_task(data: bytes | str) -> TaskRecord:
    obj: dict[str, Any] = orjson.loads(data)
    return converter.structure(obj, TaskRecord)
