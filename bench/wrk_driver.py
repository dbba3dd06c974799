"""Running wrk with a POST script and reading its report."""

from __future__ import annotations

import re
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from procs import pin_prefix

WRK = "wrk"


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class WrkError(RuntimeError):
    pass


def write_script(path: Path, body: bytes, headers: dict[str, str]) -> Path:
    """A wrk Lua script that POSTs `body` with `headers` on every request.

    The body goes in a Lua long bracket, so it needs no escaping as long as it
    does not contain the closing bracket (checked).
    """
    text = body.decode()
    close = "]==]"
    if close in text:
        raise ValueError("request body contains the Lua long-bracket terminator")
    lines = ['wrk.method = "POST"', f"wrk.body = [==[{text}]==]"]
    for k, v in headers.items():
        lines.append(f'wrk.headers["{k}"] = "{v}"')
    path.write_text("\n".join(lines) + "\n")
    return path


def run_wrk(
    url: str,
    script: Path,
    connections: int,
    seconds: int,
    cpu: int | None,
    threads: int = 1,
    timeout_s: float = 10.0,
) -> WrkResult:
    """Run wrk once (bounded by -d, and killed if it overruns) and parse it."""
    argv = pin_prefix(cpu) + [
        WRK,
        f"-t{max(1, min(threads, connections))}",
        f"-c{connections}",
        f"-d{seconds}s",  # wrk accepts whole seconds only
        f"--timeout={timeout_s:g}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    try:
        out = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=seconds + timeout_s + 30,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise WrkError(f"wrk overran its duration: {' '.join(argv)}") from exc
    if out.returncode != 0:
        raise WrkError(f"wrk exited {out.returncode}: {out.stderr.strip() or out.stdout.strip()}")
    return parse_wrk(out.stdout)


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _ms(value: str, unit: str) -> float:
    return float(value) * _UNITS_MS[unit]


def parse_wrk(out: str) -> WrkResult:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.MULTILINE)
    p50 = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s|m|h)\s*$", out, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s|m|h)\s*$", out, re.MULTILINE)
    total = re.search(r"^\s+(\d+) requests in ([\d.]+)(us|ms|s|m|h)", out, re.MULTILINE)
    if not (rps and p50 and p99 and total):
        raise WrkError(f"cannot parse wrk output:\n{out}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = {}
    if sock:
        socket_errors = {
            k: int(v)
            for k, v in zip(("connect", "read", "write", "timeout"), sock.groups(), strict=True)
            if int(v)
        }
    return WrkResult(
        rps=float(rps.group(1)),
        p50_ms=_ms(*p50.groups()),
        p99_ms=_ms(*p99.groups()),
        requests=int(total.group(1)),
        seconds=_ms(total.group(2), total.group(3)) / 1000.0,
        non_2xx=int(non2xx.group(1)) if non2xx else 0,
        socket_errors=socket_errors,
    )
