"""A running gateway's view of the store: who a key is, whether a call may go, what it cost.

Everything on the request path is in memory: the keys (those changed in the store read again
every `REFRESH` seconds, so a revocation, top-up or another instance's spend lands within a
second), rate windows, and spend not yet written. With `[server] limits` the rate and concurrency windows of
keys that have limits live in Redis instead, shared by instances (`relayport.accounts.shared_limits`). `observe` (a `Gateway.observers` entry) prices a call,
charges its key at once and queues the usage row; one background task writes the queue in
batches and then reloads the keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from aiohttp.web_middlewares import Handler

from relayport.accounts import limits
from relayport.accounts.prices import MediaUnits, PriceTable, cost_units
from relayport.accounts.records import KeyRecord, digest, period_of
from relayport.accounts.shared_limits import RedisLimits, Refusal, Unavailable
from relayport.accounts.store import Charge, SQLStore
from relayport.calls import CallRecord, caller
from relayport.model.errors import GatewayError
from relayport.model.usage import Usage

log = logging.getLogger("relayport.accounts")

REFRESH = 0.5
# A refresh reads the keys changed since the last one's start on the store's clock, less this
# much (a change stamped just before a read but committed after it is read again next time).
OVERLAP = 2.0
# And every key this often, whatever the stamps say (say, rows edited by hand).
FULL_REFRESH = 60.0
# A flush starts early when this many rows wait.
BATCH = 500
# Rows kept for a store that cannot be written (then the oldest are dropped, with a warning).
BACKLOG = 100_000


class LiveKey:
    """One key as the server holds it: its record as last read, plus what happened since."""

    record: KeyRecord
    stops: float | None

    __slots__ = ("record", "rates", "in_flight", "pending", "_patterns", "_allowed", "stops")

    def __init__(self, record: KeyRecord) -> None:
        self.rates = limits.Rates()
        self.in_flight = 0
        self.pending = 0  # charged here, not yet in the store
        self.patterns = record.models
        self.hold(record)

    def hold(self, record: KeyRecord) -> None:
        """Take the store's latest `record` of this key."""
        if record.models != self._patterns:
            self.patterns = record.models
        self.record = record
        # When the key stops working (None: never), so a call compares one number instead of
        # asking the record for its status: revoked keys stopped at -inf.
        self.stops = -math.inf if record.revoked_at is not None else record.expires_at

    @property
    def patterns(self) -> list[str]:
        return self._patterns

    @patterns.setter
    def patterns(self, patterns: list[str]) -> None:
        self._patterns = patterns
        self._allowed: dict[str, bool] = {}  # model name -> allowed (a few names per key)

    def allows(self, model: str) -> bool:
        if not self._patterns:
            return True
        ok = self._allowed.get(model)
        if ok is None:
            ok = any(fnmatch.fnmatchcase(model, p) for p in self._patterns)
            if len(self._allowed) < 1024:
                self._allowed[model] = ok
        return ok

    def balance(self) -> int | None:
        b = self.record.balance
        return None if b is None else b - self.pending

    def spent_now(self, now: float) -> int:
        return self.record.spent_now(now) + self.pending


class _Grant:
    """One request's admission (a `relayport.calls.Caller`): the model check runs on every name
    it resolves (fallbacks and task look-ups included), the funds and rate checks once. One
    method for all of it, as it runs on every call a store key makes."""

    __slots__ = ("key", "id", "counted", "rates", "balance")

    def __init__(self, key: LiveKey, rates: bool = True) -> None:
        self.key = key
        self.id = key.record.id
        self.counted = False
        # False: the shared windows already checked and counted this request's rates.
        self.rates = rates
        # The key's own method (Caller.balance): the balance header calls it on every answer.
        self.balance = key.balance

    def admit(self, model: str) -> None:
        key = self.key
        rec = key.record
        if not key.allows(model):
            raise limits.model_not_allowed(model, rec.name)
        if self.counted:
            return
        if (balance := key.balance()) is not None and balance <= 0:
            raise limits.out_of_funds(rec.name, balance=True)
        if rec.budget is not None and key.spent_now(time.time()) >= rec.budget:
            raise limits.out_of_funds(rec.name, balance=False)
        if self.rates and (rec.tpm is not None or rec.rpm is not None):
            key.rates.admit(time.monotonic(), rec.rpm, rec.tpm, rec.name)
        self.counted = True


