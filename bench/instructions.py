"""CPU instructions per request of the gateway and the bare forwarder, counted by callgrind.

    python bench/instructions.py [--case anthropic-stream|responses-compat-stream|...] [--requests 300]

Requests per second on a shared VM drift with other tenants' load; instruction counts do not
(the same code, input and environment give the same count). Use this to judge a change to the
gateway's hot path, and the wrk run (`run.py`) for the figures users care about: the two agree
in direction but not in scale, as callgrind counts no kernel work (socket I/O is a large part
of the forwarder's cost).

Each target runs under `valgrind --tool=callgrind` (Debian: apt-get install valgrind), behind
the same mock upstream as `run.py`. After a warm-up the counters are zeroed, N requests are sent
8 at a time, and the count is dumped and divided by N. One target takes about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import fixtures
import orjson
import procs
from cases import HEADERS, HOST
from procs import ProcGroup
from run import forwarder_argv, gateway_config, store_key_config
from wrk_driver import run_wrk, write_script

# case: (model, stream, client surface). The "messages-" cases are an Anthropic client on
# /v1/messages served by the OpenAI-compatible mock (the gateway translates both ways; the
# forwarder relays the same Messages body to the mock's chat endpoint).
CASES = {
    "anthropic-stream": ("bench-claude", True, "openai"),
    "anthropic-nonstream": ("bench-claude", False, "openai"),
    "gemini-stream": ("bench-gemini", True, "openai"),
    "gemini-nonstream": ("bench-gemini", False, "openai"),
    "openai-stream": ("bench-openai", True, "openai"),
    "openai-nonstream": ("bench-openai", False, "openai"),
    "messages-openai-stream": ("bench-openai", True, "anthropic"),
    "messages-openai-nonstream": ("bench-openai", False, "anthropic"),
    # The same Anthropic client for a vendor with an Anthropic-compatible endpoint (DeepSeek's,
    # played by the mock's /v1/messages): passed through; the forwarder relays it there too.
    "messages-compat-stream": ("bench-ds-anthropic", True, "anthropic"),
    "messages-compat-nonstream": ("bench-ds-anthropic", False, "anthropic"),
    # An OpenAI Responses client (store: false, and with the default store: true) on
    # /v1/responses, served by the OpenAI-compatible mock through a vendor without a Responses
    # API (translated both ways); the forwarder relays the same body to the chat endpoint.
    "responses-compat-stream": ("bench-compat", True, "responses"),
    "responses-compat-stream-stored": ("bench-compat", True, "responses-stored"),
    "responses-compat-nonstream": ("bench-compat", False, "responses"),
}


def messages_body(model: str, stream: bool) -> bytes:
    """The bench's chat request as an Anthropic Messages body."""
    chat = orjson.loads(fixtures.chat_request(model, stream))
    body = {"model": model, "max_tokens": chat["max_tokens"], "system": chat["messages"][0]["content"],
            "messages": chat["messages"][1:], "temperature": chat["temperature"]}
    if stream:
        body["stream"] = True
    return orjson.dumps(body)


async def drive(url: str, body: bytes, n: int) -> None:
    async with aiohttp.ClientSession(headers=HEADERS) as session:
        gate = asyncio.Semaphore(8)

        async def one() -> None:
            async with gate, session.post(url, data=body) as r:
                answer = await r.read()
                if r.status != 200:
                    raise SystemExit(f"{url} answered {r.status}: {answer[:300]!r}")

        await asyncio.gather(*(one() for _ in range(n)))


