"""What a gateway key is: the record a store keeps (never the key itself) and how keys are made."""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import attrs

from relayport.accounts.money import show

PREFIX = "rp-"
PERIODS = ("day", "month")


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """What the store keeps. Keys are 256 random bits, so a plain SHA-256 cannot be reversed
    by guessing, and a lookup by digest never compares secrets byte by byte."""
    return hashlib.sha256(secret.encode()).hexdigest()


def hint(secret: str) -> str:
    """Enough to tell keys apart in a list, not enough to use one."""
    return f"{secret[:5]}...{secret[-4:]}"


def period_of(period: str | None, now: float) -> str:
    """The budget period `now` falls in (UTC), as it is stored: '2026-11-29', '2026-11' or ''."""
    if period is None:
        return ""
    global _day
    if not _day[0] <= now < _day[1]:  # asked per charged call: format once per day
        start = now - now % 86400
        _day = (start, start + 86400, datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d"))
    return _day[2] if period == "day" else _day[2][:7]


_day: tuple[float, float, str] = (0.0, 0.0, "")


@attrs.define
class KeyRecord:
    id: str
    name: str
    digest: str = attrs.field(repr=False)
    hint: str
    owner: str | None = None
    team: str | None = None
    models: list[str] = attrs.field(factory=list)  # glob patterns; empty = every model
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    budget: int | None = None  # money units per period (or in total without one)
    period: str | None = None  # "day" | "month" | None
    balance: int | None = None  # prepaid money units left; None = no balance kept
    expires_at: float | None = None
    created_at: float = attrs.field(factory=time.time)
    revoked_at: float | None = None
    spent: int = 0  # in total
    period_spent: int = 0  # in `period_start`
    period_start: str = ""

    def spent_now(self, now: float) -> int:
        """What counts against the budget at `now`: this period's spend (or the total)."""
        if self.period is None:
            return self.spent
        return self.period_spent if self.period_start == period_of(self.period, now) else 0

    def public(self, now: float | None = None) -> dict[str, Any]:
        """The record as `keys list --json` and `/admin/keys` show it (amounts as strings)."""
        now = time.time() if now is None else now
        return {
            "id": self.id, "name": self.name, "key_hint": self.hint, "owner": self.owner, "team": self.team,
            "models": self.models, "rpm": self.rpm, "tpm": self.tpm, "max_concurrency": self.max_concurrency,
            "budget": show(self.budget), "period": self.period, "spent": show(self.spent),
            "spent_this_period": show(self.spent_now(now)), "balance": show(self.balance),
            "expires_at": _iso(self.expires_at), "created_at": _iso(self.created_at),
            "revoked_at": _iso(self.revoked_at), "status": self.status(now),
        }

    def status(self, now: float) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def parse_expiry(text: str, now: float | None = None) -> float:
    """`2027-01-31`, an ISO datetime (UTC unless it says otherwise), or `30d` / `12h` from now."""
    now = time.time() if now is None else now
    if text and text[-1] in "dhm" and text[:-1].isdigit():
        return now + int(text[:-1]) * {"d": 86400, "h": 3600, "m": 60}[text[-1]]
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a date: {text!r} (use 2027-01-31, an ISO datetime, or 30d)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def parse_since(text: str, now: float | None = None) -> float:
    """`7d`, `24h`, `30m` ago, or a date/datetime."""
    now = time.time() if now is None else now
    if text and text[-1] in "dhm" and text[:-1].isdigit():
        return now - int(text[:-1]) * {"d": 86400, "h": 3600, "m": 60}[text[-1]]
    return parse_expiry(text, now)
