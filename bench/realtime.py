"""Added latency per relayed realtime event: the gateway vs a direct connection, in one run.

Starts an echo vendor (a WebSocket that sends every text frame straight back) and `relayport
serve` pointing an OpenAI deployment at it, each in its own process. Clients send events of
`--size` bytes one at a time and time each round trip, directly to the echo and through the
gateway (two relayed events per round trip: one each way), over `--sessions` concurrent
sessions. Prints p50/p99 of both and the added latency per relayed event.

    python bench/realtime.py [--sessions 1,32] [--events 2000] [--size 4096]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import aiohttp
from aiohttp import web


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def echo_server(port: int) -> None:
    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0, compress=False)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                await ws.send_str(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/v1/realtime", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


async def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def session(http: aiohttp.ClientSession, url: str, headers: dict[str, str], events: int,
                  payload: str) -> list[float]:
    times: list[float] = []
    async with http.ws_connect(url, headers=headers, compress=0, max_msg_size=0) as ws:
        for i in range(events):
            started = time.perf_counter()
            await ws.send_str(payload % i)
            msg = await ws.receive()
            assert msg.type is aiohttp.WSMsgType.TEXT, msg
            times.append(time.perf_counter() - started)
    return times


async def measure(url: str, headers: dict[str, str], sessions: int, events: int, size: int) -> list[float]:
    payload = '{"type":"input_audio_buffer.append","event_id":"e%d","audio":"' + "A" * size + '"}'
    async with aiohttp.ClientSession() as http:
        await session(http, url, headers, 50, payload)  # warm-up
        runs = await asyncio.gather(*(session(http, url, headers, events, payload) for _ in range(sessions)))
    return [t for run in runs for t in run]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", default="1,32")
    parser.add_argument("--events", type=int, default=1000, help="round trips per session")
    parser.add_argument("--size", type=int, default=4096, help="bytes of base64 audio per event")
    args = parser.parse_args()
    echo_port, gw_port = free_port(), free_port()
    procs = [subprocess.Popen([sys.executable, __file__, "--serve-echo", str(echo_port)])]
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "relayport.toml")
        with open(config, "w") as f:
            f.write(f'[server]\nstate_path = "{tmp}/state.sqlite3"\nlog_requests = false\nlog_level = "warning"\n'
                    f'[auth]\nkeys = ["sk-bench"]\n[[models]]\nname = "rt"\nprovider = "openai"\n'
                    f'base_url = "http://127.0.0.1:{echo_port}/v1"\napi_key = "sk-up"\n')
        procs.append(subprocess.Popen([sys.executable, "-m", "relayport", "serve", "--config", config,
                                       "--port", str(gw_port)]))
        try:
            await wait_port(echo_port)
            await wait_port(gw_port)
            direct = f"ws://127.0.0.1:{echo_port}/v1/realtime?model=rt"
            via = f"ws://127.0.0.1:{gw_port}/v1/realtime?model=rt"
            print(f"event size {args.size} B, {args.events} round trips per session; microseconds")
            print(f"{'sessions':>8} {'direct p50':>11} {'p99':>8} {'gateway p50':>12} {'p99':>8} "
                  f"{'added/event p50':>16} {'p99':>8}")
            for n in (int(x) for x in args.sessions.split(",")):
                d = await measure(direct, {}, n, args.events, args.size)
                g = await measure(via, {"Authorization": "Bearer sk-bench"}, n, args.events, args.size)
                # A round trip through the gateway relays two events (one each way).
                add50 = (pct(g, 50) - pct(d, 50)) / 2
                add99 = (pct(g, 99) - pct(d, 99)) / 2
                print(f"{n:>8} {pct(d, 50):>11.0f} {pct(d, 99):>8.0f} {pct(g, 50):>12.0f} {pct(g, 99):>8.0f} "
                      f"{add50:>16.0f} {add99:>8.0f}   (mean ratio {statistics.mean(g) / statistics.mean(d):.2f}x)")
        finally:
            for p in procs:
                p.terminate()
                p.wait(10)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-echo":
        asyncio.run(echo_server(int(sys.argv[2])))
    else:
        asyncio.run(main())
