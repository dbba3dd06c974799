"""`relayport new-plugin NAME`: a vendor plugin package that passes its own tests as written.

The files come from `relayport/templates/` (package data): `common/` for every plugin, then
`openai_compatible/` (a vendor that speaks OpenAI's chat format, with quirks as options) or
`custom/` (a vendor with its own format: the four translation hooks and a fake of it).
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from string import Template

from relayport import __version__

NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")

# template -> where it goes in the new package ({pkg}: the import name)
_LAYOUT = {
    "common/pyproject.toml.tmpl": "pyproject.toml",
    "common/README.md.tmpl": "README.md",
    "{kind}/__init__.py.tmpl": "src/{pkg}/__init__.py",
    "{kind}/testing.py.tmpl": "src/{pkg}/testing.py",
    "{kind}/test_plugin.py.tmpl": "tests/test_{pkg}.py",
}

_DIFFERENCES = {
    "openai_compatible": "- (each difference, and the `OpenAICompat` option or `adapt` step that handles it)",
    "custom": "- (the request and answer formats, the stream framing, the error envelope, the finish words)",
}


def write_plugin(name: str, parent: Path, openai_compatible: bool) -> Path:
    """Write `relayport-<name>/` under `parent`; returns its path. Refuses to overwrite."""
    if not NAME.match(name):
        raise ValueError(f"{name!r}: use lower-case letters, digits and single hyphens (e.g. 'acme' or 'acme-ai')")
    root = parent / f"relayport-{name}"
    if root.exists():
        raise FileExistsError(f"{root} exists: choose another name or remove it")
    kind = "openai_compatible" if openai_compatible else "custom"
    pkg = "relayport_" + name.replace("-", "_")
    words = name.split("-")
    values = {
        "name": name, "pkg": pkg, "camel": "".join(w.capitalize() for w in words),
        "title": " ".join(w.capitalize() for w in words), "key_env": "_".join(words).upper() + "_API_KEY",
        "core_version": __version__, "differences": _DIFFERENCES[kind],
    }
    templates = resources.files("relayport") / "templates"
    for source, target in _LAYOUT.items():
        text = (templates / source.format(kind=kind)).read_text(encoding="utf-8")
        path = root / target.format(pkg=pkg)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(text).substitute(values), encoding="utf-8")
    return root
