"""Default prices a vendor plugin ships: a TOML file in its package, named by its ProviderSpec.

    currency = "USD"                                   # ISO 4217, as the vendor prices them
    source = "https://vendor.example/pricing"          # where the figures were read...
    read = 2026-11-30                                  # ...and when
    [models]
    "vm-large" = { input = 2, output = 8, cached_input = 0.5 }
    "vm-large-*" = { input = 2, output = 8 }           # fnmatch globs, for dated snapshots
    "vm-image" = { image = 0.04, source = "https://vendor.example/pricing#images" }

Keys are the vendor's model ids (what `[[models]] model` names); an exact id wins, then the
first glob in file order. An entry may name its own `source`. The file is read on first use
(server start, `relayport prices`), not at import, so a plugin costs nothing until prices are
needed; a malformed file raises `ValueError` naming it.
"""

from __future__ import annotations

import datetime
import fnmatch
import re
import tomllib
from importlib import resources
from typing import Any

import attrs

from relayport.accounts.prices import PRICE_FIELDS, Price

_CURRENCY = re.compile(r"[A-Z]{3}")


@attrs.frozen
class SheetEntry:
    pattern: str
    price: Price
    source: str
    table: dict[str, Any]  # the figures as written (amounts in the sheet's currency)


@attrs.frozen
class Prices:
    """A loaded sheet: prices in `currency`, read from `source` on `read`."""

    currency: str
    source: str
    read: datetime.date
    entries: tuple[SheetEntry, ...]

    def lookup(self, model: str) -> SheetEntry | None:
        """The entry for a vendor model id: the exact key, else the first matching glob."""
        for e in self.entries:
            if e.pattern == model:
                return e
        for e in self.entries:
            if _is_glob(e.pattern) and fnmatch.fnmatchcase(model, e.pattern):
                return e
        return None


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


@attrs.define(eq=False)
class PriceSheet:
    """`ProviderSpec.prices`: the file `resource` in the plugin's package `package`
    (`PriceSheet(__name__)` from the plugin's `__init__`)."""

    package: str
    resource: str = "prices.toml"
    _loaded: Prices | None = attrs.field(default=None, init=False, repr=False)

    @property
    def where(self) -> str:
        return f"{self.package}/{self.resource}"

    def load(self) -> Prices:
        if self._loaded is None:
            try:
                text = resources.files(self.package).joinpath(self.resource).read_text(encoding="utf-8")
            except (OSError, ModuleNotFoundError) as exc:
                raise ValueError(f"{self.where}: cannot read the price sheet ({exc})") from None
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                raise ValueError(f"{self.where}: {exc}") from None
            self._loaded = parse_sheet(data, self.where)
        return self._loaded


def parse_sheet(data: dict[str, Any], where: str) -> Prices:
    """Validate a sheet: a currency code, an https source, a date, and positive known prices."""
    unknown = sorted(set(data) - {"currency", "source", "read", "models"})
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}")
    currency = data.get("currency")
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise ValueError(f"{where}: currency must be an ISO 4217 code such as \"USD\", got {currency!r}")
    source = _source(data.get("source"), f"{where}: source")
    read = data.get("read")
    if not isinstance(read, datetime.date) or isinstance(read, datetime.datetime):
        raise ValueError(f"{where}: read must be the date the figures were read (read = 2026-11-30)")
    models = data.get("models")
    if not isinstance(models, dict) or not models:
        raise ValueError(f"{where}: [models] must list at least one model")
    entries = []
    for pattern, table in models.items():
        at = f"{where}: models[{pattern!r}]"
        if not isinstance(table, dict):
            raise ValueError(f"{at}: expected a table of prices")
        figures = {k: v for k, v in table.items() if k != "source"}
        if not figures:
            raise ValueError(f"{at}: no price (known: {', '.join(PRICE_FIELDS)})")
        price = Price.parse(figures, at)
        zero = [k for k in figures if getattr(price, k) == 0]
        if zero:
            raise ValueError(f"{at}.{zero[0]}: must be positive (leave out what the vendor does not charge)")
        entry_source = _source(table["source"], f"{at}.source") if "source" in table else source
        entries.append(SheetEntry(pattern, price, entry_source, figures))
    return Prices(currency, source, read, tuple(entries))


def _source(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.startswith("https://"):
        raise ValueError(f"{where}: must be the https URL the figures were read from, got {value!r}")
    return value