class Accounts:
    def __init__(self, store: SQLStore, prices: PriceTable, usage_log: bool | None,
                 shared: RedisLimits | None = None) -> None:
        self.store = store
        self.shared = shared  # rate and concurrency windows shared by instances, when configured
        self.prices = prices
        # None: log usage when the store has keys; True/False: always/never (keys are charged anyway).
        self.usage_log = usage_log
        # Whether calls are logged now: `usage_log`, or when None, whether the store has keys
        # (set when it first does: an attribute, as every metered call reads it).
        self.logging_rows = bool(usage_log)
        self.by_digest: dict[str, LiveKey] = {}
        # The digests of keys presented that matched one, so a call skips the SHA-256. Kept
        # across refreshes: the digest is looked up in `by_digest` on every call, so a rotated or
        # deleted key's old secret stops at once. Only keys that matched are kept (up to 1024),
        # so guessing fills nothing.
        self._digests: dict[str, str] = {}
        self.by_id: dict[str, LiveKey] = {}
        # Set once the store holds any key (revoked ones too: revoking the last key must not
        # open the gateway).
        self.has_keys = False
        # The store's clock at the last refresh (None: none yet), and when the next one reads
        # every key (see _refresh).
        self._seen: float | None = None
        self._full_due = 0.0
        self._rows: list[Sequence[Any]] = []
        # Units charged since the last flush by (key, budget period): the key's `pending` holds them.
        self._charges: dict[tuple[LiveKey, str], int] = {}
        # One flush or refresh at a time: a refresh that read the store before a concurrent
        # write must not replace the view after it.
        self._sync = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.on_keys: list[Any] = []  # callbacks when the store first holds keys
        # Run the handler as a key: its concurrency slot, identity and admission check. A plain
        # function handing back the coroutine to await (one coroutine per call, not two), and
        # the in-process one itself unless windows are shared (one call less per request).
        self.serve: Callable[[LiveKey, web.Request, Handler], Awaitable[web.StreamResponse]] = (
            self._serve_local if shared is None else self._serve_either)

    async def start(self) -> None:
        if self.shared is not None:
            await self.shared.open()
        await self.store.open()
        await self.refresh()
        self._task = asyncio.create_task(self._run(), name="relayport-accounts")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.flush()
        await self.store.close()
        if self.shared is not None:
            await self.shared.close()

    # ------------------------------------------------------------------ the request path

    def lookup(self, token: str) -> LiveKey:
        """The live key for `token`, or the 401 it gets (unknown, revoked or expired)."""
        known = self._digests.get(token)
        key = self.by_digest.get(known or digest(token))
        if key is not None and known is None and len(self._digests) < 1024:
            self._digests[token] = key.record.digest
        if key is None:
            raise GatewayError(401, "Incorrect API key provided.", type="invalid_request_error",
                               code="invalid_api_key")
        stops = key.stops
        if stops is not None and stops <= (now := time.time()):
            raise _stopped(key.record, now, "This API key")
        return key

    def resumed(self, key_id: str) -> _Grant:
        """The grant for work a key started in a process that has since died (a background
        response run again at start): charged to that key, its funds and allow-list checked
        again, its request rate not (the request was counted when it came). The 401 a client
        would get when the key is gone, revoked or expired."""
        key = self.by_id.get(key_id)
        if key is None:
            raise GatewayError(401, "The API key that made this request no longer exists.",
                               type="invalid_request_error", code="invalid_api_key")
        if (stops := key.stops) is not None and stops <= (now := time.time()):
            raise _stopped(key.record, now, "The API key that made this request")
        return _Grant(key, rates=False)

    def _serve_either(self, key: LiveKey, request: web.Request,
                      handler: Handler) -> Awaitable[web.StreamResponse]:
        """`serve` with shared windows: a key with limits is checked in Redis."""
        rec = key.record
        if self.shared is not None and (rec.rpm is not None or rec.tpm is not None
                                        or rec.max_concurrency is not None):
            return self._serve_shared(key, request, handler, self.shared)
        return self._serve_local(key, request, handler)

    async def _serve_shared(self, key: LiveKey, request: web.Request, handler: Handler,
                            shared: RedisLimits) -> web.StreamResponse:
        """The shared windows checked and counted before the handler runs (one Redis round trip):
        every request holds a concurrency slot; a request that can call a model (anything but a
        read, and realtime sessions) counts against RPM and is checked against TPM."""
        rec = key.record
        rated = request.method not in _READS or request.headers.get("Upgrade", "").lower() == "websocket"
        refusal, lease = None, None
        if rated or rec.max_concurrency is not None:  # else (a read, no concurrency limit): nothing to ask
            try:
                refusal, lease = await shared.admit(rec.id, rec.rpm if rated else None,
                                                    rec.tpm if rated else None, rec.max_concurrency)
            except Unavailable:
                return await self._serve_local(key, request, handler)
        if refusal is not None:
            raise _refused(refusal, rec.name)
        key.in_flight += 1
        caller.set(_Grant(key, rates=False))
        try:
            return await handler(request)
        finally:
            key.in_flight -= 1
            if lease is not None:
                # Given back before the answer is written (aiohttp writes a plain response after
                # the handler returns), so a client's next call never finds its last one's slot
                # still held: one Redis round trip, for keys with a concurrency limit only.
                await shared.release(rec.id, lease)

    def _serve_local(self, key: LiveKey, request: web.Request,
                     handler: Handler) -> Awaitable[web.StreamResponse]:
        most = key.record.max_concurrency
        if most is not None and key.in_flight >= most:
            raise limits.too_many_at_once(most, key.record.name)
        # Never reset: aiohttp runs each request in a task of its own, so in a copy of the
        # context that ends with it (the server middleware relies on the same for the request
        # id). Read when the answer starts (X-Account-Balance), maybe after the handler returned.
        caller.set(_Grant(key))
        if most is None:
            # No limit, so nothing counts this key's calls in flight: the handler's own
            # coroutine, not one around it that every resumption of a stream passes through.
            # (A limit set while calls run counts only the calls that start after it.)
            return handler(request)
        return self._counted(key, request, handler)

    @staticmethod
    async def _counted(key: LiveKey, request: web.Request, handler: Handler) -> web.StreamResponse:
        key.in_flight += 1
        try:
            return await handler(request)
        finally:
            key.in_flight -= 1

    # ------------------------------------------------------------------ metering

    def observe(self, rec: CallRecord) -> None:
        """A `Gateway.observers` entry: price the record's call, charge its key, queue its row."""
        rec.cost_units = self.charge(
            rec.request_id, rec.caller, rec.model, rec.provider, rec.deployment, rec.upstream_model,
            rec.status, rec.error, rec.usage, rec.latency, rec.ttfb, rec.stream, rec.media)

    def charge(self, request_id: str, key_id: str | None, model: str, provider: str, deployment: str,
               upstream_model: str, status: int, error: str | None, usage: Usage | None, latency: float,
               ttfb: float | None, stream: bool, media: MediaUnits | None) -> int | None:
        """Price a finished call, charge its key now and queue its usage row (never blocks);
        the cost in money units, None when the model has no price. A `CallRecord`'s fields as
        arguments (in its order; `kind` and `units` are a model call's): the gateway calls this
        directly when the meter is its only observer (`Gateway.meter`), and builds no record."""
        units = 0
        price = self.prices.get(model, provider, upstream_model)
        if price is not None and (usage is not None or media is not None):
            units = cost_units(price, usage, media)
        key = self.by_id.get(key_id) if key_id else None
        if key is not None:
            record = key.record
            if usage is not None and record.tpm is not None:
                used = usage.input_tokens + usage.output_tokens
                key.rates.add_tokens(time.monotonic(), used)
                if self.shared is not None:
                    self.shared.add_tokens(record.id, used)
            if units:
                key.pending += units
                # Summed per key and period until the flush writes them (one UPDATE each).
                due = (key, "" if record.period is None else period_of(record.period, time.time()))
                charges = self._charges
                charges[due] = charges.get(due, 0) + units
        if self.logging_rows:
            rows = self._rows
            rows.append(_usage_row(request_id, key_id, model, provider, deployment, upstream_model, status, error,
                                   usage, latency, ttfb, stream, media, units))
            if len(rows) >= BATCH:
                self._wake.set()
        return None if price is None else units

    async def flush(self) -> None:
        """Write the queued usage rows and charges (then they count in the store, not here)."""
        async with self._sync:
            await self._flush()

    async def refresh(self) -> None:
        """Reload the keys from the store."""
        async with self._sync:
            await self._refresh()

    async def _flush(self) -> None:
        rows, charges = self._rows, self._charges
        if not rows and not charges:
            return
        self._rows, self._charges = [], {}
        try:
            await self.store.write(rows, [Charge(key.record.id, units, period)
                                          for (key, period), units in charges.items()])
        except Exception as exc:
            # Keep them for the next try; the store may be restarting.
            log.warning("usage store write failed (%s); %d rows kept for the next try", exc, len(rows))
            self._rows[:0] = rows[-BACKLOG:]
            for due, units in charges.items():
                self._charges[due] = self._charges.get(due, 0) + units
            return
        for (key, _), units in charges.items():
            key.pending -= units

    async def _refresh(self) -> None:
        """Bring the keys up to date: those changed since the last look (on the store's clock,
        with OVERLAP seconds to spare), and all of them at start and every FULL_REFRESH seconds.
        Reading every key twice a second took 8 ms of the event loop per 1,000 keys."""
        now = time.monotonic()
        if self._seen is None or now >= self._full_due:
            clock = await self.store.clock()
            by_id: dict[str, LiveKey] = {}
            async for page in self.store.key_pages():
                for rec in page:
                    by_id[rec.id] = self._live(rec)
                # Calls are served between pages (by the keys as they were: one changed in the
                # meantime is read again next time, as its stamp is after `clock`).
                await asyncio.sleep(0)
            self._full_due = now + FULL_REFRESH
            self.by_id = by_id
            self.by_digest = {k.record.digest: k for k in by_id.values()}
            found = bool(by_id)
        else:
            clock, records = await self.store.keys_changed(self._seen - OVERLAP)
            found = bool(records)
            for rec in records:
                old = self.by_id.get(rec.id)
                if old is not None and old.record.digest != rec.digest:  # rotated: the old secret stops
                    self.by_digest.pop(old.record.digest, None)
                self.by_id[rec.id] = self.by_digest[rec.digest] = self._live(rec)
        self._seen = clock
        if found and not self.has_keys:
            self.has_keys = True
            if self.usage_log is None:
                self.logging_rows = True
            for callback in self.on_keys:
                callback()

    def _live(self, rec: KeyRecord) -> LiveKey:
        """The live key of `rec`: the one held already (its counts kept), brought up to date."""
        key = self.by_id.get(rec.id)
        if key is None:
            return LiveKey(rec)
        key.hold(rec)
        return key

    async def _run(self) -> None:
        """Write the queue every REFRESH seconds, or as soon as BATCH rows wait; reload the keys
        every REFRESH seconds (not after each early flush: under load those come ten times a
        second, and the keys would be read, and every LiveKey updated, as often)."""
        due = time.monotonic() + REFRESH
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.0, due - time.monotonic()))
            self._wake.clear()
            try:
                async with self._sync:
                    await self._flush()
                    if time.monotonic() >= due:
                        due = time.monotonic() + REFRESH
                        await self._refresh()
            except Exception:
                due = time.monotonic() + REFRESH
                log.exception("refreshing keys from the store failed; retrying")


