"""The plugin contract stays importable: every name a plugin imports from relayport resolves,
renamed ones with a DeprecationWarning (docs/plugins.md, "Stability")."""

from __future__ import annotations

import ast
import importlib
import sys
import types
import warnings
from pathlib import Path

import pytest

from relayport import deprecation

ROOT = Path(__file__).resolve().parents[1]
LISTED = [line for line in (ROOT / "tests" / "contract_names.txt").read_text().splitlines()
          if line and not line.startswith("#")]


def _imported_names() -> set[str]:
    """`from relayport... import X` in every plugin and example, outside the server internals
    (tests that reach into `relayport.server` test the core, not the contract)."""
    found: set[str] = set()
    for base in (ROOT / "plugins", ROOT / "examples"):
        for path in base.rglob("*.py"):
            if ".venv" in path.parts or ".nox" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "relayport" \
                        and not node.module.startswith("relayport.server"):
                    found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _resolve(dotted: str) -> object:
    """A listed name is either a module (`from relayport import testing`) or an attribute."""
    try:
        return importlib.import_module(dotted)
    except ImportError:
        return deprecation.resolve(dotted)


@pytest.mark.parametrize("dotted", LISTED)
def test_listed_name_resolves_without_warning_unless_renamed(dotted: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert _resolve(dotted) is not None
    deprecated = [w for w in caught if issubclass(w.category, DeprecationWarning) and "relayport" in str(w.message)]
    if dotted in deprecation.RENAMED:
        assert deprecated, f"{dotted} is renamed but resolves without a DeprecationWarning"
    else:
        assert not deprecated, f"{dotted} warns: {deprecated[0].message}"


def test_every_name_plugins_import_is_listed() -> None:
    missing = sorted(_imported_names() - set(LISTED))
    assert not missing, ("plugins import names the contract list does not hold; add them to "
                         f"tests/contract_names.txt (they are now part of the contract): {missing}")


def test_renamed_name_resolves_to_the_new_object_with_a_warning() -> None:
    mod = types.ModuleType("relayport_rename_probe")
    mod.NewThing = object()  # type: ignore[attr-defined]
    mod.__getattr__ = deprecation.renamed("relayport_rename_probe", {"OldThing": ("NewThing", "0.3")})  # type: ignore[attr-defined]
    sys.modules[mod.__name__] = mod
    try:
        with pytest.warns(DeprecationWarning, match=r"relayport_rename_probe\.OldThing is deprecated, use "
                                                    r"relayport_rename_probe\.NewThing \(the old name goes in 0\.3\)"):
            assert mod.OldThing is mod.NewThing  # type: ignore[attr-defined]
        with pytest.raises(AttributeError):
            mod.Unknown  # type: ignore[attr-defined]  # noqa: B018
        assert deprecation.RENAMED["relayport_rename_probe.OldThing"] == ("relayport_rename_probe.NewThing", "0.3")
    finally:
        del sys.modules[mod.__name__]
        deprecation.RENAMED.pop("relayport_rename_probe.OldThing", None)
