"""Prices per model and the cost of one call: a pure function of its usage and the price."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from relayport.accounts.money import to_units
from relayport.model.usage import Usage

# Amounts per million tokens...
TOKEN_FIELDS = ("input", "output", "cached_input", "cache_write", "reasoning")
# ... and per unit of media.
MEDIA_FIELDS = ("image", "video_second", "speech_1k_chars")
PRICE_FIELDS = TOKEN_FIELDS + MEDIA_FIELDS

_PER_MILLION = 10**6


@attrs.frozen
class Price:
    """One model's price, as money units (see relayport.accounts.money) per million tokens or
    per media unit. A missing cached/cache-write/reasoning price falls back to input/output."""

    input: int = 0
    output: int = 0
    cached_input: int | None = None
    cache_write: int | None = None
    reasoning: int | None = None
    image: int = 0
    video_second: int = 0
    speech_1k_chars: int = 0

    @classmethod
    def parse(cls, table: dict[str, Any], where: str) -> Price:
        """From a TOML `price = {...}` table; the error names the bad key."""
        unknown = sorted(set(table) - set(PRICE_FIELDS))
        if unknown:
            raise ValueError(f"{where}: unknown price key(s) {', '.join(unknown)} "
                             f"(known: {', '.join(PRICE_FIELDS)})")
        values: dict[str, int] = {}
        for name, amount in table.items():
            if isinstance(amount, bool) or not isinstance(amount, (int, float, str)):
                raise ValueError(f"{where}.{name}: expected a number, got {amount!r}")
            units = to_units(amount)
            if units < 0:
                raise ValueError(f"{where}.{name}: must not be negative")
            values[name] = units
        return cls(**values)


@attrs.define
class MediaUnits:
    """What a media call produced, for prices per unit."""

    images: int = 0
    video_seconds: Decimal = Decimal(0)
    speech_chars: int = 0


def cost_units(price: Price, usage: Usage | None, media: MediaUnits | None = None) -> int:
    """The call's cost in money units, rounded half up once at the end.

    Input tokens are the whole prompt (relayport.model.usage): the cached and cache-written
    parts are taken out and charged at their own prices. Output tokens include reasoning,
    which is charged at `reasoning` when that price is set.
    """
    # Sum in units x tokens (exact integers), divide by a million once.
    total = 0
    if usage is not None:
        cached = usage.cached_tokens or 0
        written = usage.cache_write_tokens or 0
        plain_in = max(0, usage.input_tokens - cached - written)
        total += plain_in * price.input
        total += cached * (price.input if price.cached_input is None else price.cached_input)
        total += written * (price.input if price.cache_write is None else price.cache_write)
        reasoning = usage.reasoning_tokens or 0
        if price.reasoning is None:
            total += usage.output_tokens * price.output
        else:
            total += max(0, usage.output_tokens - reasoning) * price.output + reasoning * price.reasoning
    if media is None:
        return (total + _PER_MILLION // 2) // _PER_MILLION  # integers only: this runs per call
    media_cost = (media.images * price.image + media.video_seconds * price.video_second
                  + Decimal(media.speech_chars) * price.speech_1k_chars / 1000)
    exact = Decimal(total) / _PER_MILLION + media_cost
    return int(exact.to_integral_value(rounding="ROUND_HALF_UP"))



PriceTable = dict[Any, Price]


def price_table(models: list[Any]) -> PriceTable:
    """`[[models]] price` by (name, provider, upstream model), so deployments of one name may
    cost differently; and by name, for the first priced deployment of each."""
    table: PriceTable = {}
    for m in models:
        if m.price is None:
            continue
        price = Price.parse(m.price, f"models[{m.name!r}].price")
        table[(m.name, m.provider, m.model or m.name)] = price
        table.setdefault(m.name, price)
    return table


def price_for(table: PriceTable, model: str, provider: str, upstream_model: str) -> Price | None:
    return table.get((model, provider, upstream_model)) or table.get(model)
