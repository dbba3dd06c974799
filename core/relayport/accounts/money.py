"""Money as integer units of 1e-10 of the currency: sums of prices per million tokens with up
to four decimals stay exact (no float drift), and both stores add them as plain integers."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

SCALE = 10**10
_DIGITS = 10  # decimal places of a unit
_QUANTUM = Decimal(1) / SCALE
_ZERO = Decimal(0)


def to_units(amount: Decimal | int | float | str) -> int:
    """An amount of currency as units; floats go through their shortest repr (0.15 -> 0.15)."""
    try:
        value = Decimal(str(amount)) if isinstance(amount, float) else Decimal(amount)
    except InvalidOperation:
        raise ValueError(f"not an amount: {amount!r}") from None
    if not value.is_finite():
        raise ValueError(f"not an amount: {amount!r}")
    return int((value * SCALE).to_integral_value(ROUND_HALF_UP))


def from_units(units: int) -> Decimal:
    return (Decimal(units) * _QUANTUM).normalize() if units else _ZERO


def format_amount(units: int) -> str:
    """`format(from_units(units), "f")` (no exponent, no trailing zeros), cut from the
    integer's digits: it is the X-Account-Balance header of every call a key with a balance
    makes, and slicing `str(units)` costs half of divmod and a format spec."""
    # A whole unit or more (most balances) needs no sign and no padding.
    digits = str(units) if units >= SCALE else str(-units if units < 0 else units).rjust(_DIGITS + 1, "0")
    whole, frac = digits[:-_DIGITS], digits[-_DIGITS:].rstrip("0")
    text = whole + "." + frac if frac else whole
    return "-" + text if units < 0 else text


def show(units: int | None) -> str | None:
    """A human/JSON rendering that never uses exponent notation."""
    return None if units is None else format_amount(units)
