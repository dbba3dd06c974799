"""The core's services for surfaces: resolve a model, call its vendor, stream, pass through.

Surfaces (the OpenAI routes in the core, the Anthropic and Gemini routes in plugins) parse
their wire format and then use only this class, so every surface gets the same routing,
fallback, timeouts, error mapping and cancellation.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import attrs
import orjson
from aiohttp import web

from relayport import interrupted, retries, upstream, vendor_headers
from relayport.accounts.prices import MediaUnits
from relayport.calls import CallMeter, CallRecord, Observer, caller_id
from relayport.logs import request_id
from relayport.model.chat import ChatRequest, ChatResponse
from relayport.model.errors import CLIENT_GONE, GatewayError
from relayport.model.http import UpstreamRequest, UpstreamResponse, adjustment_headers
from relayport.model.stream import StreamError, StreamEvent, StreamStart, UsageUpdate
from relayport.model.usage import Usage
from relayport.plugins import PluginSet
from relayport.provider import OPENAI_CHAT, Deployment, Passthrough, StreamParser
from relayport.routing import Health, Route, Router, sticky_key
from relayport.token_estimate import body_input_tokens, input_tokens
from relayport.urlguard import FetchPolicy, fetch, new_fetch_session
from relayport.vendor_errors import RETRYABLE_STATUSES, stream_failure
from relayport.wire import newapi_usage
from relayport.wire.eventstream import RawChunks
from relayport.wire.sse import DONE, LineDecoder, SSEDecoder, encode_data
from relayport.wire.transcode import Transcoded

log = logging.getLogger("relayport.calls")

# A surface's own passthrough plan: (deployment, surface, body, client headers) -> plan or None.
NativePlan = Callable[[Deployment, str, dict[str, Any], dict[str, str]], Passthrough | None]


class Gateway:
    def __init__(self, router: Router, plugins: PluginSet, session: aiohttp.ClientSession,
                 log_requests: bool = True, fetch_policy: FetchPolicy | None = None) -> None:
        self.router = router
        self.plugins = plugins
        self.session = session
        self.log_requests = log_requests
        self.fetch_policy = fetch_policy or FetchPolicy()
        # For client-named URLs (never the vendor session: see relayport.urlguard); made on
        # first use, as most gateways never fetch anything.
        self._fetch_session: aiohttp.ClientSession | None = None
        # Set by `relayport serve` to the log handler's fast path (see relayport.logs).
        self.call_log: Callable[[str], None] | None = None
        # Told of every finished attempt (usage meters, metrics): see relayport.calls.
        self.observers: list[Observer] = []
        # The usage meter's direct entry (`Accounts.charge`), set with its observer put first in
        # `observers`: while that observer is the only one, a call is charged without building
        # the `CallRecord` nobody else would read.
        self.meter: CallMeter | None = None
        # `[server] max_response_bytes`: the most of a non-streamed vendor answer kept in memory.
        self.max_response_bytes = upstream.MAX_RESPONSE_BYTES
        # Ask vendors for a stream's usage even when the client did not (and strip it again for
        # that client): True, False, or None for "when an observer is registered".
        self.meter_streams: bool | None = None
        # OpenAI chat answers' usage gets new-api's fields too (relayport.wire.newapi_usage).
        self.new_api_usage = False
        # `[billing] estimate_interrupted`: a stream cut short before its usage came is charged
        # an estimate (relayport.interrupted), not nothing.
        self.estimate_interrupted = True

    @property
    def metering(self) -> bool:
        """Streams are asked for their usage (see `meter_streams`)."""
        return bool(self.observers) if self.meter_streams is None else self.meter_streams

    def resolve(self, model: str, body: dict[str, Any] | None = None) -> list[Deployment]:
        """The route for `model`; with the client's `body`, a sticky key in it (prompt cache
        key, user, session) keeps the conversation on one deployment while it is healthy."""
        router = self.router
        if body is not None and model in router.spread:
            return router.resolve(model, sticky_key(body))
        return router.resolve(model)

    # ------------------------------------------------------------------ fallback loop

    async def _each(self, deployments: list[Deployment], attempt: Callable[[Deployment], Awaitable[Any]]) -> Any:
        """Try deployments in the route's order, retrying as `relayport.retries` decides.

        Every call's answer (or error) carries `x-relayport-deployment` and
        `x-relayport-attempts`; a passthrough stream gets them from `route_headers` before
        its first byte.
        """
        route = deployments if isinstance(deployments, Route) else Route.of(deployments)
        router = self.router
        config = router.config
        end = time.monotonic() + config.deadline if config.deadline else None
        i = 0
        while True:
            dep = route[i]
            route.used += 1
            try:
                if router.limited:
                    await router.admit(router.health(dep), self._queue_wait(route, i, end))
            except GatewayError as exc:
                # Full: no upstream call was made and the deployment did nothing wrong.
                route.failed.add(id(dep))
                step = retries.next_attempt(route, i, exc, router.health(dep), config, time.monotonic())
                if step is None or _past(end, step[1]):
                    exc.headers.update(route_headers(route, router.health(dep)))
                    raise
                i, wait = step
                if wait:
                    await asyncio.sleep(wait)
                continue
            route.attempts += 1
            health = router.begin(dep)
            started = time.perf_counter()
            try:
                if end is None:
                    result = await attempt(dep)
                else:
                    result = await self._attempt_until(end, route, attempt, dep)
            except GatewayError as exc:
                router.release(health)
                # Every attempt leaves a log line with its outcome, failures included.
                self.record(dep, exc.status, None, started, exc)
                router.failed(health, exc)
                route.failed.add(id(dep))
                step = retries.next_attempt(route, i, exc, health, config, time.monotonic())
                if step is None and not exc.retryable and (ahead := router.extend(route, i, exc)) is not None:
                    step = ahead, 0.0
                if step is None or _past(end, step[1]):
                    exc.headers.update(route_headers(route, health))
                    raise
                log.warning("%s failed (%s); attempt %d goes to %s", dep, exc, route.attempts + 1, route[step[0]])
                i, wait = step
                if wait:
                    await asyncio.sleep(wait)
                continue
            except _Translate:
                health.probing = False  # no call was made: the next one may probe
                router.release(health)
                route.attempts -= 1
                route.used -= 1
                raise
            except BaseException as exc:
                health.probing = False  # a cancelled probe must not keep the deployment out
                router.release(health)
                if isinstance(exc, asyncio.CancelledError) and not route.answering:
                    # The client went away while the attempt waited for the vendor (aiohttp
                    # cancels the handler), or a background response was cancelled.
                    self.record(dep, CLIENT_GONE.status, None, started, CLIENT_GONE)
                raise
            router.succeeded(health, time.perf_counter() - started)
            if isinstance(result, ChatStream):
                result.health = health  # released when the stream ends
            else:
                router.release(health)
            headers = getattr(result, "headers", None)
            if isinstance(headers, dict):
                headers.update(route_headers(route, health))
            return result

    def _queue_wait(self, route: Route, i: int, end: float | None) -> float:
        """How long a call waits for a slot of `route[i]`: not at all while another deployment
        of its name (not failed in this call) has one free, else up to `queue_timeout`."""
        router = self.router
        group = route.groups[i]
        for j, dep in enumerate(route):
            if j != i and route.groups[j] == group and id(dep) not in route.failed:
                slots = router.health(dep).slots
                if slots is None or not slots.locked():
                    return 0.0
        wait = router.config.queue_timeout
        return wait if end is None else max(0.0, min(wait, end - time.monotonic()))

    async def _attempt_until(self, end: float, route: Route, attempt: Callable[[Deployment], Awaitable[Any]],
                             dep: Deployment) -> Any:
        """One attempt under the call's deadline; a passthrough stream lifts it (`route.timer`)
        once its answer starts, as the deadline bounds the wait for an answer, not its length."""
        loop_end = asyncio.get_running_loop().time() + (end - time.monotonic())
        try:
            async with asyncio.timeout_at(loop_end) as route.timer:
                return await attempt(dep)
        except TimeoutError:
            raise GatewayError(504, f"The call did not get an answer within its deadline "
                               f"(router.deadline = {self.router.config.deadline:g} s).",
                               code="deadline_exceeded") from None
        finally:
            route.timer = None

    async def call(self, deployments: list[Deployment], attempt: Callable[[Deployment], Awaitable[Any]]) -> Any:
        """`attempt(deployment)` over a route with the router's retries, fallbacks, circuit
        breaker and concurrency limits: for routes that are not chat (media task submits,
        embeddings). The attempt raises `GatewayError` (retryable or not) when it fails."""
        return await self._each(deployments, attempt)

    async def _error_from(self, dep: Deployment, resp: aiohttp.ClientResponse) -> GatewayError:
        body = await upstream.read_body(dep, resp, self.max_response_bytes)
        response = UpstreamResponse(resp.status, resp.headers, body)
        err = dep.hooks.relayport_map_error(deployment=dep, response=response)
        err = err or GatewayError(resp.status if resp.status >= 400 else 502, f"HTTP {resp.status}")
        for name, value in vendor_headers.for_client(resp.headers, resp.status).items():
            err.headers.setdefault(name, value)
        return err

    # ------------------------------------------------------------------ canonical calls

    async def fetch_urls(self, dep: Deployment, request: ChatRequest) -> None:
        """Download what the plugin asks for (`relayport_urls_to_fetch`) into `request.fetched`."""
        urls = dep.hooks.relayport_urls_to_fetch(deployment=dep, request=request)
        wanted = [u for u in dict.fromkeys(urls or ()) if u not in request.fetched]
        if not wanted:
            return
        if self._fetch_session is None:
            self._fetch_session = new_fetch_session(self.fetch_policy)
        session, policy = self._fetch_session, self.fetch_policy
        results = await asyncio.gather(*(fetch(session, u, policy) for u in wanted))
        request.fetched.update(zip(wanted, results, strict=True))

    async def close(self) -> None:
        if self._fetch_session is not None:
            await self._fetch_session.close()

    def _translate(self, dep: Deployment, request: ChatRequest) -> UpstreamRequest:
        req = dep.hooks.relayport_translate_request(deployment=dep, request=request)
        if req is None:
            raise GatewayError(501, f"Provider '{dep.provider.name}' cannot serve chat requests.",
                               code="unsupported_operation")
        return req

    async def complete(self, request: ChatRequest, deployments: list[Deployment]) -> ChatResponse:
        async def attempt(dep: Deployment) -> ChatResponse:
            started = time.perf_counter()
            await self.fetch_urls(dep, request)
            up = self._translate(dep, request)
            up.stream = False
            async with upstream.send(self.session, dep, up) as resp:
                if resp.status >= 300:
                    raise await self._error_from(dep, resp)
                body = await upstream.read_body(dep, resp, self.max_response_bytes)
            try:
                result = dep.hooks.relayport_parse_response(
                    deployment=dep, request=request, response=UpstreamResponse(resp.status, resp.headers, body)
                )
            except GatewayError as exc:
                # A body the plugin cannot read (cut short, garbled) reached nobody yet.
                exc.retryable = exc.retryable or exc.status == 502
                raise
            if result is None:
                raise GatewayError(501, f"Provider '{dep.provider.name}' cannot parse chat responses.")
            result.headers.update(answer_headers(up.adjustments, resp))
            self.record(dep, resp.status, result.usage, started)
            return result

        return await self._each(deployments, attempt)

    async def open_stream(self, request: ChatRequest, deployments: list[Deployment]) -> ChatStream:
        """Start a stream; errors before the vendor's first byte raise, later ones are events."""

        if not request.include_usage and self.metering:
            # The vendor is asked for usage; the surface still encodes for what its client asked.
            request = attrs.evolve(request, include_usage=True)

        async def attempt(dep: Deployment) -> ChatStream:
            parser = dep.hooks.relayport_stream_parser(deployment=dep, request=request)
            if parser is None:
                raise GatewayError(501, f"Provider '{dep.provider.name}' cannot stream.")
            await self.fetch_urls(dep, request)
            up = self._translate(dep, request)
            up.stream = True
            cm = upstream.send(self.session, dep, up)
            resp = await cm.__aenter__()
            # A JSON body where a stream was asked for is a failure even under HTTP 200:
            # vendors (MiniMax) report errors that way; the provider's map_error reads it.
            if resp.status >= 300 or resp.content_type == "application/json":
                try:
                    raise await self._error_from(dep, resp)
                finally:
                    await cm.__aexit__(None, None, None)
            try:
                # Read up to the first whole event before the surface answers the client, so
                # a vendor failing before it is a failed attempt, not a broken stream.
                first = await _first_events(dep, resp.content, _EVENT_END.get(parser.framing, b"\n\n"))
            except BaseException:
                await cm.__aexit__(*sys.exc_info())
                raise
            stream = ChatStream(self, dep, cm, resp, parser, first, request)
            try:
                refused = stream.open()
            except BaseException:
                await stream.discard()
                raise
            if refused is not None:
                # The vendor opened its 200 stream with an error (a throttling frame, an error
                # chunk): the client has nothing yet, so the attempt failed with that error's
                # status, and a fallback or the client's retry sees it (retried as that status
                # would be: an in-band error is not marked retryable, as mid-stream it is not).
                await stream.discard()
                refused.retryable = refused.retryable or refused.status in RETRYABLE_STATUSES
                raise refused
            stream.headers.update(answer_headers(up.adjustments, resp))
            return stream

        return await self._each(deployments, attempt)

    # ------------------------------------------------------------------ passthrough

    async def passthrough(
        self,
        http_request: web.Request,
        surface: str,
        body: dict[str, Any],
        deployments: list[Deployment],
        headers: dict[str, str] | None = None,
        native: NativePlan | None = None,
    ) -> web.StreamResponse | list[Deployment]:
        """Forward the client's own wire format to deployments whose vendor speaks it.

        Returns the response, or the deployments the surface has to translate for: all of
        them when the first one's vendor speaks another format, or, when passed-through
        deployments failed with retryable errors, the fallbacks from the first one that needs
        translation. The body may be rewritten by the plugin (model name, unsupported
        fields); answers go back byte for byte except for events the plugin's `patch` changes.

        `native` is the surface's own plan for deployments whose plugin has none (called with
        the hook's arguments when `relayport_passthrough` returns None): the Anthropic surface
        uses it for vendors that declare an Anthropic-compatible endpoint.
        """
        route = deployments if isinstance(deployments, Route) else Route.of(deployments)
        dep0 = route[0]
        hdrs = headers or {}
        strip, asked = False, body.get("stream_options")
        if surface == OPENAI_CHAT and self.metering:
            strip = _ask_usage(body)
        # The hook may rewrite the body in place, so fallbacks get their own copy.
        pristine = orjson.dumps(body) if len(deployments) > 1 or dep0.name in self.router.extendable else None
        first = dep0.hooks.relayport_passthrough(deployment=dep0, surface=surface, body=body, headers=hdrs)
        if first is None and native is not None:
            first = native(dep0, surface, body, hdrs)
        if first is None:
            if strip:
                _restore(body, "stream_options", asked)  # the surface translates what the client sent
            return route

        async def attempt(dep: Deployment) -> web.StreamResponse:
            plan: Passthrough | None = first
            if dep is not dep0:
                copy = orjson.loads(pristine or b"{}")
                plan = dep.hooks.relayport_passthrough(deployment=dep, surface=surface, body=copy, headers=hdrs)
                if plan is None and native is not None:
                    plan = native(dep, surface, copy, hdrs)
            if plan is None:
                raise _Translate(dep)
            if self.new_api_usage and surface == OPENAI_CHAT:
                newapi_usage.extend(plan)
            started = time.perf_counter()
            async with upstream.send(self.session, dep, plan.request) as resp:
                if resp.status >= 300:
                    if plan.unavailable is not None and plan.unavailable(resp.status):
                        log.warning("%s: the %s endpoint answered %d; translating instead", dep, surface,
                                    resp.status)
                        raise _Translate(dep)
                    raise await self._error_from(dep, resp)
                extra = route_headers(route, self.router.health(dep))
                if route.timer is not None:
                    route.timer.reschedule(None)  # the answer started: the deadline is met
                if plan.request.stream and (resp.content_type == "text/event-stream" or plan.transcode):
                    route.answering = True
                    try:
                        return await self._pipe_stream(http_request, dep, resp, plan, started, extra, strip,
                                                       body if dep is dep0 else copy)
                    except GatewayError:
                        route.answering = False  # failed before the client's first byte
                        raise
                return await self._pipe_body(dep, resp, plan, started, extra)

        try:
            result: web.StreamResponse = await self._each(route, attempt)
        except _Translate as switch:
            if strip:
                _restore(body, "stream_options", asked)
            return route.rest(route.index(switch.deployment))
        return result

    async def _pipe_body(self, dep: Deployment, resp: aiohttp.ClientResponse, plan: Passthrough,
                         started: float, extra: dict[str, str]) -> web.Response:
        body = await upstream.read_body(dep, resp, self.max_response_bytes)
        usage = None
        if plan.patch is not None or plan.usage is not None:
            try:
                obj = orjson.loads(body)
            except orjson.JSONDecodeError:
                # Cut short or garbled: nothing reached the client yet, so another attempt may.
                raise GatewayError(502, f"{dep.provider.name}: the vendor's answer is not valid JSON.",
                                   code="upstream_malformed_response", retryable=True) from None
            if isinstance(obj, dict):
                if plan.patch is not None and plan.patch(obj):
                    body = orjson.dumps(obj)
                usage = plan.usage(obj) if plan.usage is not None else None
        self.record(dep, resp.status, usage, started)
        headers = answer_headers(plan.request.adjustments, resp)
        headers.update(extra)
        return web.Response(body=body, status=resp.status, headers=headers,
                            content_type=resp.content_type or "application/json")

    async def _pipe_stream(self, http_request: web.Request, dep: Deployment,
                           resp: aiohttp.ClientResponse, plan: Passthrough,
                           started: float, extra: dict[str, str], strip: bool = False,
                           body: dict[str, Any] | None = None) -> web.StreamResponse:
        """Pipe a vendor's SSE stream to the client, whole events at a time. `strip`: the
        gateway asked for usage the client did not ask for, and takes it out again. Records
        its own end, a client that went away included (`Route.answering`); `body`, the request
        as sent, is what a stream cut short is charged for (relayport.interrupted)."""
        content: Any = resp.content
        if plan.transcode is not None:  # the vendor's framing is not the client's (Bedrock)
            content = Transcoded(content, plan.transcode(), plan.stream_error)
        usage: Usage | None = None
        ttfb: float | None = None
        recorded = False
        # The last read as read (what an estimate of a stream cut short samples: before usage is
        # stripped, as `content.total_bytes`, what the stream has read in all, counts it). One
        # read, not two, on this path: a read that fails raises, so the last is one that came whole.
        sample = b""
        try:
            chunk = await _first_events(dep, content)
            if plan.transcode is not None and content.failure is not None:
                # The vendor's first frame was its error (Bedrock's exception frames): a failed
                # attempt with the error's own status, as any failure before the first byte.
                raise content.failure
            if (opening := _opening_failure(chunk)) is not None:
                # A 200 whose first event is the vendor's error: no output yet, so a failed
                # attempt as well (another deployment may answer), not an error event in-band.
                resp.close()
                raise opening
            ttfb = time.perf_counter() - started
            # Only now does the client get a byte: a vendor that failed before its first whole
            # event (reset, stall, garbage) was an attempt that failed, and the call goes on.
            headers = {**SSE_HEADERS, **answer_headers(plan.request.adjustments, resp), **extra}
            out = web.StreamResponse(status=resp.status, headers=headers)
            await out.prepare(http_request)
            marker = plan.marker
            inspect = plan.patch is not None or plan.usage is not None
            failure: GatewayError | None = None
            pending = b""
            try:
                while chunk:
                    if b"\r" in chunk:
                        chunk = chunk.replace(b"\r\n", b"\n")
                    data = pending + chunk if pending else chunk
                    cut = data.rfind(b"\n\n")
                    if cut < 0:
                        pending = data
                        chunk = await content.readany()
                        continue
                    # Forward whole events only: a client never sees half an event, and an event
                    # to patch is always complete in our hands.
                    sample = complete = data[: cut + 2]
                    pending = data[cut + 2:]
                    if len(complete) > 2 and complete[-3] not in _JSON_ENDS and (bad := _malformed_tail(complete)) >= 0:
                        # The read's last event is a data line that cannot be JSON (truncated or
                        # garbled): forward what came before it, then end with an error event.
                        await out.write(complete[:bad])
                        failure = _malformed(dep)
                        resp.close()
                        break
                    last = not pending and complete.endswith(_DONE_EVENT)
                    if strip and marker == _USAGE:
                        # Only usage events need decoding: read, patch and take them out at once.
                        complete, found = _strip_usage(complete, plan)
                        usage = found or usage
                        look = False
                    else:
                        look = inspect and marker in complete
                    if look and plan.patch is not None:
                        complete, found = _inspect_events(complete, plan)
                        usage = found or usage
                        look = False
                    elif look and last:
                        usage = _last_usage(complete, plan) or usage  # recorded before the last write
                        look = False
                    if strip and marker != _USAGE:
                        complete = _strip_usage(complete, None)[0]  # every event was patched above
                    if last:
                        # The stream's last event: it and the end of the response in one write.
                        recorded = True
                        self.record(dep, resp.status, usage, started, ttfb=ttfb, stream=True)
                        await out.write_eof(complete)
                        await upstream.finish_body(resp)
                        return out
                    await out.write(complete)
                    if look:
                        # Only reading usage: the client got the bytes first, accounting comes after.
                        usage = _last_usage(complete, plan, exact=False) or usage
                    chunk = await content.readany()
                else:
                    if pending.strip():
                        if _malformed_tail(pending + b"\n\n") >= 0:
                            failure = _malformed(dep)  # the vendor stopped in the middle of an event
                        else:
                            await out.write(pending)
            except ConnectionResetError:
                raise  # the client's side (aiohttp's ClientConnectionResetError is a ClientError too)
            except TimeoutError:
                failure = upstream.timed_out(dep)
            except aiohttp.ClientError as exc:
                failure = upstream.unreachable(dep, exc)
            if failure is not None:
                usage = self.cut_short_usage(usage, body, content.total_bytes, sample)
                await out.write(plan.stream_error(failure))
            elif plan.transcode is not None and (failure := content.failure) is not None:
                # The transcoder gave the vendor's failure to the client as an error event already
                # (so the last read is that event: the sample is the one before it).
                usage = self.cut_short_usage(usage, body, content.total_bytes, content.last)
            recorded = True
            self.record(dep, failure.status if failure else resp.status, usage, started, failure,
                        ttfb=ttfb, stream=True)
            await out.write_eof()
            return out
        except (ConnectionResetError, asyncio.CancelledError):
            # The client went away (a write failed, or aiohttp cancelled the handler) before the
            # stream's end: logged as such, with what usage came, and the vendor's answer dropped.
            resp.close()
            if not recorded:
                usage = self.cut_short_usage(usage, body, content.total_bytes, sample)
                self.record(dep, CLIENT_GONE.status, usage, started, CLIENT_GONE, ttfb=ttfb, stream=True)
            raise

    def cut_short_usage(self, usage: Usage | None, body: dict[str, Any] | ChatRequest | None, received: int,
                        sample: bytes) -> Usage | None:
        """The usage to charge a stream that ended before the vendor's usage came: the
        estimate of relayport.interrupted from the request (`body`) and what was read."""
        if not self.estimate_interrupted or body is None:
            return usage
        if isinstance(body, ChatRequest):
            return interrupted.estimate(usage, lambda: input_tokens(body), received, sample)
        return interrupted.estimate(usage, lambda: body_input_tokens(body), received, sample)

    # ------------------------------------------------------------------ accounting

    def record(self, dep: Deployment, status: int, usage: Usage | None, started: float,
               error: GatewayError | None = None, *, ttfb: float | None = None, stream: bool = False,
               media: MediaUnits | None = None) -> None:
        """The call's log line: what was asked, of whom, how it ended, what it cost; and the
        call's record for the observers. `ttfb`: a stream's seconds to its first byte; `media`:
        what a media call produced, for prices per unit."""
        if self.observers:
            # Positional, in CallRecord's field order (the meter's too): attrs' __init__ takes
            # keywords at twice the cost (0.7 against 0.3 us), and this runs once per metered call.
            fields = (request_id.get(), caller_id(), dep.name, dep.provider.name, self.router.health(dep).label,
                      dep.model, status, None if error is None else (error.code or error.type), usage,
                      time.perf_counter() - started, ttfb, stream)
            if (meter := self.meter) is not None and len(self.observers) == 1:
                meter(*fields, media)  # the usage meter alone: no record to build
            else:
                rec = CallRecord(*fields)
                if media is not None:
                    rec.media = media
                self.notify(rec)
        if not self.log_requests:
            return
        info = self.call_log or (log.info if log.isEnabledFor(logging.INFO) else None)
        if info is None:
            return
        if usage is None:
            tokens = "in=- out=- cached=-"
        else:
            cached = "-" if usage.cached_tokens is None else usage.cached_tokens
            tokens = f"in={usage.input_tokens} out={usage.output_tokens} cached={cached}"
        outcome = "" if error is None else f" error={error.code or error.type}"
        info(
            f"id={request_id.get()} model={dep.name} provider={dep.provider.name} upstream_model={dep.model} "
            f"status={status}{outcome} {tokens} ms={(time.perf_counter() - started) * 1000:.1f}"
        )


    def notify(self, rec: CallRecord) -> None:
        """Hand a finished call's record to every observer (non-model services use it too)."""
        for observe in self.observers:
            try:
                observe(rec)
            except Exception:  # an observer's bug must not fail the call it observes
                log.exception("call observer %r failed", observe)


