"""Key operations shared by `relayport keys ...` and `/admin/keys`: one validation, one wording."""

from __future__ import annotations

import csv
import io
import secrets
import time
from typing import Any

from relayport.accounts.money import show, to_units
from relayport.accounts.records import PERIODS, KeyRecord, digest, hint, new_secret, parse_expiry
from relayport.accounts.store import SQLStore, StoreError

_LIMITS = ("rpm", "tpm", "max_concurrency")


def _positive_int(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StoreError(f"{field} must be a positive integer, not {value!r}")
    return value


def _amount(value: Any, field: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise StoreError(f"{field} must be an amount, not {value!r}")
    try:
        units = to_units(value)
    except ValueError:
        raise StoreError(f"{field} must be an amount, not {value!r}") from None
    if units < 0:
        raise StoreError(f"{field} must not be negative")
    return units


def _text(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise StoreError(f"{field} must be a non-empty string")
    return value.strip()


async def create_key(store: SQLStore, spec: dict[str, Any]) -> tuple[str, KeyRecord]:
    """Make a key from `spec` (the fields of `keys create`); the secret is returned only here."""
    known = {"name", "owner", "team", "models", "budget", "period", "balance", "expires", *_LIMITS}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise StoreError(f"unknown field(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    name = _text(spec.get("name"), "name")
    if name is None:
        raise StoreError("name is required")
    models = spec.get("models") or []
    if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
        raise StoreError("models must be a list of model names or glob patterns")
    period = spec.get("period")
    if period is not None and period not in PERIODS:
        raise StoreError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
    budget = _amount(spec.get("budget"), "budget")
    if period is not None and budget is None:
        raise StoreError("period needs a budget")
    expires = spec.get("expires")
    try:
        expires_at = parse_expiry(expires) if isinstance(expires, str) else None
    except ValueError as exc:
        raise StoreError(str(exc)) from None
    if expires is not None and not isinstance(expires, str):
        raise StoreError("expires must be a date string (2027-01-31, an ISO datetime, or 30d)")
    secret = new_secret()
    rec = KeyRecord(
        id="key_" + secrets.token_hex(8), name=name, digest=digest(secret), hint=hint(secret),
        owner=_text(spec.get("owner"), "owner"), team=_text(spec.get("team"), "team"), models=models,
        rpm=_positive_int(spec.get("rpm"), "rpm"), tpm=_positive_int(spec.get("tpm"), "tpm"),
        max_concurrency=_positive_int(spec.get("max_concurrency"), "max_concurrency"),
        budget=budget, period=period, balance=_amount(spec.get("balance"), "balance"), expires_at=expires_at,
    )
    await store.create_key(rec)
    return secret, rec


async def rotate_key(store: SQLStore, ref: str) -> tuple[str, KeyRecord] | None:
    secret = new_secret()
    rec = await store.rotate(ref, digest(secret), hint(secret))
    return None if rec is None else (secret, rec)


async def topup(store: SQLStore, ref: str, amount: Any) -> KeyRecord | None:
    units = _amount(amount, "amount")
    if not units:
        raise StoreError("amount must be a positive amount")
    return await store.topup(ref, units)


async def revoke(store: SQLStore, ref: str) -> KeyRecord | None:
    return await store.revoke(ref, time.time())


def usage_rows(rows: list[dict[str, Any]], currency: str) -> list[dict[str, Any]]:
    """Report rows as clients read them: cost as a decimal string, with its currency."""
    return [{**r, "cost": show(r["cost"]), "currency": currency} for r in rows]


def as_csv(rows: list[dict[str, Any]], by: str) -> str:
    out = io.StringIO()
    fields = [by, "calls", "errors", "prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens",
              "reasoning_tokens", "audio_tokens", "image_tokens", "video_tokens", "images", "media_seconds",
              "characters", "cost", "currency"]
    writer = csv.DictWriter(out, fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