def count(group: ProcGroup, work: Path, name: str, argv: list[str], url: str, body: bytes,
          requests: int, warmup: int, port: int, idle: bool = False) -> int:
    """Instructions per request. With `idle`, the instructions the process spends with no
    request in flight over as long again (timers: the key refresh, batch flushes) are taken
    out first: under valgrind requests are ~50x slower, so time-driven work would otherwise
    weigh ~50x more per request than it does at a real request rate."""
    out = work / f"callgrind.{name}"
    proc = group.spawn(name, ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv], None)
    procs.wait_ready(proc, port, timeout=600)  # a loaded 2-core VM: startup under valgrind can take minutes
    if not proc.alive():  # another process took the port while valgrind started ours
        raise SystemExit(f"{name} exited before serving (port {port} taken?):\n{proc.log_tail()}")
    asyncio.run(drive(url, body, warmup))
    subprocess.run(["callgrind_control", "-z", str(proc.pid)], check=True, capture_output=True)
    started = time.monotonic()
    asyncio.run(drive(url, body, requests))
    elapsed = time.monotonic() - started
    subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
    if idle:
        time.sleep(elapsed)
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], check=True, capture_output=True)
    group.stop(proc)
    # The `-d` dumps: <file>.1 (the requests), <file>.2 (idle; each dump zeroes the counters).
    summaries = []
    for n in (1, 2) if idle else (1,):
        dump = work / f"callgrind.{name}.{n}"
        found = re.search(r"^summary: (\d+)", dump.read_text(errors="replace") if dump.exists() else "", re.M)
        if found is None:
            raise SystemExit(f"no callgrind dump {dump.name} in {work}")
        summaries.append(int(found.group(1)))
    busy = summaries[0] - (summaries[1] if idle else 0)
    if KEEP is not None:  # for callgrind_annotate: where the instructions went
        KEEP.mkdir(parents=True, exist_ok=True)
        shutil.copy(work / f"callgrind.{name}.1", KEEP / f"callgrind.{name}")
    return busy // requests


# Where --keep copies each target's dump of the measured requests (None: not kept).
KEEP: Path | None = None


# Gateway variants for --keys: (store key mode or None for the `[auth] keys` entry, metrics on).
KEY_VARIANTS = {
    "toml": (None, True),
    "toml-nometrics": (None, False),
    "store": ("no-usage-log", True),
    "store-log": ("usage-log", True),
    "store-log-nometrics": ("usage-log", False),
    "store-log-balance": ("balance-usage-log", True),  # a key with a balance only (no allow-list, no limits)
}


def variant_config(mock_port: int, port: int, work: Path, variant: str) -> str:
    """The bench config for one --keys variant (a fresh state file per store-key variant)."""
    mode, metrics = KEY_VARIANTS[variant.partition("#")[0]]
    toml = gateway_config(mock_port, port)
    if mode is not None:
        state_dir = work / variant
        state_dir.mkdir(parents=True, exist_ok=True)
        toml = store_key_config(toml, state_dir, mode)
    if not metrics:
        toml += "\n[metrics]\nenabled = false\n"
    return toml


