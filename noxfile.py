"""Sessions: `tests` (the core's suite, every plugin installed), `faults` (the long fault-mix run), `plugin` (each vendor alone), `clients` (popular client
libraries against the gateway), `lint`, `bench`."""

from __future__ import annotations

import sys
from pathlib import Path

import nox

nox.options.sessions = ["tests", "plugin", "faults"]
# uv makes the many per-plugin environments cheap (seconds each); plain venv+pip where uv is absent.
nox.options.default_venv_backend = "uv|venv"

ROOT = Path(__file__).parent
PLUGINS = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").exists())
EXAMPLE = "examples/relayport-echo"
# The SDKs the end-to-end tests drive the gateway with, as users would.
SDKS = ["openai", "anthropic", "openai-agents", "google-genai", "websockets"]  # websockets: openai realtime
# The client libraries the client matrix (tests/clients) drives the gateway with.
CLIENTS = ["langchain-openai", "langchain-anthropic", "pydantic-ai-slim[openai,anthropic]", "litellm", "llm"]


def _extras(name: str) -> set[str]:
    """The optional-dependency groups a plugin declares."""
    import tomllib

    with open(ROOT / "plugins" / name / "pyproject.toml", "rb") as f:
        return set(tomllib.load(f).get("project", {}).get("optional-dependencies", {}))


def _install_all(session: nox.Session) -> None:
    session.install("-e", ".[testing,fast,aws,gcp,postgres,metrics,otel,redis]", *SDKS)
    for name in PLUGINS:
        session.install("-e", f"plugins/{name}")
    session.install("-e", EXAMPLE)


@nox.session(python="3.11")
def tests(session: nox.Session) -> None:
    """The core's suite with every plugin installed together, end-to-end with the official SDKs.
    Each plugin's own tests run in `plugin`, alone, as a user installs it (running them here
    too cost CI minutes and found nothing more); the long fault-mix run is `faults`."""
    _install_all(session)
    session.run("pytest", "-q", "-m", "not slow", "tests", *session.posargs)


@nox.session(python="3.11")
def faults(session: nox.Session) -> None:
    """The 10,000-call fault mix: no call lost with one healthy fallback (a few minutes)."""
    _install_all(session)
    session.run("pytest", "-q", "-m", "slow", "-p", "no:logging", "tests", *session.posargs)


@nox.session(python="3.11", venv_backend="uv|venv")
def clients(session: nox.Session) -> None:
    """Popular client libraries (LangChain, pydantic-ai, litellm, the llm CLI) against the gateway
    with fake vendors: what their users do must keep working. One shared environment."""
    session.install("-e", ".[testing,fast]", *SDKS, *CLIENTS)
    for name in PLUGINS:
        session.install("-e", f"plugins/{name}")
    session.run("pytest", "-q", "-p", "no:cacheprovider", "tests/clients", *session.posargs,
                env={"RELAYPORT_CLIENT_MATRIX": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"})


_CORE_WHEEL: list[str] = []


def _core_wheel(session: nox.Session) -> str:
    """The core built once per nox run: each plugin's environment installs this wheel rather
    than building the core again (seconds each, times every plugin)."""
    if not _CORE_WHEEL:
        out = ROOT / ".nox" / "wheels"
        for old in out.glob("relayport-*.whl"):
            old.unlink()
        session.run(sys.executable, "-m", "uv", "build", "-q", "--wheel", "--out-dir", str(out), str(ROOT),
                    external=True)
        _CORE_WHEEL.append(str(next(out.glob("relayport-*.whl"))))
    return _CORE_WHEEL[0]


@nox.session(python="3.11")
@nox.parametrize("name", PLUGINS)
def plugin(session: nox.Session, name: str) -> None:
    """One vendor plugin alone with the core in a fresh environment: what a user installs."""
    # The core's kit and the two SDKs every plugin's tests drive the gateway with; what else a
    # plugin's tests need (google-genai, websockets for realtime...) it declares in its own
    # `test` extra. A fresh environment pays for every package it imports (bytecode is compiled
    # on first import), so each gets only what its tests use.
    session.install(f"{_core_wheel(session)}[testing]", "openai", "anthropic")
    session.install(f"plugins/{name}[test]" if "test" in _extras(name) else f"plugins/{name}")
    # Run from the plugin folder so nothing but the installed packages is importable.
    session.chdir(f"plugins/{name}")
    session.run("pytest", "-q", "-p", "no:cacheprovider", "tests", *session.posargs)


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """ruff on everything, mypy on the core."""
    session.install("ruff", "mypy", "-e", ".[testing,postgres,metrics,otel,redis]")
    session.run("ruff", "check", "core", "plugins", "tests", "examples", "bench", "noxfile.py")
    session.run("mypy", "core/relayport")


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """The benchmark against a bare aiohttp forwarder (needs wrk: apt-get install wrk)."""
    session.install("-e", ".[fast]")
    for name in PLUGINS:
        session.install("-e", f"plugins/{name}")
    session.run("python", "bench/run.py", *session.posargs)
