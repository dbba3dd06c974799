"""RPM, TPM and concurrency windows shared by gateway instances, in Redis (`relayport[redis]`).

Selected by `[server] limits = "redis://host:6379/0"`. Without it each process keeps its own
windows (`relayport.accounts.limits.Rates`): N instances allow a key N times its rates.

Why Redis and not the PostgreSQL store: a limit is checked on every call of a limited key, and
in Redis that is one round trip to one atomic script (the check and the count in one step, so
instances never both take the last slot), with nothing written to disk and no row lock for calls
of one key to queue on. The same check in PostgreSQL would be an UPDATE of one hot row per call.

Per key (one Redis hash tag, so a cluster keeps a key's windows on one node):
- `{prefix}:{id}:r` and `:t`: requests and tokens per second of the last minute, as a hash of
  (end of second -> amount), the same buckets as the in-process `Rates`, on Redis's clock;
- `{prefix}:{id}:c`: calls in flight, a sorted set of leases scored by their expiry, so a call
  held by an instance that died stops counting after `LEASE` seconds.

Tokens are known only when a call ends, so TPM may be overshot by the calls in flight when it
is reached (at most one per concurrent worker), as in one process. When Redis cannot be reached
the call is checked against this process's windows instead (logged, at most every 30 s).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

log = logging.getLogger("relayport.accounts")

# Seconds a call's concurrency slot lasts in Redis: a call held longer than this stops counting.
LEASE = 900.0
_WARN_EVERY = 30.0

# KEYS: requests hash, tokens hash, in-flight set. ARGV: rpm, tpm, max concurrency (-1 = none),
# lease member, lease seconds. Returns {verdict, limit, used, reset seconds as a string}.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cutoff = now - 60
local function window(key)
  local h = redis.call('HGETALL', key)
  local total, ends, dead = 0, {}, {}
  for i = 1, #h, 2 do
    local e, a = tonumber(h[i]), tonumber(h[i + 1])
    if e <= cutoff then dead[#dead + 1] = h[i] else total = total + a; ends[#ends + 1] = {e, a} end
  end
  if #dead > 0 then redis.call('HDEL', key, unpack(dead)) end
  return total, ends
end
local function reset(ends, total, limit)
  table.sort(ends, function(x, y) return x[1] < y[1] end)
  local over = total - limit + 1
  for _, p in ipairs(ends) do
    over = over - p[2]
    if over <= 0 then return math.max(0, p[1] + 60 - now) end
  end
  return 60
end
local rpm, tpm, most = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if most >= 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  local n = redis.call('ZCARD', KEYS[3])
  if n >= most then return {'concurrency', most, n, '1'} end
end
if tpm >= 0 then
  local used, ends = window(KEYS[2])
  if used >= tpm then return {'tokens', tpm, used, tostring(reset(ends, used, tpm))} end
end
if rpm >= 0 then
  local used, ends = window(KEYS[1])
  if used >= rpm then return {'requests', rpm, used, tostring(reset(ends, used, rpm))} end
  redis.call('HINCRBY', KEYS[1], tostring(math.floor(now) + 1), 1)
  redis.call('EXPIRE', KEYS[1], 62)
end
if most >= 0 then
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[5]), ARGV[4])
  redis.call('EXPIRE', KEYS[3], math.ceil(tonumber(ARGV[5])) + 1)
end
return {'ok', 0, 0, '0'}
"""

# KEYS: tokens hash. ARGV: tokens. Counted in the bucket of Redis's current second.
_ADD_TOKENS = """
local t = redis.call('TIME')
redis.call('HINCRBY', KEYS[1], tostring(tonumber(t[1]) + 1), tonumber(ARGV[1]))
redis.call('EXPIRE', KEYS[1], 62)
return 0
"""


class Refusal(NamedTuple):
    """Why a call may not go: `kind` is "requests", "tokens" or "concurrency"."""

    kind: str
    limit: int
    used: int
    reset: float


