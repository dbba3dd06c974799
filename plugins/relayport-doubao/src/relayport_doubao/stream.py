"""Ark streams are OpenAI's, except that a failure can come inside them with Ark's envelope."""

from __future__ import annotations

import orjson

from relayport.model.stream import StreamEvent
from relayport.openai_compat import OpenAIStreamParser
from relayport_doubao.errors import envelope_error


class ArkStreamParser(OpenAIStreamParser):
    """OpenAI's parser; an `error` event (data-only or `event: error`) keeps its real status
    instead of the base's blanket 502. Only events that contain `"error"` are looked at twice."""

    def _feed_data(self, data: bytes) -> list[StreamEvent]:
        if b'"error"' in data:
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError:
                obj = None
            if isinstance(obj, dict) and not obj.get("choices"):
                err = envelope_error(obj, where=" (mid-stream)")
                if err is not None:
                    raise err
        return super()._feed_data(data)
