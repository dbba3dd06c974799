"""relayport benchmark: the gateway against a bare aiohttp forwarder, same run.

    python bench/run.py [--quick] [--json out.json]

Starts on 127.0.0.1 a mock upstream (core 1), a bare byte forwarder (core 0)
and the relayport gateway (core 0), then for each case drives the forwarder and
then the gateway with wrk (core 1), never both at once. Prints req/s and
p50/p99 latency of each, the ratio gateway/forwarder, the gateway's start time
and RSS, and the TTFB the gateway adds to a stream. See bench/README.md.

Exit status: 0 when the run completed (whatever the ratios), 1 when a case
failed (non-2xx answers, socket errors, wrong content, gateway died), 2 when
the harness itself could not run (a process did not start, wrk missing...).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import fixtures
import loops
import orjson
import procs
from cases import (
    CASES,
    CLIENT_KEY,
    EVENTS,
    HEADERS,
    HOST,
    Case,
    CaseResult,
    LoadPlan,
    Target,
    TtfbRow,
    measure_case,
    measure_ttfb,
)
from procs import ProcGroup
from report import Run, evaluate, print_report, to_json
from wrk_driver import WrkError, WrkResult, run_wrk, write_script

HERE = Path(__file__).resolve().parent


class HarnessError(RuntimeError):
    pass


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def gateway_config(mock_port: int, port: int) -> str:
    mock = f"http://{HOST}:{mock_port}"
    return f"""\
[server]
host = "{HOST}"
port = {port}

[auth]
keys = ["{CLIENT_KEY}"]

[[models]]
name = "bench-openai"
provider = "openai"
model = "gpt-4o-mini"
base_url = "{mock}/v1"   # as the OpenAI SDK means it
api_key = "sk-upstream-bench"

[[models]]
name = "bench-claude"
provider = "anthropic"
model = "claude-sonnet-4-5"
base_url = "{mock}"      # as the anthropic SDK means it (it appends /v1/messages)
api_key = "sk-ant-bench"

[[models]]
name = "bench-compat"
provider = "deepseek"     # OpenAI-compatible without a Responses API: /v1/responses translates
model = "deepseek-chat"
base_url = "{mock}/v1"
api_key = "sk-upstream-bench"

[[models]]
name = "bench-ds-anthropic"
provider = "deepseek"     # its Anthropic-compatible endpoint: /v1/messages passes through
model = "deepseek-chat"
base_url = "{mock}/v1"
api_key = "sk-upstream-bench"
options = {{ anthropic_base_url = "{mock}" }}

