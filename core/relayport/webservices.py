"""Non-model services the gateway fronts: web search APIs, vendors' tool runners.

A plugin registers a `WebService` (hook `relayport_register_services`); clients then call
``GET|POST /v1/services/{name}/{path}`` with the gateway key, the same paths, parameters and
bodies the vendor documents, and the gateway adds the vendor key kept on the server. Answers
come back byte for byte; vendor errors come back in the OpenAI error envelope with the
vendor's status and message; every call is a `CallRecord` (``kind="service"``) for the
observers (usage meters, metrics) and a log line.

A service that can search the web also describes how (`SearchAdapter`): the gateway then uses
it for ``enable_search`` on models whose vendor cannot search (`relayport.search_tool`).
Tavily, Brave, Exa or Jina fit the same shape: a base URL, the paths, how the key is sent,
and for search-as-a-tool two small functions (query -> body, answer -> results).
"""

from __future__ import annotations

import fnmatch
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
import attrs
import orjson
from aiohttp import web

from relayport import vendor_errors, vendor_headers
from relayport.calls import CallRecord, caller_id
from relayport.logs import request_id
from relayport.model.errors import GatewayError
from relayport.model.http import UpstreamResponse
from relayport.provider import Route, Surface
from relayport.secrets import Secret, resolve_secret

if TYPE_CHECKING:
    from relayport.config import ServiceConfig
    from relayport.gateway import Gateway
    from relayport.provider import Deployment

log = logging.getLogger("relayport.calls")

# Query parameters that name a gateway key (`?key=`, Gemini-style auth) or a vendor key
# (`?apiKey=`, Serper's GET form): never forwarded, the vendor key is the server's.
_KEY_PARAMS = frozenset({"key", "apiKey", "api_key"})


@attrs.define(frozen=True)
class SearchResult:
    title: str
    url: str
    snippet: str = ""


@attrs.define(frozen=True)
class SearchAdapter:
    """How the gateway runs one web search on a service, for search-as-a-tool.

    :param path: the vendor path searched (e.g. "/search").
    :param body: the JSON body for a query and a result count.
    :param results: the answer's results, best first.
    """

    path: str
    body: Callable[[str, int], dict[str, Any]]
    results: Callable[[Any], list[SearchResult]]


@attrs.define
class ServiceCall:
    """One client call as a `WebService.prepare` function may rewrite it before it is sent."""

    method: str
    path: str
    query: dict[str, str]
    body: Any  # the decoded JSON body of a POST (object or array), None for a GET


@attrs.define(frozen=True)
class WebService:
    """A vendor API that is not a model: what a plugin registers.

    :param name: the route segment and config name (``/v1/services/<name>/...``,
        ``[services.<name>]``).
    :param base_url: the vendor's base URL; the client's path is joined to it.
    :param paths: fnmatch patterns of the vendor paths clients may call (anything else is a
        404: the gateway key must not reach every endpoint the vendor key can).
    :param key_env: environment variables tried, in order, for the vendor key.
    :param auth: how the key is sent, as `ProviderSpec.auth`: "bearer", "x-api-key",
        "header:<Name>".
    :param prepare: rewrites a call before it is sent (a documented alias, a field the
        vendor spells differently); raise `GatewayError` (400) for bad input.
    :param search: set when the service searches the web (search-as-a-tool).
    :param units: how many billable units an answer cost (Serper's `credits`), for records.
    :param provider: a model provider whose configured key and base URL the service uses when
        it has none of its own (a vendor's tool API beside its chat API: Kimi's formulas).
    """

    name: str
    base_url: str
    paths: tuple[str, ...]
    key_env: tuple[str, ...] = ()
    auth: str = "bearer"
    description: str = ""
    prepare: Callable[[ServiceCall], None] | None = None
    search: SearchAdapter | None = None
    units: Callable[[Any], int | None] | None = None
    provider: str | None = None

    def allows(self, path: str) -> bool:
        return any(fnmatch.fnmatchcase(path, p) for p in self.paths)


@attrs.define
class ConfiguredService:
    """A registered service with the operator's settings applied (key, base URL, timeout)."""

    spec: WebService
    base_url: str
    api_key: Secret | None
    timeout: float

    def headers(self) -> dict[str, str]:
        key = self.api_key.reveal() if self.api_key else ""
        auth = self.spec.auth
        if not key:
            return {}
        if auth == "bearer":
            return {"Authorization": "Bearer " + key}
        if auth == "x-api-key":
            return {"x-api-key": key}
        if auth.startswith("header:"):
            return {auth[7:]: key}
        return {}

    def __repr__(self) -> str:  # never the key
        return f"ConfiguredService({self.spec.name!r} -> {self.base_url})"


