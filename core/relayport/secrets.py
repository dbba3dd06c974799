"""Secret strings that cannot leak through repr, str, logs or JSON."""

from __future__ import annotations

import os

import attrs


@attrs.define(frozen=True, repr=False)
class Secret:
    """A key. `reveal()` is the only way to read it, so a leak is a visible call site."""

    _value: str = attrs.field(alias="value")

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


def resolve_secret(spec: str | None, env: dict[str, str] | None = None) -> Secret | None:
    """`"env:NAME"` reads the environment (None when unset); anything else is the literal key."""
    if spec is None:
        return None
    environ = os.environ if env is None else env
    if spec.startswith("env:"):
        value = environ.get(spec[4:], "")
        return Secret(value) if value else None
    return Secret(spec) if spec else None
