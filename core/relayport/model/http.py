"""Descriptions of upstream HTTP exchanges: plugins build and read these, the core does the I/O."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import orjson

from relayport.model.errors import GatewayError

# The HTTP statuses that send a client elsewhere (`Location`): the gateway follows them itself,
# for vendor calls (relayport.upstream) and for client-named URLs (relayport.urlguard).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


@attrs.define
class UpstreamRequest:
    """One request to a vendor. `body` is sent as-is; set `json` instead to let the core encode."""

    method: str
    url: str
    headers: dict[str, str] = attrs.field(factory=dict)
    body: bytes | None = None
    json: Any = None
    # Whether the answer is an event stream (the core then reads it incrementally).
    stream: bool = False
    # What the plugin changed in the client's request to make the vendor take it (e.g.
    # "thinking dropped: tool_choice forces a tool"): the client is told in the
    # `x-relayport-adjustments` response header. Short phrases, no commas.
    adjustments: list[str] = attrs.field(factory=list)


ADJUSTMENTS_HEADER = "x-relayport-adjustments"


def adjustment_headers(adjustments: list[str]) -> dict[str, str]:
    """The response header that tells a client what the gateway changed, if anything."""
    return {ADJUSTMENTS_HEADER: ", ".join(adjustments)} if adjustments else {}


@attrs.define
class UpstreamResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def json_object(self, vendor: str) -> dict[str, Any]:
        """The body as a JSON object; a 502 naming `vendor` when it is not one."""
        try:
            obj = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            obj = None
        if not isinstance(obj, dict):
            raise GatewayError(502, f"{vendor}: the answer is not a JSON object.", code="bad_upstream_response")
        return obj


@attrs.define
class Fetched:
    """A client-named URL the gateway downloaded (see `relayport.urlguard.fetch`)."""

    body: bytes
    content_type: str
    url: str
