"""relayport plugin for Serper (google.serper.dev): Google results as JSON.

Clients call ``/v1/services/serper/<endpoint>`` with the gateway key, exactly as they would
call ``https://google.serper.dev/<endpoint>``: ``GET`` with query parameters or ``POST`` with
a JSON object (or an array of them: Serper's batch form). The parameters are Serper's own
(`q`, `gl`, `hl`, `num`, `page`, `location`, `tbs`, `autocorrect`); the vendor key goes in
`X-API-KEY` from the server (`SERPER_API_KEY`, or `[services.serper] api_key`), and a client's
own `apiKey` query parameter is dropped.

`type` (search, news, images, places, videos, maps, shopping, scholar, patents, autocomplete,
as aggregators spell it) sent to ``/search`` picks the endpoint of that name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from relayport import hookimpl
from relayport.model.errors import GatewayError
from relayport.webservices import SearchAdapter, SearchResult, ServiceCall, WebService

ENDPOINTS = ("search", "news", "images", "videos", "places", "maps", "reviews", "shopping",
             "scholar", "patents", "autocomplete", "lens")


def prepare(call: ServiceCall) -> None:
    """Resolve the aggregators' `type` alias into Serper's endpoint path."""
    if call.path != "/search":
        return
    if isinstance(call.body, dict):
        kind = call.body.pop("type", None)
    elif isinstance(call.body, list):
        kinds = {item.pop("type", None) for item in call.body if isinstance(item, dict)}
        if len(kinds) > 1:
            raise GatewayError(400, "Every query of a batch must have the same 'type'.", param="type")
        kind = kinds.pop() if kinds else None
    else:
        kind = call.query.pop("type", None)
    if kind is None or kind == "search":
        return
    if kind not in ENDPOINTS:
        raise GatewayError(400, f"Invalid value for 'type': {kind!r}; use one of {', '.join(ENDPOINTS)}.",
                           param="type", code="invalid_value")
    call.path = "/" + str(kind)


def _query(q: str, num: int) -> dict[str, Any]:
    return {"q": q, "num": num}


def results(obj: Any) -> list[SearchResult]:
    """Organic results (news for a news answer), then the answer box, as search results."""
    if not isinstance(obj, dict):
        return []
    out: list[SearchResult] = []
    for key in ("organic", "news"):
        for item in obj.get(key) or ():
            if isinstance(item, dict) and item.get("link"):
                out.append(SearchResult(str(item.get("title") or item["link"]), str(item["link"]),
                                        str(item.get("snippet") or "")))
    box = obj.get("answerBox")
    if isinstance(box, dict) and box.get("link") and not any(r.url == box["link"] for r in out):
        out.insert(0, SearchResult(str(box.get("title") or box["link"]), str(box["link"]),
                                   str(box.get("answer") or box.get("snippet") or "")))
    return out


def credits(obj: Any) -> int | None:
    """Serper reports what a call cost in `credits` (one object, or one per batch query)."""
    if isinstance(obj, dict) and isinstance(obj.get("credits"), int):
        return int(obj["credits"])
    if isinstance(obj, list):
        found = [o["credits"] for o in obj if isinstance(o, dict) and isinstance(o.get("credits"), int)]
        return sum(found) if found else None
    return None


SERPER = WebService(
    name="serper",
    base_url="https://google.serper.dev",
    paths=tuple("/" + e for e in ENDPOINTS),
    key_env=("SERPER_API_KEY",),
    auth="header:X-API-KEY",
    description="Serper: Google search, news, images, places... as JSON",
    prepare=prepare,
    search=SearchAdapter("/search", _query, results),
    units=credits,
)


@hookimpl
def relayport_register_services(register: Callable[[WebService], None]) -> None:
    register(SERPER)
