"""Chat throughput while the task poller tracks many open tasks.

Two gateway state files on the same config: one empty, one holding N open video tasks (submitted
through `POST /v1/videos` to the mock, which keeps every task `in_progress`, so the poller polls
each one every `--interval` seconds for the whole run). Rounds alternate between the two
(A B B A ...): start `relayport serve` on the state file, let it settle, run wrk on OpenAI
non-stream chat at 32 connections, stop it. Reports req/s and p50 for both, and how many task
polls the mock saw per second during the loaded rounds (proof the poller was working).

    python bench/tasks.py [--tasks 1000] [--interval 5] [--seconds 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp
import orjson
import procs
from cases import CLIENT_KEY, HEADERS, HOST
from procs import ProcGroup
from run import gateway_argv
from wrk_driver import WrkResult, run_wrk, write_script

HERE = Path(__file__).resolve().parent
CHAT = orjson.dumps({"model": "bench-openai", "messages": [{"role": "user", "content": "Say hi."}]})


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def config(mock_port: int, port: int, state: Path, interval: float) -> str:
    mock = f"http://{HOST}:{mock_port}"
    return f"""\
[server]
host = "{HOST}"
port = {port}
state_path = "{state}"

[auth]
keys = ["{CLIENT_KEY}"]

[tasks]
poll_interval = {interval}

[[models]]
name = "bench-openai"
provider = "openai"
model = "gpt-4o-mini"
base_url = "{mock}/v1"
api_key = "sk-upstream-bench"

[[models]]
name = "bench-video"
provider = "openai"
model = "sora-2"
base_url = "{mock}/v1"
api_key = "sk-upstream-bench"
"""


def mock_stats(port: int) -> dict[str, object]:
    with urllib.request.urlopen(f"http://{HOST}:{port}/_bench/stats", timeout=5) as resp:
        return orjson.loads(resp.read())  # type: ignore[no-any-return]


async def submit_tasks(port: int, n: int) -> int:
    sem = asyncio.Semaphore(32)
    ok = 0

    async def one(session: aiohttp.ClientSession) -> None:
        nonlocal ok
        async with sem, session.post(f"http://{HOST}:{port}/v1/videos", headers=HEADERS,
                                     json={"model": "bench-video", "prompt": "a boat", "seconds": "4"}) as resp:
            if resp.status == 200:
                ok += 1

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(one(session) for _ in range(n)))
    return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", type=int, default=1000)
    p.add_argument("--interval", type=float, default=5.0, help="tasks.poll_interval (s)")
    p.add_argument("--seconds", type=int, default=10, help="wrk seconds per round")
    p.add_argument("--settle", type=float, default=6.0, help="seconds between start and load")
    p.add_argument("--rounds", type=int, default=2, help="pairs of rounds (A B then B A, ...)")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if shutil.which("wrk") is None:
        log("error: wrk not found (apt-get install wrk)")
        return 2
    cpus = procs.ALLOWED_CPUS
    server_cpu = load_cpu = None
    if len(cpus) >= 2 and shutil.which("taskset"):
        server_cpu, load_cpu = cpus[0], cpus[1]
        os.sched_setaffinity(0, {load_cpu})
    workdir = Path(tempfile.mkdtemp(prefix="relayport-bench-tasks-"))
    group = ProcGroup(workdir)
    try:
        mock_port, gw_port = procs.free_port(), procs.free_port()
        mock = group.spawn("mock", [sys.executable, str(HERE / "mock_upstream.py"), "--host", HOST,
                                    "--port", str(mock_port)], load_cpu)
        procs.wait_ready(mock, mock_port)
        script = write_script(workdir / "chat.lua", CHAT, HEADERS)
        states = {"without tasks": workdir / "empty.sqlite3", f"with {args.tasks} tasks": workdir / "tasks.sqlite3"}

        def start(label: str) -> procs.Proc:
            cfg = workdir / f"{label.replace(' ', '-')}.toml"
            cfg.write_text(config(mock_port, gw_port, states[label], args.interval))
            gw = group.spawn("gateway", gateway_argv(argparse.Namespace(self_test=False, gateway_cmd=None),
                                                     cfg, gw_port, mock_port), server_cpu)
            procs.wait_ready(gw, gw_port)
            return gw

        with_label = f"with {args.tasks} tasks"
        gw = start(with_label)
        t0 = time.perf_counter()
        made = asyncio.run(submit_tasks(gw_port, args.tasks))
        log(f"submitted {made}/{args.tasks} tasks in {time.perf_counter() - t0:.1f} s")
        if made != args.tasks:
            return 1
        group.stop(gw)

        results: dict[str, list[WrkResult]] = {label: [] for label in states}
        polls_per_s: list[float] = []
        order = [label for i in range(args.rounds)
                 for label in (list(states) if i % 2 == 0 else list(states)[::-1])]
        for label in order:
            gw = start(label)
            time.sleep(args.settle)  # a restart finds every task due at once: let that burst pass
            before = mock_stats(mock_port)["videos"]["polls"]  # type: ignore[index]
            t = time.perf_counter()
            r = run_wrk(f"http://{HOST}:{gw_port}/v1/chat/completions", script, 32, args.seconds, load_cpu)
            elapsed = time.perf_counter() - t
            polls = mock_stats(mock_port)["videos"]["polls"] - before  # type: ignore[index,operator]
            alive = gw.alive()
            group.stop(gw)
            if r.errors or not alive:
                log(f"FAIL: {label}: {r.errors} errors, gateway alive: {alive}")
                return 1
            results[label].append(r)
            if label == with_label:
                polls_per_s.append(polls / elapsed)
            log(f"{label:>20}: {r.rps:8.0f} req/s  p50 {r.p50_ms:6.2f} ms  task polls {polls / elapsed:6.1f}/s")

        base, loaded = results["without tasks"], results[with_label]
        rps0, rps1 = statistics.median(r.rps for r in base), statistics.median(r.rps for r in loaded)
        p0, p1 = statistics.median(r.p50_ms for r in base), statistics.median(r.p50_ms for r in loaded)
        print(f"chat (openai non-stream c=32), median of {args.rounds} rounds each, {args.seconds} s per round")
        print(f"  without tasks         : {rps0:8.0f} req/s  p50 {p0:6.2f} ms")
        print(f"  with {args.tasks} open tasks : {rps1:8.0f} req/s  p50 {p1:6.2f} ms   "
              f"({statistics.median(polls_per_s):.0f} task polls/s, interval {args.interval:g} s)")
        print(f"  ratio                 : req/s {rps1 / rps0:6.1%}  p50 {p1 / p0:6.1%}")
        if args.json:
            args.json.write_bytes(orjson.dumps({
                "tasks": args.tasks, "interval": args.interval, "seconds": args.seconds,
                "without": [r.to_json() for r in base], "with": [r.to_json() for r in loaded],
                "polls_per_s": polls_per_s}, option=orjson.OPT_INDENT_2))
        return 0
    finally:
        group.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