# The byte before an event's blank line when its last line is JSON data or `[DONE]`: the one
# check every read pays; only a read ending otherwise is looked at closer (`_malformed_tail`).
_JSON_ENDS = frozenset(b"}]")


def _malformed_tail(events: bytes) -> int:
    """Where the last event of `events` (ending in a blank line) starts when its last line is
    a data line that cannot be a JSON object, array or `[DONE]`; -1 when it looks whole.

    Only the last event of a read is checked: a vendor cut off mid-event (the usual failure)
    ends a read there; garbage in the middle of a read is not looked for (that would mean
    looking at every event on the hot path).
    """
    body = events.rstrip(b"\n")
    start = body.rfind(b"\n\n") + 2 if b"\n\n" in body else 0
    line_at = body.rfind(b"\n") + 1
    line = body[line_at:]
    if not line.startswith(b"data:"):
        return -1  # a comment, an `event:` or `id:` line: nothing to parse
    payload = line[5:].strip()
    if payload.endswith((b"}", b"]")) and payload[:1] in (b"{", b"["):
        return -1
    return start


# What ends an event, per framing; binary framings ("bytes") have none the core knows of.
_EVENT_END = {"lines": b"\n", "bytes": b""}
# An event's end (`_first_events`' `end`) as a CRLF stream spells it.
_CRLF_END = {b"\n\n": b"\r\n\r\n", b"\n": b"\r\n"}


