"""`relayport new-plugin`: the package it writes passes its own tests as written, installed the
way pip installs it (its entry point in a dist-info beside its source)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from relayport.cli import main
from relayport.scaffold import write_plugin


def _install(root: Path, name: str) -> dict[str, str]:
    """What `pip install -e` leaves for importlib.metadata: a dist-info with the entry point."""
    pkg = "relayport_" + name.replace("-", "_")
    info = root / "site" / f"{pkg}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: relayport-{name}\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[relayport]\n{name} = {pkg}\n")
    path = os.pathsep.join([str(root / "src"), str(root / "site")])
    return {**os.environ, "PYTHONPATH": path, "RELAYPORT_LOAD_PLUGINS": name}


def test_both_kinds_pass_their_own_tests_as_written(tmp_path: Path) -> None:
    runs = {}
    for name, compatible in (("acme-ai", True), ("widget", False)):
        root = write_plugin(name, tmp_path, compatible)
        runs[name] = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", "-W", "error::DeprecationWarning"],
            cwd=root, env=_install(root, name), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for name, proc in runs.items():
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, f"{name}:\n{out[-4000:]}"
        assert " passed" in out and "failed" not in out
        # The only skips are capabilities the generated plugin does not declare.
        skips = [line for line in out.splitlines() if line.startswith("SKIPPED")]
        assert all("does not declare" in line for line in skips), skips


def test_the_command_writes_a_package_and_refuses_to_overwrite(tmp_path: Path, capsys) -> None:
    assert main(["new-plugin", "acme", "--openai-compatible", "--dir", str(tmp_path)]) == 0
    root = tmp_path / "relayport-acme"
    assert (root / "src/relayport_acme/__init__.py").read_text().count("OpenAICompat()") == 1
    assert 'acme = "relayport_acme"' in (root / "pyproject.toml").read_text()
    assert "ACME_API_KEY" in (root / "src/relayport_acme/__init__.py").read_text()
    assert main(["new-plugin", "acme", "--dir", str(tmp_path)]) == 2
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["Acme", "acme_ai", "-acme", "acme--ai", "9acme", ""])
def test_names_that_cannot_be_a_package_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="lower-case"):
        write_plugin(bad, tmp_path, True)
