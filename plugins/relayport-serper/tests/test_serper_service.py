"""Serper behind the gateway key: the non-model service contract, end to end over HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from relayport.calls import CallRecord
from relayport.server.keys import GATEWAY
from relayport.testing.fakes import Reply
from relayport.testing.servers import closed_port
from relayport_serper.testing import FakeSerper

GATEWAY_KEY = "gw-test-key"


@pytest.fixture
def serper() -> Iterator[FakeSerper]:
    fake = FakeSerper()
    fake.start()
    yield fake
    fake.stop()


def _gateway(relayport_gateway, base_url: str, **service):
    return relayport_gateway({"auth": {"keys": [GATEWAY_KEY]},
                              "services": {"serper": {"base_url": base_url, **service}}},
                             env={"SERPER_API_KEY": "serper-test-key"})


def test_post_search_reaches_serper_with_the_server_key(relayport_gateway, serper) -> None:
    gw = _gateway(relayport_gateway, serper.url)
    r = httpx.post(gw.url + "/v1/services/serper/search", headers=gw.headers(),
                   json={"q": "apple inc", "gl": "us", "hl": "en", "num": 3})
    assert r.status_code == 200
    body = r.json()
    assert body["searchParameters"] == {"q": "apple inc", "type": "search", "engine": "google",
                                        "gl": "us", "hl": "en", "num": 3}
    assert [o["position"] for o in body["organic"]] == [1, 2, 3]
    sent = serper.last
    assert (sent.method, sent.path) == ("POST", "/search")
    assert sent.headers["x-api-key"] == "serper-test-key"
    assert GATEWAY_KEY not in str(sent.headers)  # the gateway key never reaches the vendor
    assert sent.json() == {"q": "apple inc", "gl": "us", "hl": "en", "num": 3}


def test_get_search_with_query_parameters_and_serper_style_key_header(relayport_gateway, serper) -> None:
    gw = _gateway(relayport_gateway, serper.url)
    # Serper clients send their key as X-API-KEY (and GET users often as ?apiKey=): the gateway
    # key goes there, and is dropped before the call.
    r = httpx.get(gw.url + "/v1/services/serper/search",
                  params={"q": "coffee", "gl": "de", "hl": "de", "num": "2", "apiKey": GATEWAY_KEY},
                  headers={"X-API-KEY": GATEWAY_KEY})
    assert r.status_code == 200, r.text
    assert len(r.json()["organic"]) == 2
    sent = serper.last
    assert sent.method == "GET" and sent.query == {"q": "coffee", "gl": "de", "hl": "de", "num": "2"}
    assert sent.headers["x-api-key"] == "serper-test-key"


@pytest.mark.parametrize("kind, field", [("news", "news"), ("images", "images"), ("places", "places")])
def test_type_picks_the_endpoint(relayport_gateway, serper, kind: str, field: str) -> None:
    gw = _gateway(relayport_gateway, serper.url)
    r = httpx.post(gw.url + "/v1/services/serper/search", headers=gw.headers(), json={"q": "tesla", "type": kind})
    assert r.status_code == 200
    assert r.json()["searchParameters"]["type"] == kind and r.json()[field]
    assert serper.last.path == f"/{kind}" and "type" not in serper.last.json()
    g = httpx.get(gw.url + "/v1/services/serper/search", headers=gw.headers(), params={"q": "tesla", "type": kind})
    assert g.status_code == 200 and serper.last.path == f"/{kind}" and "type" not in serper.last.query


def test_batch_array_is_serpers_batch(relayport_gateway, serper) -> None:
    gw = _gateway(relayport_gateway, serper.url)
    r = httpx.post(gw.url + "/v1/services/serper/news", headers=gw.headers(), json=[{"q": "a"}, {"q": "b"}])
    assert r.status_code == 200
    assert [x["searchParameters"]["q"] for x in r.json()] == ["a", "b"]


def test_client_errors_in_the_openai_envelope(relayport_gateway, serper) -> None:
    gw = _gateway(relayport_gateway, serper.url)
    url = gw.url + "/v1/services/serper"
    no_key = httpx.post(url + "/search", json={"q": "x"})
    assert no_key.status_code == 401 and no_key.json()["error"]["code"] == "missing_api_key"
    bad_type = httpx.post(url + "/search", headers=gw.headers(), json={"q": "x", "type": "videos-of-cats"})
    assert bad_type.status_code == 400 and bad_type.json()["error"]["param"] == "type"
    not_json = httpx.post(url + "/search", headers=gw.headers(), content=b"{q:", )
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "invalid_json"
    route = httpx.post(url + "/account/keys", headers=gw.headers(), json={})
    assert route.status_code == 404 and route.json()["error"]["code"] == "unknown_route"
    other = httpx.get(gw.url + "/v1/services/nosuch/search", headers=gw.headers())
    assert other.status_code == 404 and "serper" in other.json()["error"]["message"]
    assert len(serper.requests) == 0  # none of these reached the vendor


def test_vendor_errors_keep_status_and_message(relayport_gateway, serper) -> None:
    gw = _gateway(relayport_gateway, serper.url, api_key="wrong-key")
    r = httpx.post(gw.url + "/v1/services/serper/search", headers=gw.headers(), json={"q": "x"})
    assert r.status_code == 403
    assert r.json()["error"]["message"] == "serper: Unauthorized."
    assert "wrong-key" not in r.text
    gw2 = _gateway(relayport_gateway, serper.url)
    missing = httpx.post(gw2.url + "/v1/services/serper/search", headers=gw2.headers(), json={"gl": "us"})
    assert missing.status_code == 400 and missing.json()["error"]["message"] == "serper: Missing query parameter"


def test_unconfigured_unreachable_and_hanging_vendor(relayport_gateway, serper) -> None:
    none = relayport_gateway({"auth": {"keys": [GATEWAY_KEY]}}, env={})
    r = httpx.post(none.url + "/v1/services/serper/search", headers=none.headers(), json={"q": "x"})
    assert r.status_code == 503 and r.json()["error"]["code"] == "service_not_configured"
    assert "SERPER_API_KEY" in r.json()["error"]["message"]
    dead = _gateway(relayport_gateway, f"http://127.0.0.1:{closed_port()}")
    r = httpx.post(dead.url + "/v1/services/serper/search", headers=dead.headers(), json={"q": "x"})
    assert r.status_code == 502 and r.json()["error"]["code"] == "upstream_unreachable"
    slow = _gateway(relayport_gateway, serper.url, timeout=0.3)
    serper.push(Reply(hang=True))
    r = httpx.post(slow.url + "/v1/services/serper/search", headers=slow.headers(), json={"q": "x"}, timeout=10)
    assert r.status_code == 504 and r.json()["error"]["code"] == "upstream_timeout"


def test_every_call_is_recorded_with_its_credits(relayport_gateway, serper) -> None:
    gw = _gateway(relayport_gateway, serper.url)
    seen: list[CallRecord] = []
    gw.server.app[GATEWAY].observers.append(seen.append)
    httpx.post(gw.url + "/v1/services/serper/search", headers=gw.headers(), json={"q": "x"})
    httpx.post(gw.url + "/v1/services/serper/search", headers=gw.headers(), json=[{"q": "a"}, {"q": "b"}])
    serper.push(Reply.json({"message": "Not enough credits", "statusCode": 400}, status=400))
    httpx.post(gw.url + "/v1/services/serper/search", headers=gw.headers(), json={"q": "x"})
    assert [(r.kind, r.model, r.upstream_model, r.status, r.units) for r in seen] == [
        ("service", "serper", "/search", 200, 1), ("service", "serper", "/search", 200, 2),
        ("service", "serper", "/search", 400, None)]
    assert seen[2].error is not None


def test_service_list_says_what_is_configured_without_keys(relayport_gateway, serper) -> None:
    gw = _gateway(relayport_gateway, serper.url)
    r = httpx.get(gw.url + "/v1/services", headers=gw.headers())
    entry = next(s for s in r.json()["data"] if s["id"] == "serper")
    assert entry["configured"] is True and entry["search"] is True and "/news" in entry["routes"]
    assert "serper-test-key" not in r.text