async def _first_events(dep: Deployment, content: aiohttp.StreamReader, end: bytes = b"\n\n") -> bytes:
    """The stream's first read(s), up to a whole event (`end` ends one) that is not broken; a
    retryable error when the vendor closes, stalls or sends garbage before that. With no `end`
    (binary framing) the first non-empty read: the parser judges its frames."""
    try:
        data = await content.readany()
        if not end and data:
            return data
        crlf_end = _CRLF_END.get(end, end)
        # A CRLF stream (Gemini's) never holds `end` as sent: its own form is looked for
        # first, so a large first read is not scanned end to end for a blank line it cannot
        # contain; an LF stream pays one memchr for the check.
        while (b"\r" not in data or crlf_end not in data) and end not in data:
            more = await content.readany()
            if not more:
                break
            data += more
    except TimeoutError:
        raise upstream.timed_out(dep) from None
    except aiohttp.ClientError as exc:
        raise upstream.unreachable(dep, exc) from None
    head = data
    if b"\r" in data:
        # Only the first event is looked at: LF line ends for it alone, not a copy of the
        # whole read (the stream's decoder normalises the rest once, later).
        at = data.find(crlf_end)
        head = (data if at < 0 else data[:at + len(crlf_end)]).replace(b"\r\n", b"\n")
    cut = head.find(end)
    if cut > 0 and (end != b"\n\n" or head[cut - 1] in _JSON_ENDS):
        return data  # the usual first read: a whole event whose data is a JSON object
    if not data.strip():
        raise GatewayError(502, f"{dep.provider.name}: the vendor ended the stream before its first event.",
                           code="upstream_empty_stream", retryable=True)
    if cut < 0 or (end == b"\n\n" and _malformed_tail(head[:cut + 2]) == 0):
        err = _malformed(dep)
        err.retryable = True
        raise err
    return data


