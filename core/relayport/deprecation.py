"""Renamed names keep working for a while: the old name resolves to the new object with a
DeprecationWarning, so a third-party plugin written against an older contract still loads.

Used from a module's namespace::

    from relayport.deprecation import renamed
    __getattr__ = renamed(__name__, {"OldName": ("NewName", "0.3")})

The policy (how long an old name lives) is in docs/plugins.md, "Stability".
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable
from typing import Any

# Every rename in effect, "module.OldName" -> ("module.NewName", release it goes away in), so the
# contract test can check each still resolves and docs can list them.
RENAMED: dict[str, tuple[str, str]] = {}


def renamed(module: str, names: dict[str, tuple[str, str]]) -> Callable[[str], Any]:
    """A module `__getattr__` resolving each old name to its new one (in `module`, or a dotted
    "package.module.Name" elsewhere) with a DeprecationWarning naming both and the removal
    release. Unknown names raise AttributeError as usual."""
    for old, (new, until) in names.items():
        RENAMED[f"{module}.{old}"] = (new if "." in new else f"{module}.{new}", until)

    def __getattr__(name: str) -> Any:
        if name not in names:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        new, until = names[name]
        target = new if "." in new else f"{module}.{new}"
        warnings.warn(f"{module}.{name} is deprecated, use {target} (the old name goes in {until})",
                      DeprecationWarning, stacklevel=2)
        return resolve(target)

    return __getattr__


def resolve(dotted: str) -> Any:
    """The object a dotted "package.module.Name" names (importing the module if needed)."""
    mod_name, _, attr = dotted.rpartition(".")
    mod = sys.modules.get(mod_name) or importlib.import_module(mod_name)
    return getattr(mod, attr)