class Unavailable(Exception):
    """Redis could not be asked; the caller falls back to this process's windows."""


def _split_prefix(url: str) -> tuple[str, str]:
    """`redis://host/0?prefix=gw1` -> (`redis://host/0`, "gw1"): the prefix is ours, not redis-py's."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((v for k, v in query if k == "prefix"), "relayport")
    rest = urlencode([(k, v) for k, v in query if k != "prefix"])
    return urlunsplit(parts._replace(query=rest)), prefix


class RedisLimits:
    def __init__(self, url: str) -> None:
        self.url, self.prefix = _split_prefix(url)
        self._redis: Any = None
        self._admit: Any = None
        self._add: Any = None
        self._tokens: dict[str, int] = {}  # key id -> tokens not yet sent
        self._flusher: asyncio.Task[None] | None = None
        self._warned = 0.0
        self._jobs: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        try:
            import redis.asyncio
        except ImportError:
            from relayport.accounts.store import StoreError

            raise StoreError("[server] limits = \"redis://...\" needs redis: pip install 'relayport[redis]'") from None
        self._redis = redis.asyncio.Redis.from_url(self.url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._admit = self._redis.register_script(_ADMIT)
        self._add = self._redis.register_script(_ADD_TOKENS)

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        await asyncio.gather(*self._jobs, return_exceptions=True)
        await self._send_tokens()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    def _keys(self, key_id: str) -> list[str]:
        base = f"{self.prefix}:{{{key_id}}}"
        return [f"{base}:r", f"{base}:t", f"{base}:c"]

    def _unavailable(self, exc: BaseException) -> Unavailable:
        now = time.monotonic()
        if now - self._warned > _WARN_EVERY:
            self._warned = now
            log.warning("shared rate limits unavailable (%s); checking this instance's windows instead", exc)
        return Unavailable(str(exc))

    async def admit(self, key_id: str, rpm: int | None, tpm: int | None,
                    max_concurrency: int | None) -> tuple[Refusal | None, str | None]:
        """Check and count one call: (why not, None) or (None, its concurrency lease to release).
        Raises `Unavailable` when Redis cannot be asked."""
        lease = secrets.token_hex(8) if max_concurrency is not None else None
        args = [-1 if v is None else v for v in (rpm, tpm, max_concurrency)]
        try:
            verdict, limit, used, reset = await self._admit(keys=self._keys(key_id),
                                                            args=[*args, lease or "", LEASE])
        except Exception as exc:  # connection refused, timeout, a script error: never fail the call for it
            raise self._unavailable(exc) from exc
        kind = verdict.decode() if isinstance(verdict, bytes) else str(verdict)
        if kind != "ok":
            return Refusal(kind, int(limit), int(used), float(reset)), None
        return None, lease

    async def release(self, key_id: str, lease: str) -> None:
        """Give a call's concurrency slot back, and wait until Redis has it. The release runs on
        its own: a handler cancelled by its client going away still gives the slot back."""
        job = asyncio.ensure_future(self._release(key_id, lease))
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)
        await asyncio.shield(job)

    async def _release(self, key_id: str, lease: str) -> None:
        try:
            await self._redis.zrem(self._keys(key_id)[2], lease)
        except Exception as exc:  # the lease runs out by itself
            self._unavailable(exc)

    def add_tokens(self, key_id: str, tokens: int) -> None:
        """Count a finished call's tokens; calls ending together go in one pipeline."""
        if tokens <= 0:
            return
        self._tokens[key_id] = self._tokens.get(key_id, 0) + tokens
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._send_tokens())

    async def _send_tokens(self) -> None:
        await asyncio.sleep(0)  # let the calls ending in this loop turn join
        pending, self._tokens = self._tokens, {}
        if not pending or self._redis is None:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key_id, tokens in pending.items():
                    await self._add(keys=[self._keys(key_id)[1]], args=[tokens], client=pipe)
                await pipe.execute()
        except Exception as exc:
            self._unavailable(exc)