def _opening_failure(data: bytes) -> GatewayError | None:
    """The vendor's error when the first data line in `data` (a stream's first read) is one
    (`relayport.vendor_errors.stream_failure`); comments, keep-alives and `event:` lines before
    it are passed over (OpenRouter's `: OPENROUTER PROCESSING`, Anthropic's `event: error`).
    Vendors send an event's JSON on one line. Only that line is searched: this runs on every
    passed-through stream, and a first read can hold a whole answer (tens of KB: a search for
    `"error"` over all of it cost ~9% of a streamed call's instructions)."""
    start = 0 if data.startswith(b"data:") else data.find(b"data:")
    end = data.find(b"\n", start)
    if start < 0 or data.find(b'"error"', start, end) < 0:
        return None
    try:
        obj = orjson.loads(data[start + 5:end])
    except orjson.JSONDecodeError:
        return None  # not JSON (a broken event is the stream's own check)
    return stream_failure(obj) if isinstance(obj, dict) else None


def _malformed(dep: Deployment) -> GatewayError:
    return GatewayError(502, f"{dep.provider.name}: the vendor's stream broke off mid-event.",
                        code="upstream_malformed_stream")


def _past(end: float | None, wait: float) -> bool:
    """Whether the call's deadline comes before a next attempt after `wait` seconds could."""
    return end is not None and time.monotonic() + wait >= end