def compare_keys(a: argparse.Namespace, variants: list[str]) -> int:
    """Instructions per request of the gateway under each variant (callgrind), then requests/s
    of the variants side by side (wrk, alternating short rounds), each as a ratio to the first:
    issue 14's "store key and usage log within 10% of the TOML key" check."""
    # `toml#2`: a second gateway of the same config, the control for what processes differ by.
    unknown = [v for v in variants if v.partition("#")[0] not in KEY_VARIANTS]
    if len(set(variants)) != len(variants):
        print("error: a variant twice; name the second one VARIANT#2", file=sys.stderr)
        return 2
    if unknown or not variants:
        print(f"error: unknown variant(s) {unknown}; known: {', '.join(KEY_VARIANTS)}", file=sys.stderr)
        return 2
    if a.callgrind and not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        print("error: valgrind not found (Debian/Ubuntu: apt-get install valgrind)", file=sys.stderr)
        return 2
    if a.wrk and not shutil.which("wrk"):
        print("error: wrk not found (Debian/Ubuntu: apt-get install wrk)", file=sys.stderr)
        return 2
    model, stream, client = CASES[a.case]
    if client != "openai":
        print("error: --keys runs the OpenAI-client cases (openai-*, anthropic-*, gemini-*)", file=sys.stderr)
        return 2
    body = fixtures.chat_request(model, stream)
    script = Path(sys.executable).parent / "relayport"
    relayport = [str(script)] if script.exists() else [sys.executable, "-m", "relayport"]
    counts: dict[str, int] = {}
    rounds: list[dict[str, float]] = []
    cpu_us: dict[str, list[float]] = {}
    sets: dict[int, list[dict[str, float]]] = {}
    kernel_us: dict[str, list[float]] = {}  # the kernel's part of cpu_us
    with tempfile.TemporaryDirectory(prefix="relayport-instr-") as tmp:
        work = Path(tmp)
        group = ProcGroup(work)
        cpus = procs.ALLOWED_CPUS
        server_cpu, load_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
        try:
            mock_port = procs.free_port()
            mock = group.spawn("mock", [sys.executable, str(Path(__file__).with_name("mock_upstream.py")),
                                        "--host", HOST, "--port", str(mock_port)], load_cpu)
            procs.wait_ready(mock, mock_port)

            def argv_for(variant: str, port: int, tag: str) -> list[str]:
                config = work / f"{variant}-{tag}.toml"
                config.write_text(variant_config(mock_port, port, work / tag, variant))
                return [*relayport, "serve", "--config", str(config), "--host", HOST, "--port", str(port)]

            (work / "cg").mkdir()
            (work / "wrk").mkdir()
            for variant in variants if a.callgrind else []:
                port = procs.free_port()
                counts[variant] = count(group, work, variant, argv_for(variant, port, "cg"),
                                        f"http://{HOST}:{port}/v1/chat/completions", body, a.requests,
                                        a.warmup, port, idle=a.idle)
                print(f"{a.case} {variant}: {counts[variant] / 1e6:.3f} M instructions per request", flush=True)
            if a.wrk:
                lua = write_script(work / "wrk.lua", body, HEADERS)
                for s in range(a.sets):
                    # Each set starts every variant afresh (new hash seeds, heap layout, state file):
                    # two processes of one config differ by several points on a shared host, so
                    # one process per variant would measure the processes as much as the code.
                    tag = f"wrk{s}"
                    urls, pids, running = {}, {}, []
                    for variant in variants:  # all up at once, on the same core; loaded one at a time
                        port = procs.free_port()
                        proc = group.spawn(f"{tag}-{variant}", argv_for(variant, port, tag), server_cpu)
                        running.append(proc)
                        procs.wait_ready(proc, port, timeout=60)
                        urls[variant], pids[variant] = f"http://{HOST}:{port}/v1/chat/completions", proc.pid
                        run_wrk(urls[variant], lua, 32, 1, load_cpu)  # warm-up
                    for r in range(a.wrk_rounds):
                        order = variants[r % len(variants):] + variants[:r % len(variants)]
                        got = {}
                        for variant in order:
                            user0, kernel0 = procs.proc_times(pids[variant])
                            result = run_wrk(urls[variant], lua, 32, a.wrk, load_cpu)
                            if result.errors:
                                print(f"error: {variant} answered {result.non_2xx} non-2xx, "
                                      f"socket errors {result.socket_errors}", file=sys.stderr)
                                return 1
                            got[variant] = result.rps
                            # The server's own CPU (user + kernel) per request: steadier than req/s
                            # on a shared host, as time the host takes away is not counted.
                            user, kernel = procs.proc_times(pids[variant])
                            per = 1e6 / procs.CLK_TCK / max(1, result.requests)
                            cpu_us.setdefault(variant, []).append((user - user0 + kernel - kernel0) * per)
                            kernel_us.setdefault(variant, []).append((kernel - kernel0) * per)
                        rounds.append(got)
                        sets.setdefault(s, []).append(got)
                        print(f"wrk set {s + 1} round {r + 1}: " + ", ".join(
                            f"{v} {got[v]:.0f}/s ({cpu_us[v][-1]:.0f} us CPU/request)" for v in variants),
                            flush=True)
                    for proc in running:
                        group.stop(proc)
        finally:
            group.stop_all()
            time.sleep(0.1)
    base = variants[0]
    for variant in variants[1:]:
        parts = []
        if counts:
            parts.append(f"{counts[variant] / counts[base]:.1%} of the instructions per request")
        if rounds:
            ratios = sorted(r[variant] / r[base] for r in rounds)
            parts.append(f"wrk c=32 req/s {statistics.median(ratios):.1%} (rounds {ratios[0]:.1%}.."
                         f"{ratios[-1]:.1%})")
            if len(sets) > 1:
                medians = [statistics.median(r[variant] / r[base] for r in got) for got in sets.values()]
                parts.append("per set of processes " + ", ".join(f"{m:.1%}" for m in medians)
                             + f" (median {statistics.median(medians):.1%})")
            cpu = {v: statistics.mean(cpu_us[v]) for v in (base, variant)}
            kernel = {v: statistics.mean(kernel_us[v]) for v in (base, variant)}
            parts.append(f"server CPU per request {cpu[variant]:.0f} us against {cpu[base]:.0f} us "
                         f"({cpu[variant] / cpu[base]:.1%}; requests per CPU-second {cpu[base] / cpu[variant]:.1%}; "
                         f"in the kernel {kernel[variant]:.0f} us against {kernel[base]:.0f} us)")
        print(f"{variant} vs {base}: " + "; ".join(parts))
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--case", choices=sorted(CASES), default="anthropic-stream")
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--target", choices=["both", "gateway", "forwarder"], default="both")
    p.add_argument("--store-key", choices=["usage-log", "no-usage-log", "balance-usage-log"],
                   help="the client key is a store key (see run.py --store-key)")
    p.add_argument("--no-callgrind", dest="callgrind", action="store_false",
                   help="with --keys: skip the instruction counts (wrk only)")
    p.add_argument("--with-idle", dest="idle", action="store_false",
                   help="with --keys: keep the instructions spent idle (timers) in the per-request count")
    p.add_argument("--wrk", type=int, default=0, metavar="S",
                   help="with --keys: also S-second wrk rounds against every variant, alternating")
    p.add_argument("--wrk-rounds", type=int, default=4, help="with --wrk: rounds per set (default 4)")
    p.add_argument("--sets", type=int, default=1, metavar="N",
                   help="with --wrk: start every variant afresh N times, WRK_ROUNDS rounds each (default 1)")
    p.add_argument("--keys", metavar="VARIANT,...",
                   help="compare gateway variants in one run, each against the first: "
                        f"{', '.join(KEY_VARIANTS)} (e.g. toml,store,store-log,store-log-nometrics); "
                        "VARIANT#2 runs one again as a control (toml,toml#2)")
    p.add_argument("--keep", type=Path, metavar="DIR",
                   help="copy each target's callgrind dump there (read with callgrind_annotate --inclusive=yes)")
    a = p.parse_args()
    global KEEP
    KEEP = a.keep
    if a.keys:
        return compare_keys(a, [v.strip() for v in a.keys.split(",") if v.strip()])
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        print("error: valgrind not found (Debian/Ubuntu: apt-get install valgrind)", file=sys.stderr)
        return 2
    model, stream, client = CASES[a.case]
    if client == "openai":
        body, gw_path = fixtures.chat_request(model, stream), "/v1/chat/completions"
    elif client.startswith("responses"):
        body, gw_path = fixtures.responses_request(model, stream, client.endswith("stored")), "/v1/responses"
    else:
        body, gw_path = messages_body(model, stream), "/v1/messages"
    # The forwarder reaches the Anthropic endpoint through its route table (see forwarder.py).
    fwd_path = {"bench-claude": "/anthropic/v1/chat/completions",
                "bench-ds-anthropic": "/anthropic/v1/chat/completions",
                "bench-gemini": "/gemini-stream/v1/chat/completions" if stream else "/gemini/v1/chat/completions",
                }.get(model, "/v1/chat/completions")
    script = Path(sys.executable).parent / "relayport"
    relayport = [str(script)] if script.exists() else [sys.executable, "-m", "relayport"]
    with tempfile.TemporaryDirectory(prefix="relayport-instr-") as tmp:
        work = Path(tmp)
        group = ProcGroup(work)
        try:
            mock_port = procs.free_port()
            mock = group.spawn("mock", [sys.executable, str(Path(__file__).with_name("mock_upstream.py")),
                                        "--host", HOST, "--port", str(mock_port)], None)
            procs.wait_ready(mock, mock_port)
            results: dict[str, int] = {}
            if a.target in ("both", "forwarder"):
                port = procs.free_port()
                results["forwarder"] = count(group, work, "forwarder", forwarder_argv(port, mock_port),
                                             f"http://{HOST}:{port}{fwd_path}", body, a.requests, a.warmup, port)
            if a.target in ("both", "gateway"):
                port = procs.free_port()
                config = work / "relayport.toml"
                config.write_text(gateway_config(mock_port, port))
                if a.store_key:
                    config.write_text(store_key_config(config.read_text(), work, a.store_key))
                argv = [*relayport, "serve", "--config", str(config), "--host", HOST, "--port", str(port)]
                results["gateway"] = count(group, work, "gateway", argv, f"http://{HOST}:{port}{gw_path}",
                                           body, a.requests, a.warmup, port)
        finally:
            group.stop_all()
            time.sleep(0.1)
    for name, n in results.items():
        print(f"{a.case} {name}: {n / 1e6:.3f} M instructions per request")
    if len(results) == 2:
        print(f"forwarder / gateway: {results['forwarder'] / results['gateway']:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