class ServiceRegistry:
    """The services this gateway serves, by name."""

    def __init__(self, specs: list[WebService], config: Mapping[str, ServiceConfig],
                 env: Mapping[str, str], deployments: Sequence[Deployment] = ()) -> None:
        self.services: dict[str, ConfiguredService] = {}
        environ = dict(env)
        for spec in specs:
            conf = config.get(spec.name)
            base_url = conf.base_url if conf and conf.base_url else None
            key = resolve_secret(conf.api_key, environ) if conf and conf.api_key else None
            if key is None and not (conf and conf.api_key):
                key = next((Secret(environ[v]) for v in spec.key_env if environ.get(v)), None)
                dep = next((d for d in deployments if d.provider.name == spec.provider), None)
                if key is None and dep is not None and dep.api_key:
                    key, base_url = dep.api_key, base_url or dep.base_url
            self.services[spec.name] = ConfiguredService(
                spec, base_url or spec.base_url, key, conf.timeout if conf else 60.0)

    def get(self, name: str) -> ConfiguredService:
        service = self.services.get(name)
        if service is None:
            known = ", ".join(sorted(self.services)) or "none installed"
            raise GatewayError(404, f"Unknown service {name!r} (services: {known}).", code="unknown_service")
        return service

    async def call(self, gateway: Gateway, service: ConfiguredService, call: ServiceCall) -> UpstreamResponse:
        """Send one call with the vendor key; a vendor error raises `GatewayError`."""
        spec = service.spec
        if service.api_key is None:
            where = " or ".join(spec.key_env) or f"[services.{spec.name}] api_key"
            raise GatewayError(503, f"The {spec.name} service has no key on this gateway; the operator "
                                    f"sets {where}.", code="service_not_configured")
        headers = service.headers()
        data = None
        if call.body is not None:
            data = orjson.dumps(call.body)
            headers["Content-Type"] = "application/json"
        url = service.base_url.rstrip("/") + call.path
        started = time.perf_counter()
        status, units, error = 0, None, None
        try:
            timeout = aiohttp.ClientTimeout(total=service.timeout)
            async with gateway.session.request(call.method, url, params=call.query, data=data,
                                               headers=headers, timeout=timeout) as resp:
                body = await resp.read()
                answer = UpstreamResponse(resp.status, resp.headers, body)
            status = answer.status
            if status >= 400:
                error = vendor_errors.map_error(answer, spec.name)
                error.headers.update(vendor_headers.for_client(answer.headers, status))
                raise error
            if spec.units is not None:
                units = _units(spec, body)
            return answer
        except TimeoutError:
            error = GatewayError(504, f"{spec.name}: the service did not answer within {service.timeout:g}s.",
                                 code="upstream_timeout")
            status = 504
            raise error from None
        except aiohttp.ClientError as exc:
            error = GatewayError(502, f"{spec.name}: could not reach the service ({type(exc).__name__}).",
                                 code="upstream_unreachable")
            status = 502
            raise error from None
        finally:
            self._record(gateway, spec.name, call.path, status, units, error, started)

    def _record(self, gateway: Gateway, name: str, path: str, status: int, units: int | None,
                error: GatewayError | None, started: float) -> None:
        latency = time.perf_counter() - started
        if gateway.observers:
            gateway.notify(CallRecord(
                request_id=request_id.get(), caller=caller_id(), model=name, provider=name, deployment=name,
                upstream_model=path, status=status, error=None if error is None else (error.code or error.type),
                usage=None, latency=latency, kind="service", units=units))
        if gateway.log_requests and log.isEnabledFor(logging.INFO):
            outcome = "" if error is None else f" error={error.code or error.type}"
            log.info(f"id={request_id.get()} service={name} path={path} status={status}{outcome} "
                     f"units={'-' if units is None else units} ms={latency * 1000:.1f}")

    async def search(self, gateway: Gateway, name: str, query: str, count: int) -> list[SearchResult]:
        """Run one web search on the named service (search-as-a-tool)."""
        service = self.get(name)
        adapter = service.spec.search
        if adapter is None:
            raise GatewayError(500, f"The {name} service cannot search the web.", code="service_not_search")
        answer = await self.call(gateway, service, ServiceCall("POST", adapter.path, {}, adapter.body(query, count)))
        try:
            obj = orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            raise GatewayError(502, f"{name}: the search answer is not JSON.") from None
        return adapter.results(obj)[:count]


def _units(spec: WebService, body: bytes) -> int | None:
    try:
        return spec.units(orjson.loads(body)) if spec.units is not None else None
    except orjson.JSONDecodeError:
        return None


REGISTRY: web.AppKey[ServiceRegistry] = web.AppKey("relayport.webservices")


async def _service_call(request: web.Request) -> web.Response:
    registry = request.app[REGISTRY]
    service = registry.get(request.match_info["service"])
    path = "/" + request.match_info["path"]
    if not service.spec.allows(path):
        raise GatewayError(404, f"The {service.spec.name} service has no route {path!r} here "
                                f"(routes: {', '.join(service.spec.paths)}).", code="unknown_route")
    query = {k: v for k, v in request.query.items() if k not in _KEY_PARAMS}
    body = None
    if request.method == "POST":
        raw = await request.read()
        if raw.strip():
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise GatewayError(400, "The request body is not valid JSON.", code="invalid_json") from None
            if not isinstance(body, (dict, list)):
                raise GatewayError(400, "The request body must be a JSON object or array.", code="invalid_json")
    call = ServiceCall(request.method, path, query, body)
    if service.spec.prepare is not None:
        service.spec.prepare(call)
    from relayport.server.keys import GATEWAY

    answer = await registry.call(request.app[GATEWAY], service, call)
    headers = vendor_headers.for_client(answer.headers, answer.status)
    return web.Response(status=answer.status, body=answer.body, headers=headers,
                        content_type=answer.headers.get("Content-Type", "application/json").split(";")[0])


def services_surface() -> Surface:
    """The route family every registered service is served on."""
    return Surface(
        "services",
        (
            Route("GET", "/v1/services/{service}/{path:.+}", _service_call),
            Route("POST", "/v1/services/{service}/{path:.+}", _service_call),
            Route("GET", "/v1/services", list_services),
        ),
    )


async def list_services(request: web.Request) -> web.Response:
    """`GET /v1/services`: what is installed, its routes, and whether it has a key (never the key)."""
    registry = request.app[REGISTRY]
    data = [
        {"id": name, "object": "service", "description": s.spec.description, "routes": list(s.spec.paths),
         "configured": s.api_key is not None, "search": s.spec.search is not None}
        for name, s in sorted(registry.services.items())
    ]
    return web.Response(body=orjson.dumps({"object": "list", "data": data}), content_type="application/json")
