"""Prices per model and the cost of one call: a pure function of its usage and the price."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from relayport.accounts.money import to_units
from relayport.model.usage import Usage

if TYPE_CHECKING:
    from relayport.accounts.sheet import Prices

# Amounts per million tokens...
TOKEN_FIELDS = ("input", "output", "cached_input", "cache_write", "reasoning")
# ... and per unit of media.
MEDIA_FIELDS = ("image", "video_second", "speech_1k_chars")
PRICE_FIELDS = TOKEN_FIELDS + MEDIA_FIELDS

_PER_MILLION = 10**6

log = logging.getLogger("relayport.accounts")


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
            try:
                units = to_units(amount)
            except ValueError as exc:
                raise ValueError(f"{where}.{name}: {exc}") from None
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
        cached = usage.cached_tokens
        written = usage.cache_write_tokens
        if cached or written:
            cached, written = cached or 0, written or 0
            total = max(0, usage.input_tokens - cached - written) * price.input
            total += cached * (price.input if price.cached_input is None else price.cached_input)
            total += written * (price.input if price.cache_write is None else price.cache_write)
        else:  # most calls: nothing cached (the checks above cost more than this line)
            total = usage.input_tokens * price.input
        reasoning = usage.reasoning_tokens
        if price.reasoning is None or not reasoning:
            total += usage.output_tokens * price.output
        else:
            total += max(0, usage.output_tokens - reasoning) * price.output + reasoning * price.reasoning
    if media is None:
        return (total + _PER_MILLION // 2) // _PER_MILLION  # integers only: this runs per call
    media_cost = (media.images * price.image + media.video_seconds * price.video_second
                  + Decimal(media.speech_chars) * price.speech_1k_chars / 1000)
    exact = Decimal(total) / _PER_MILLION + media_cost
    return int(exact.to_integral_value(rounding="ROUND_HALF_UP"))


class PriceTable:
    """The price of each call, first found: the deployment's `[[models]] price`, a price given
    for its configured name (on another deployment of it), then the provider's shipped default
    for the vendor model id (`ProviderSpec.prices`), converted to `[billing] currency` by
    `[billing] rates` when it is in another one. None: the call's cost is unknown."""

    def __init__(self, configured: dict[Any, Price], shipped: dict[str, Prices] | None = None,
                 rates: dict[str, Decimal] | None = None) -> None:
        self.configured = configured
        self.shipped = shipped or {}  # provider name -> its plugin's sheet
        self.rates = rates or {}      # currency -> billing currency per unit of it
        self._defaults: dict[tuple[str, str], Price | None] = {}

    def get(self, model: str, provider: str, upstream_model: str) -> Price | None:
        price = self.configured.get((model, provider, upstream_model)) or self.configured.get(model)
        if price is not None or not self.shipped:
            return price
        key = (provider, upstream_model)
        try:
            return self._defaults[key]
        except KeyError:
            pass
        found = self.default(provider, upstream_model)
        if len(self._defaults) < 4096:  # models are few; ids named by clients could be many
            self._defaults[key] = found
        return found

    def default(self, provider: str, upstream_model: str) -> Price | None:
        sheet = self.shipped.get(provider)
        if sheet is None or (entry := sheet.lookup(upstream_model)) is None:
            return None
        rate = self.rates.get(sheet.currency)
        return entry.price if rate is None else convert(entry.price, rate)


def convert(price: Price, rate: Decimal) -> Price:
    """A price in another currency, at `rate` billing-currency units per unit of it."""
    def scaled(units: int | None) -> int | None:
        return None if units is None else int((units * rate).to_integral_value(rounding="ROUND_HALF_UP"))
    return Price(**{f: scaled(getattr(price, f)) for f in PRICE_FIELDS})  # type: ignore[arg-type]


def price_table(models: list[Any], providers: Any = None, billing: Any = None) -> PriceTable:
    """`[[models]] price` by (name, provider, upstream model), so deployments of one name may
    cost differently, and by name, for the first priced deployment of each; plus the shipped
    sheets of `providers` (name -> ProviderSpec) unless `[billing] default_prices = false`.

    A sheet in a currency other than `[billing] currency` is used only when `[billing] rates`
    converts it (never charged as if it were the billing currency)."""
    configured: dict[Any, Price] = {}
    for m in models:
        if m.price is None:
            continue
        price = Price.parse(m.price, f"models[{m.name!r}].price")
        configured[(m.name, m.provider, m.model or m.name)] = price
        configured.setdefault(m.name, price)
    if not providers or (billing is not None and not billing.default_prices):
        return PriceTable(configured)
    currency = billing.currency if billing is not None else "USD"
    rates = {c: Decimal(str(r)) for c, r in (billing.rates if billing is not None else {}).items()}
    rates[currency] = Decimal(1)
    shipped: dict[str, Prices] = {}
    used = {m.provider for m in models}
    for name, spec in providers.items():
        sheet = getattr(spec, "prices", None)
        if sheet is None:
            continue
        try:
            loaded = sheet.load()
        except ValueError as exc:
            # One plugin's bad data must not stop the gateway: its models cost unknown.
            log.error("ignoring the prices %s ships: %s", name, exc)
            continue
        if loaded.currency in rates:
            shipped[name] = loaded
        else:
            # A warning only when a configured model goes to that vendor: an installed plugin
            # nobody routes to (every plugin, on the embedded defaults) costs nothing unknown.
            log.log(logging.WARNING if name in used else logging.DEBUG,
                    "the prices %s ships are in %s: unused (calls without a configured price cost "
                    "unknown) until [billing] rates.%s converts them to %s",
                    name, loaded.currency, loaded.currency, currency)
    del rates[currency]
    return PriceTable(configured, shipped, rates)


def price_for(table: PriceTable, model: str, provider: str, upstream_model: str) -> Price | None:
    return table.get(model, provider, upstream_model)