[[models]]
name = "bench-gemini"
provider = "gemini"
model = "gemini-2.5-flash"
base_url = "{mock}"      # as google-genai means it (it appends /v1beta/models/...)
api_key = "gm-bench"
"""


def two_deployments(config: str) -> str:
    """Every model twice, weight 1 each: the weighted router draws for every call (issue 13)."""
    head, *models = config.split("[[models]]\n")
    return head + "".join(f"[[models]]\n{m.rstrip()}\nweight = 1\n\n" * 2 for m in models)


def store_key_config(toml: str, workdir: Path, mode: str) -> str:
    """The config with `sk-bench` as a store key instead of an `[auth] keys` entry: every call
    then pays the store key's checks and metering (and a usage row unless `no-usage-log`). The
    key has an allow-list, RPM and TPM limits and a balance, or with `balance-usage-log` only
    the balance (a prepaid key as the hosted services sell them)."""
    import asyncio

    from relayport.accounts.records import KeyRecord, digest
    from relayport.accounts.store import SQLiteStore

    state = workdir / "state.sqlite3"

    async def add_key() -> None:
        store = SQLiteStore(str(state))
        await store.open()
        await store.create_key(KeyRecord(
            id="key_bench", name="bench", digest=digest(CLIENT_KEY), hint="sk-b...ench", balance=10**18,
            **({} if mode == "balance-usage-log" else {"models": ["bench-*"], "rpm": 10**9, "tpm": 10**12})))
        await store.close()

    asyncio.run(add_key())
    toml = toml.replace(f'[auth]\nkeys = ["{CLIENT_KEY}"]\n', "")
    toml = toml.replace("[server]\n", f'[server]\nstate_path = "{state}"\n', 1)
    toml += f"\n[billing]\nusage_log = {'false' if mode == 'no-usage-log' else 'true'}\n"
    return toml.replace('api_key = "', 'price = { input = 0.15, output = 0.6, cached_input = 0.075 }\napi_key = "')


def forwarder_argv(port: int, mock_port: int) -> list[str]:
    return [
        sys.executable,
        str(HERE / "forwarder.py"),
        "--host",
        HOST,
        "--port",
        str(port),
        "--upstream",
        f"http://{HOST}:{mock_port}",
    ]


def gateway_argv(args: argparse.Namespace, config: Path, port: int, mock_port: int) -> list[str]:
    if args.self_test:
        return forwarder_argv(port, mock_port)
    if args.gateway_cmd:
        cmd = args.gateway_cmd.format(config=config, host=HOST, port=port)
        return shlex.split(cmd)
    tail = ["serve", "--config", str(config), "--host", HOST, "--port", str(port)]
    # Prefer the console script of the interpreter running us (the venv's).
    script = Path(sys.executable).parent / "relayport"
    if script.exists():
        return [str(script), *tail]
    found = shutil.which("relayport")
    if found:
        return [found, *tail]
    return [sys.executable, "-m", "relayport", *tail]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="relayport gateway vs bare forwarder benchmark")
    p.add_argument("--quick", action="store_true", help="3 s per case, fewer TTFB samples")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write results as JSON")
    p.add_argument("--duration", type=int, help="seconds of load per case and target (default 10, quick 3)")
    p.add_argument("--cases", help="comma-separated case keys or substrings (default all)")
    p.add_argument("--ttfb-requests", type=int, help="sequential TTFB requests per target")
    p.add_argument(
        "--rounds",
        type=int,
        help="alternating wrk rounds per target and case (default 5, quick 3)",
    )
    p.add_argument("--warmup", type=int, default=1, help="seconds of wrk per target before each case")
    p.add_argument(
        "--max-noise",
        type=float,
        default=10.0,
        metavar="PCT",
        help="redo a round pair when other processes took more than PCT%% of the "
        "server core during it (bounded; default 10, 100 disables)",
    )
    p.add_argument("--no-ttfb", action="store_true", help="skip the TTFB measurement")
    p.add_argument("--two-deployments", action="store_true",
                   help="give every model two weighted deployments (routing on)")
    p.add_argument(
        "--store-key",
        choices=["usage-log", "no-usage-log", "balance-usage-log"],
        help="the client key is a store key (allow-list, RPM/TPM, balance, priced models) instead of "
        "[auth] keys, with or without the usage log; balance-usage-log: a key with a balance only",
    )
    p.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (config, logs)")
    # Harness validation: the gateway slot runs a second forwarder (ratio ~100%).
    p.add_argument("--self-test", action="store_true", help=argparse.SUPPRESS)
    # Any other server in the gateway slot; {config} {host} {port} are filled in.
    p.add_argument("--gateway-cmd", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.duration is None:
        a.duration = 3 if a.quick else 10
    if a.rounds is None:
        a.rounds = 3 if a.quick else 5
    a.rounds = max(1, a.rounds)
    if a.ttfb_requests is None:
        a.ttfb_requests = 20 if a.quick else 50
    return a


def select_cases(spec: str | None) -> list[Case]:
    if not spec:
        return CASES
    wanted = [s.strip() for s in spec.split(",") if s.strip()]
    chosen = [c for c in CASES if any(w == c.key or w in c.key for w in wanted)]
    if not chosen:
        raise HarnessError(f"no case matches {spec!r}; cases: {', '.join(c.key for c in CASES)}")
    return chosen


def mock_capacity(mock: Target, seconds: int, cpu: int | None, workdir: Path) -> dict[str, WrkResult]:
    """wrk straight at the mock: it must be well above the forwarder, or the
    bench measures the mock."""
    out = {}
    for stream in (False, True):
        case = Case("mock", "mock", "openai", stream, 32)
        script = write_script(
            workdir / f"mock-{int(stream)}.lua",
            fixtures.chat_request("gpt-4o-mini", stream),
            HEADERS,
        )
        key = "stream" if stream else "non-stream"
        out[key] = run_wrk(mock.url(case), script, 32, seconds, cpu)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        log("error: wrk not found (Debian/Ubuntu: apt-get install wrk)")
        return 2

    # Core layout: servers under test on one core, mock + wrk + this script on
    # the other, so the load generator never steals the measured core.
    cpus = procs.ALLOWED_CPUS
    server_cpu: int | None = None
    load_cpu: int | None = None
    if not args.no_pin and len(cpus) >= 2 and shutil.which("taskset"):
        server_cpu, load_cpu = cpus[0], cpus[1]
        os.sched_setaffinity(0, {load_cpu})
    elif not args.no_pin:
        log("warning: cannot pin (fewer than 2 CPUs or no taskset); figures are rough")

    # SIGTERM -> KeyboardInterrupt so that the finally below runs for it too.
    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    # Ctrl-C must work even when started with SIGINT ignored (a background job).
    signal.signal(signal.SIGINT, signal.default_int_handler)

    workdir = Path(tempfile.mkdtemp(prefix="relayport-bench-"))
    group = ProcGroup(workdir)
    keep = args.keep
    try:
        cases = select_cases(args.cases)
        ports: set[int] = set()
        while len(ports) < 3:
            ports.add(procs.free_port())
        mock_port, fwd_port, gw_port = sorted(ports)

        mock_argv = [sys.executable, str(HERE / "mock_upstream.py")]
        mock_argv += ["--host", HOST, "--port", str(mock_port), "--events", str(EVENTS)]
        mock_proc = group.spawn("mock", mock_argv, load_cpu)
        procs.wait_ready(mock_proc, mock_port)
        fwd_proc = group.spawn("forwarder", forwarder_argv(fwd_port, mock_port), server_cpu)
        procs.wait_ready(fwd_proc, fwd_port)

        config = workdir / "relayport.toml"
        text = gateway_config(mock_port, gw_port)
        config.write_text(two_deployments(text) if args.two_deployments else text)
        if args.store_key:
            config.write_text(store_key_config(config.read_text(), workdir, args.store_key))
        gw_cmd = gateway_argv(args, config, gw_port, mock_port)
        log(f"gateway: {shlex.join(gw_cmd)}")
        gw_proc = group.spawn("gateway", gw_cmd, server_cpu)
        try:
            ready_s = procs.wait_ready(gw_proc, gw_port)
        except procs.NotReady as exc:
            keep = True
            log(f"FAIL: the gateway did not start: {exc}")
            return 1
        log(f"gateway ready in {ready_s:.3f} s")

        fwd = Target("forwarder", fwd_port, fwd_proc, translates=False)
        gw = Target("gateway", gw_port, gw_proc, translates=not args.self_test)
        mock = Target("mock", mock_port, mock_proc, translates=False)

        log("mock capacity ...")
        mock_direct = mock_capacity(mock, min(args.duration, 2), load_cpu, workdir)

        plan = LoadPlan(
            seconds=args.duration,
            rounds=args.rounds,
            warmup=args.warmup,
            load_cpu=load_cpu,
            server_cpu=server_cpu,
            workdir=workdir,
            mock_port=mock_port,
            server_pids=(fwd_proc.pid, gw_proc.pid),
            load_pids=(mock_proc.pid,),
            max_noise_pct=args.max_noise,
            check_auth=not args.self_test,
        )
        results: list[CaseResult] = []
        for case in cases:
            log(f"case {case.label} ...")
            results.append(measure_case(case, fwd, gw, plan))

        rss = procs.rss_mb(gw_proc.pid) if gw_proc.alive() else None

        ttfb: list[TtfbRow] = []
        if not args.no_ttfb and gw_proc.alive():
            log("TTFB ...")
            ttfb = measure_ttfb(fwd, gw, mock_port, args.ttfb_requests)

        run = Run(
            results=results,
            ttfb=ttfb,
            ready_s=ready_s,
            rss_mb=rss,
            mock_direct=mock_direct,
            self_test=args.self_test,
            meta={
                "self_test": args.self_test,
                "quick": args.quick,
                "seconds_per_case": args.duration,
                "rounds": args.rounds,
                "max_noise_pct": args.max_noise,
                "gateway_cmd": gw_cmd,
                "python": platform.python_version(),
                "event_loop": loops.available(),
                "cpus": {"servers": server_cpu, "mock_and_wrk": load_cpu},
                "loadavg_at_end": Path("/proc/loadavg").read_text().split()[:3],
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
        )
        checks = evaluate(run)
        print_report(run, checks)
        if args.json:
            doc = orjson.dumps(to_json(run, checks), option=orjson.OPT_INDENT_2)
            args.json.write_bytes(doc)
            log(f"wrote {args.json}")
        failed = any(r.failed for r in results) or any(t.result is None for t in ttfb)
        if failed:
            keep = True
        return 1 if failed else 0
    except (HarnessError, procs.NotReady, WrkError, OSError) as exc:
        keep = True
        log(f"harness error: {exc}")
        return 2
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        group.stop_all()
        if keep:
            log(f"config and logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