_USAGE = b'"usage"'
# How vendors spell the `"usage": null` OpenAI adds to every chunk once usage is asked for.
_NULL_USAGE = (b',"usage":null', b', "usage": null')


def _ask_usage(body: dict[str, Any]) -> bool:
    """Ask an OpenAI chat stream's vendor for usage the client did not ask for; True when the
    body was changed (the answer's usage then has to be taken out again, also when a plugin
    drops the option for a vendor that always sends usage: its plan then adds the chunk).
    A body in a vendor's native format (no `messages`, e.g. DashScope's) is left alone."""
    if body.get("stream") is not True or "messages" not in body:
        return False
    options = body.get("stream_options")
    if isinstance(options, dict):
        if options.get("include_usage"):
            return False
        body["stream_options"] = {**options, "include_usage": True}
    else:
        body["stream_options"] = {"include_usage": True}
    return True


def _restore(body: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        body.pop(key, None)
    else:
        body[key] = value


def _without_null_usage(events: bytes) -> bytes:
    # split + join searches the read once; replace searches it twice (count, then copy).
    pieces = events.split(_NULL_USAGE[0])
    if len(pieces) == 1:
        if _NULL_USAGE[1] not in events:
            return events
        pieces = events.split(_NULL_USAGE[1])
    return b"".join(pieces)


def _strip_usage(events: bytes, plan: Passthrough | None) -> tuple[bytes, Usage | None]:
    """`events` without the usage a client did not ask for, and that usage (read with `plan`,
    whose `patch` then sees the usage events too; None: they were read already).

    OpenAI's `"usage":null` on every chunk goes with one replace; what carries usage then is
    found from the end (the usage chunk is the stream's last but `[DONE]`), so a read is not
    split into events: OpenAI's usage-only chunk is dropped (and ends the search), usage on a
    chunk with choices (some vendors put it on the last one) is taken off it.
    """
    events = _without_null_usage(events)
    usage: Usage | None = None
    end = len(events)
    while (at := events.rfind(_USAGE, 0, end)) >= 0:
        start = events.rfind(b"\n\n", 0, at)
        start = start + 2 if start >= 0 else 0
        stop = events.find(b"\n\n", at)
        stop = stop + 2 if stop >= 0 else len(events)
        block = events[start:stop]
        if plan is not None:
            block, found = _inspect_events(block, plan)
            usage = usage or found  # going backwards: the first found is the latest
        kept = _without_usage(block)
        events = events[:start] + kept + events[stop:]
        if not kept:
            break  # OpenAI's usage-only chunk: the one usage of the stream, nothing before it has any
        end = start
    return events, usage


def _without_usage(block: bytes) -> bytes:
    """One event (or a few, joined by a plugin's `tail`) without usage; b"" for usage-only."""
    parts = block.split(b"\n\n")
    for i, part in enumerate(parts):
        if _USAGE not in part:
            continue
        lines = part.split(b"\n")
        for j, line in enumerate(lines):
            if not line.startswith(b"data:") or _USAGE not in line:
                continue
            try:
                obj = orjson.loads(line[5:])
            except orjson.JSONDecodeError:
                continue
            if not isinstance(obj, dict) or "usage" not in obj:
                continue
            if not obj.get("choices"):  # OpenAI's usage-only chunk
                lines = []
                break
            del obj["usage"]
            lines[j] = b"data: " + orjson.dumps(obj)
        parts[i] = b"\n".join(lines)
    return b"\n\n".join(p for p in parts if p) + (b"\n\n" if block.endswith(b"\n\n") and any(parts) else b"")


def route_headers(route: Route, health: Health) -> dict[str, str]:
    return {"x-relayport-deployment": health.label, "x-relayport-attempts": str(route.attempts)}


def answer_headers(adjustments: list[str], resp: aiohttp.ClientResponse) -> dict[str, str]:
    """What every answer tells the client besides its body, translated or passed through: the
    gateway's adjustments and the vendor's headers worth keeping (request id, rate limits)."""
    headers = adjustment_headers(adjustments)
    headers.update(vendor_headers.for_client(resp.headers, resp.status))
    return headers


class _Translate(Exception):
    """Passthrough reached a fallback deployment whose vendor needs translation."""

    def __init__(self, deployment: Deployment) -> None:
        super().__init__(deployment.name)
        self.deployment = deployment


_DONE_EVENT = encode_data(DONE)
# A large first read (a fast vendor, or a queue that filled up) is cut after this many events,
# so that the first tokens go out before the rest of the read is translated.
_FIRST_SLICE = 4


def _slice_list(events: list[Any]) -> list[list[Any]]:
    if len(events) > _FIRST_SLICE * 2:
        return [events[:_FIRST_SLICE], events[_FIRST_SLICE:]]
    return [events]


SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _last_usage(complete: bytes, plan: Passthrough, exact: bool = True) -> Usage | None:
    """The usage of the last event of `complete` that carries one, looking from the end.

    Only accounting needs it, and the final usage chunk is the read's last event or close to
    it, while streams with `include_usage` carry `"usage":null` in every other chunk. Usage is
    an object, written `"usage":{` or `"usage": {` by every JSON encoder vendors use: those
    two needles, searched from the right in C, find it without looking at each `null`. Only
    `exact` (the stream's last read) then steps back through every marker in Python, for a
    spelling the needles miss (a read of 100 token chunks: ~40 us against ~8 us).
    """
    marker = plan.marker
    # A vendor's encoder writes every chunk alike: the first marker tells which needle to use.
    first = complete.find(marker) + len(marker)
    at = complete.rfind(marker + (b": {" if complete[first:first + 2] == b": " else b":{"))
    if at >= 0 and (usage := _usage_at(complete, at, plan)) is not None:
        return usage
    if not exact:
        return None
    end = len(complete)
    while (at := complete.rfind(marker, 0, end)) >= 0:
        value = at + len(marker)
        if not complete[value:value + 8].lstrip(b": ").startswith(b"null"):
            usage = _usage_at(complete, at, plan)
            if usage is not None:
                return usage
        end = at
    return None


def _usage_at(complete: bytes, at: int, plan: Passthrough) -> Usage | None:
    """The usage read from the event of `complete` that holds offset `at`."""
    start = complete.rfind(b"\n\n", 0, at)
    stop = complete.find(b"\n\n", at)
    return _inspect_events(complete[start + 2 if start >= 0 else 0:stop + 2 if stop >= 0 else len(complete)],
                           plan)[1]


def _inspect_events(complete: bytes, plan: Passthrough) -> tuple[bytes, Usage | None]:
    usage: Usage | None = None
    blocks = complete.split(b"\n\n")
    dropped: list[int] = []  # events a patch emptied: not sent
    changed = False
    marker = plan.marker
    for i, block in enumerate(blocks):
        at = block.find(marker)
        # `"usage":null` rides on every chunk of an OpenAI stream with include_usage: skip it
        # without decoding (only the marker's first occurrence is looked at, which is enough
        # for the one-object-per-event streams vendors send).
        if at < 0 or block[at + len(marker):at + len(marker) + 6].lstrip(b": ").startswith(b"null"):
            continue
        lines = block.split(b"\n")
        for j, line in enumerate(lines):
            if not line.startswith(b"data:") or plan.marker not in line:
                continue
            payload = line[5:].lstrip()
            try:
                obj = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(obj, dict):
                continue
            if plan.patch is not None and plan.patch(obj):
                lines[j] = b"data: " + orjson.dumps(obj) if obj else b""
                changed = True
            if plan.usage is not None:
                usage = plan.usage(obj) or usage
            if plan.tail is not None and (extra := plan.tail(obj)) is not None:
                lines[j] += b"\n\ndata: " + orjson.dumps(extra)
                changed = True
        if changed:
            # A patch that emptied its object dropped the event (e.g. usage nobody asked for).
            kept = [line for line in lines if line]
            blocks[i] = b"\n".join(kept)
            if not kept:
                dropped.append(i)
    if not changed:
        return complete, usage
    if dropped:
        blocks = [block for i, block in enumerate(blocks) if i not in dropped]
    return b"\n\n".join(blocks), usage


# What a stream may say before its first output (an error after only these is an opening error).
_BEFORE_OUTPUT = (StreamStart, UsageUpdate)


class ChatStream:
    """A vendor stream being read: iterate for lists of canonical events, one list per read.
    `Gateway.open_stream` makes it and calls `open` (the first read) before handing it out."""

    def __init__(self, gateway: Gateway, dep: Deployment, cm: Any, resp: aiohttp.ClientResponse,
                 parser: StreamParser, first: bytes = b"", request: ChatRequest | None = None) -> None:
        self.gateway = gateway
        self._request = request  # what a stream cut short is charged for (relayport.interrupted)
        # The last read (what that estimate samples; one, as a store per read is what it costs).
        self._sample = b""
        self.deployment = dep
        self._cm = cm
        self._resp = resp
        self._parser = parser
        self._closed = False
        self._first = first  # what `open_stream` read before the client got its headers
        self._feed_sse = getattr(parser, "feed_sse", None) if parser.framing == "sse" else None
        self.usage: Usage | None = None
        # Headers for the client's response (see `ChatResponse.headers`); send before the body.
        self.headers: dict[str, str] = {}
        self._error: GatewayError | None = None
        self._started = time.perf_counter()
        # The vendor's stream was read to its end (else, with no error and the parser not done,
        # the reader stopped early: the client went away).
        self._ended = False
        # Set by the gateway: the deployment's in-flight count drops when the stream ends.
        self.health: Health | None = None
        self._ttfb: float | None = None
        # The first read's batches, parsed by `open` before the client gets its headers.
        self._head: list[list[StreamEvent]] = []
        decoder: LineDecoder | SSEDecoder | RawChunks
        if parser.framing == "lines":
            decoder = LineDecoder()
            self._split: Callable[[bytes], Any] = decoder.feed
        elif self._feed_sse is not None:
            # The parser takes the read's whole events as bytes: no event objects at all.
            decoder = SSEDecoder()
            self._split = decoder.take
        elif parser.framing == "bytes":
            decoder = RawChunks()  # binary frames (AWS eventstream): the parser joins reads
            self._split = decoder.feed
        else:
            decoder = SSEDecoder()
            self._split = decoder.feed
        self._decoder = decoder

    def __aiter__(self) -> AsyncIterator[list[StreamEvent]]:
        return self._events()

    @property
    def done(self) -> bool:
        """The vendor said the stream is complete (what was yielded last is the end)."""
        return self._parser.done

    def _parse(self, part: Any) -> list[StreamEvent]:
        parser = self._parser
        batch: list[StreamEvent] = []
        try:
            if self._feed_sse is not None:
                return self._feed_sse(part)  # type: ignore[no-any-return]
            for ev in part:
                batch.extend(parser.feed(ev))
                if parser.done:
                    break
        except GatewayError as exc:
            # What the vendor sent before its error in the same read still counts.
            batch.append(StreamError(exc))
        return batch

    def open(self) -> GatewayError | None:
        """Parse the first read (what `open_stream` read before the client gets its headers);
        the vendor's error when the stream opens with one, before any output."""
        chunk, self._first = self._first, b""
        if not chunk:
            return None
        self._ttfb = time.perf_counter() - self._started
        self._sample = chunk
        events = self._split(chunk)
        if not events:
            return None
        # Cut a large first read, unless the parser takes whole reads: one costs it so little
        # that even a large first one goes in one piece.
        for part in _slice_list(events) if self._feed_sse is None else [events]:
            batch = self._parse(part)
            if batch:
                self._note(batch)
                self._head.append(batch)
            if self._last(batch):
                break
        for batch in self._head:
            for ev in batch:
                if isinstance(ev, StreamError):
                    return ev.error
                if not isinstance(ev, _BEFORE_OUTPUT):
                    return None  # output came first: the error, if any, goes to the client in-band
        return None

    async def discard(self) -> None:
        """Close a stream whose attempt failed at its opening (the attempt's error is its record)."""
        self._closed = True
        self._resp.close()
        await self._cm.__aexit__(None, None, None)

    async def _events(self) -> AsyncIterator[list[StreamEvent]]:
        parser = self._parser
        split = self._split
        try:
            try:
                head, self._head = self._head, []
                for batch in head:
                    yield batch
                if parser.done or (head and self._last(head[-1])):
                    return
                content = self._resp.content
                chunk = await content.readany()
                if self._ttfb is None:
                    self._ttfb = time.perf_counter() - self._started
                while chunk:
                    self._sample = chunk
                    events: Any = split(chunk)  # event objects, or bytes for feed_sse
                    if events:
                        batch = self._parse(events)
                        if batch:
                            self._note(batch)
                            yield batch
                        if self._last(batch):
                            return
                    chunk = await content.readany()
                self._ended = True
                tail: list[StreamEvent] = []
                for ev in self._decoder.flush():
                    tail.extend(parser.feed(ev))
                tail.extend(parser.close())
                if tail:
                    self._note(tail)
                    yield tail
            except GatewayError as exc:
                self._error = exc
                yield [StreamError(exc)]
            except TimeoutError:
                self._error = upstream.timed_out(self.deployment)
                yield [StreamError(self._error)]
            except aiohttp.ClientError as exc:
                self._error = upstream.unreachable(self.deployment, exc)
                yield [StreamError(self._error)]
        finally:
            await self.aclose()

    def _last(self, batch: list[StreamEvent]) -> bool:
        """Whether nothing is read after `batch`: the vendor said the stream is complete, or the
        batch ends in an error (a stream error is the last thing a client gets)."""
        return self._parser.done or (bool(batch) and isinstance(batch[-1], StreamError))

    def _note(self, batch: list[StreamEvent]) -> None:
        for ev in batch:
            if isinstance(ev, UsageUpdate):
                self.usage = ev.usage
        last = batch[-1]
        if isinstance(last, StreamError):
            self._error = last.error

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.health is not None:
            self.gateway.router.release(self.health)
        err = self._error
        if err is None and not self._ended and not self._parser.done:
            err = CLIENT_GONE
        usage = self.usage
        if err is not None:
            usage = self.gateway.cut_short_usage(usage, self._request, self._resp.content.total_bytes,
                                                 self._sample)
        self.gateway.record(self.deployment, err.status if err else self._resp.status, usage,
                            self._started, err, ttfb=self._ttfb, stream=True)
        # Closing (not releasing) when the parser did not finish drops the connection so an
        # abandoned generation stops upstream.
        if not self._parser.done:
            self._resp.close()
        else:
            await upstream.finish_body(self._resp)
        await self._cm.__aexit__(None, None, None)