_READS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})


def _stopped(record: KeyRecord, now: float, which: str) -> GatewayError:
    """The 401 of a key that was revoked or has expired (`which`: how the message names it)."""
    how = "revoked" if record.status(now) == "revoked" else "expired"
    return GatewayError(401, f"{which} was {how}.", type="invalid_request_error", code="invalid_api_key")


def _refused(refusal: Refusal, name: str) -> GatewayError:
    if refusal.kind == "concurrency":
        return limits.too_many_at_once(refusal.limit, name)
    return limits.rate_limited(refusal.kind, refusal.limit, refusal.used, refusal.reset, name)


def _usage_row(request_id: str, key_id: str | None, model: str, provider: str, deployment: str,
               upstream_model: str, status: int, error: str | None, usage: Usage | None, latency: float,
               ttfb: float | None, stream: bool, media: MediaUnits | None, units: int) -> tuple[Any, ...]:
    """A call's rp_usage row (USAGE_COLUMNS order), built now as one tuple of plain values:
    the garbage collector stops tracking it, where a queued record would keep its usage alive."""
    u = usage
    audio = image = video = None
    if u is not None:
        if u.input_audio_tokens is not None or u.output_audio_tokens is not None:
            audio = (u.input_audio_tokens or 0) + (u.output_audio_tokens or 0)
        image, video = u.input_image_tokens, u.input_video_tokens
    m = media
    return (
        time.time(), request_id, key_id, model, provider, deployment, upstream_model, status, error, int(stream),
        None if u is None else u.input_tokens, None if u is None else u.output_tokens,
        None if u is None else u.cached_tokens, None if u is None else u.cache_write_tokens,
        None if u is None else u.reasoning_tokens, audio, image, video,
        None if m is None else m.images, None if m is None else float(m.video_seconds),
        latency * 1000, None if ttfb is None else ttfb * 1000, units,
        None if m is None else m.speech_chars,
    )


def record_row(rec: CallRecord, units: int) -> tuple[Any, ...]:
    """`rec`'s usage row, as `Accounts.observe` queues it (for tests and tools)."""
    return _usage_row(rec.request_id, rec.caller, rec.model, rec.provider, rec.deployment, rec.upstream_model,
                      rec.status, rec.error, rec.usage, rec.latency, rec.ttfb, rec.stream, rec.media, units)
