"""The bench cases and how one case is measured on both targets."""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import client
import fixtures
from procs import NoiseProbe, Proc
from wrk_driver import WrkResult, run_wrk, write_script

HOST = "127.0.0.1"
CLIENT_KEY = "sk-bench"
HEADERS = {"Content-Type": "application/json", "Authorization": f"Bearer {CLIENT_KEY}"}
EVENTS = 100  # stream events per response (mock default)
TTFB_EVENTS = 10  # a short stream is enough to time its first event
TTFB_DELAY_MS = 20.0

Upstream = Literal["openai", "anthropic", "gemini"]


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    upstream: Upstream
    stream: bool
    connections: int
    # "responses": an OpenAI Responses client; the gateway translates for an OpenAI-compatible
    # vendor without a Responses API (the mock's chat endpoint), the forwarder relays the body.
    client: str = "chat"

    @property
    def model(self) -> str:
        if self.client == "responses":
            return "bench-compat"
        return {"openai": "bench-openai", "anthropic": "bench-claude", "gemini": "bench-gemini"}[self.upstream]

    def body(self) -> bytes:
        if self.client == "responses":
            return fixtures.responses_request(self.model, self.stream)
        return fixtures.chat_request(self.model, self.stream)


CASES = [
    Case("openai-nonstream-c1", "openai non-stream c=1", "openai", False, 1),
    Case("openai-nonstream-c32", "openai non-stream c=32", "openai", False, 32),
    Case("openai-stream-c1", "openai stream c=1", "openai", True, 1),
    Case("openai-stream-c32", "openai stream c=32", "openai", True, 32),
    Case(
        "anthropic-nonstream-c32",
        "anthropic->openai non-stream c=32",
        "anthropic",
        False,
        32,
    ),
    Case("anthropic-stream-c32", "anthropic->openai stream c=32", "anthropic", True, 32),
    Case("responses-compat-stream-c32", "responses->openai-compatible stream c=32", "openai", True, 32,
         client="responses"),
    Case("gemini-nonstream-c32", "gemini->openai non-stream c=32", "gemini", False, 32),
    Case("gemini-stream-c32", "gemini->openai stream c=32", "gemini", True, 32),
]


@dataclass
class Target:
    """A server under test. `translates`: it answers in OpenAI format whatever
    the upstream (the gateway); otherwise it relays the upstream's bytes (the
    forwarder, and the forwarder standing in for the gateway in --self-test)."""

    name: str
    port: int
    proc: Proc
    translates: bool

    def path(self, case: Case) -> str:
        if case.client == "responses" and self.translates:
            return "/v1/responses"
        if self.translates or case.upstream == "openai":
            return "/v1/chat/completions"
        if case.upstream == "gemini":  # forwarder maps these to generateContent / streamGenerateContent
            return "/gemini-stream/v1/chat/completions" if case.stream else "/gemini/v1/chat/completions"
        return "/anthropic/v1/chat/completions"  # forwarder maps it to /v1/messages

    def url(self, case: Case) -> str:
        return f"http://{HOST}:{self.port}{self.path(case)}"

    def endpoint(self, case: Case) -> client.Endpoint:
        return client.Endpoint(self.name, self.url(case), case.body(), HEADERS)

    def check(self, case: Case, ans: client.Answer) -> str | None:
        """None if the answer is what this target should send back."""
        if case.stream and not ans.content_type.startswith("text/event-stream"):
            return f"Content-Type is {ans.content_type!r}, want text/event-stream"
        full = fixtures.text(EVENTS)
        if case.client == "responses" and self.translates:
            return fixtures.check_responses_sse(ans.body, fixtures.openai_stream_text(EVENTS))
        if case.upstream == "openai":
            if case.stream:
                want = fixtures.openai_stream_text(EVENTS)
                return fixtures.check_openai_sse(ans.body, want)
            return fixtures.check_openai_json(ans.body, full)
        if self.translates:
            if case.stream:
                return fixtures.check_openai_sse(ans.body, full)
            return fixtures.check_openai_json(ans.body, full)
        if case.upstream == "gemini":
            if case.stream:
                return fixtures.check_gemini_sse(ans.body, full)
            return fixtures.check_gemini_json(ans.body, full)
        if case.stream:
            return fixtures.check_anthropic_sse(ans.body, full)
        return fixtures.check_anthropic_json(ans.body, full)


@dataclass
class Side:
    """One target's figures for one case: a wrk run per round."""

    rounds: list[WrkResult] = field(default_factory=list)
    noise_pct: list[float] = field(default_factory=list)  # per kept round
    upstream_conns: int = 0  # connections the mock accepted during the rounds
    discarded: list[WrkResult] = field(default_factory=list)  # noisy rounds redone
    error: str | None = None

    @property
    def result(self) -> WrkResult | None:
        """Rounds merged: req/s over the total time; percentiles are the
        request-weighted mean of the rounds' (wrk gives no histogram)."""
        if not self.rounds:
            return None
        n = sum(r.requests for r in self.rounds) or 1
        secs = sum(r.seconds for r in self.rounds) or 1.0
        sock: dict[str, int] = {}
        for r in self.rounds:
            for k, v in r.socket_errors.items():
                sock[k] = sock.get(k, 0) + v
        return WrkResult(
            rps=sum(r.requests for r in self.rounds) / secs,
            p50_ms=sum(r.p50_ms * r.requests for r in self.rounds) / n,
            p99_ms=sum(r.p99_ms * r.requests for r in self.rounds) / n,
            requests=sum(r.requests for r in self.rounds),
            seconds=secs,
            non_2xx=sum(r.non_2xx for r in self.rounds),
            socket_errors=sock,
        )


@dataclass
class CaseResult:
    case: Case
    forwarder: Side = field(default_factory=Side)
    gateway: Side = field(default_factory=Side)
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.forwarder.error or self.gateway.error)

    @property
    def ratio(self) -> float | None:
        """Median over the round pairs of gateway rps / forwarder rps.

        Each pair ran back to back, so a pair's ratio compares like with like;
        the median keeps one disturbed pair from moving the figure (on a VM,
        rounds vary by 10-20% even with nothing visible running)."""
        rr = self.round_ratios
        if not rr or self.failed:
            return None
        return statistics.median(rr)

    @property
    def ratio_total(self) -> float | None:
        """Total gateway rps / total forwarder rps (all kept rounds)."""
        f, g = self.forwarder.result, self.gateway.result
        if f is None or g is None or f.rps <= 0 or self.failed:
            return None
        return g.rps / f.rps

    @property
    def round_ratios(self) -> list[float]:
        pairs = zip(self.forwarder.rounds, self.gateway.rounds, strict=False)
        return [g.rps / f.rps for f, g in pairs if f.rps > 0]

    @property
    def noise_pct(self) -> float:
        """Worst share of the server core taken by other processes."""
        return max(self.forwarder.noise_pct + self.gateway.noise_pct, default=0.0)


def smoke(target: Target, case: Case) -> tuple[str | None, str | None]:
    """One request before the load: (error, problem). error = it did not
    answer 2xx (then the load is skipped); problem = wrong content."""
    try:
        ans = asyncio.run(client.fetch(target.endpoint(case)))
    except Exception as exc:  # noqa: BLE001 - any failure is reported verbatim
        return f"request failed: {exc!r}", None
    if not 200 <= ans.status < 300:
        body = ans.body[:800].decode(errors="replace")
        return f"HTTP {ans.status} ({ans.content_type}): {body}", None
    return None, target.check(case, ans)


@dataclass(frozen=True)
class LoadPlan:
    seconds: int  # per target per case, split over the rounds
    rounds: int
    warmup: int  # seconds of wrk per target before the rounds
    load_cpu: int | None  # where wrk runs
    server_cpu: int | None  # where the targets run (for the noise probe)
    workdir: Path
    mock_port: int = 0
    server_pids: tuple[int, ...] = ()  # everything we run on server_cpu
    load_pids: tuple[int, ...] = ()  # long-lived processes on load_cpu (the mock)
    max_noise_pct: float = 10.0  # redo a round pair when others took more
    # Right after the gateway's smoke request, ask the mock which credentials
    # it got (before the forwarder, which relays the client's own
    # Authorization, sends anything else). Off in --self-test.
    check_auth: bool = True


def measure_case(case: Case, fwd: Target, gw: Target, plan: LoadPlan) -> CaseResult:
    """Smoke-check both targets, warm them up, then alternate short wrk
    rounds between them (F G, G F, F G...) so that anything else happening
    on the machine hits both sides alike instead of whichever ran second."""
    res = CaseResult(case)
    sides = {fwd.name: res.forwarder, gw.name: res.gateway}
    scripts: dict[str, Path] = {}
    problems: dict[str, str] = {}
    for t in (fwd, gw):
        side = sides[t.name]
        if not t.proc.alive():
            side.error = f"{t.name} is not running (exit {t.proc.popen.returncode})"
            continue
        error, problem = smoke(t, case)
        if error:
            side.error = error
            continue
        if problem:
            problems[t.name] = problem
        if t is gw and plan.check_auth:
            note = check_upstream_auth(plan.mock_port, case.upstream)
            if note:
                res.notes.append(note)
        scripts[t.name] = write_script(
            plan.workdir / f"{case.key}-{t.name}.lua",
            case.body(),
            HEADERS,
        )
    active = [t for t in (fwd, gw) if t.name in scripts]
    for t in active:
        if plan.warmup > 0:
            run_wrk(t.url(case), scripts[t.name], case.connections, plan.warmup, plan.load_cpu)
    # wrk takes whole seconds only.
    slice_s = max(1, round(plan.seconds / plan.rounds))
    # A round pair during which something else used the server core (other
    # builds/tests on a shared machine) is redone, within a bounded budget.
    max_attempts = plan.rounds * 2
    kept = attempts = 0
    while kept < plan.rounds and attempts < max_attempts:
        order = active if attempts % 2 == 0 else active[::-1]
        attempts += 1
        pair = []
        for t in order:
            if t.proc.alive():
                conns0 = mock_connections(plan.mock_port)
                pair.append((t, *_round(t, case, scripts[t.name], slice_s, plan)))
                # -1: the stats request itself came on a new connection
                sides[t.name].upstream_conns += mock_connections(plan.mock_port) - conns0 - 1
        noisy = any(noise > plan.max_noise_pct for _, _, noise in pair)
        if noisy and max_attempts - attempts >= plan.rounds - kept:
            for t, wrk, _ in pair:
                sides[t.name].discarded.append(wrk)
            continue
        for t, wrk, noise in pair:
            sides[t.name].rounds.append(wrk)
            sides[t.name].noise_pct.append(noise)
        kept += 1
    for t in active:
        _judge(t, case, sides[t.name], problems.get(t.name))
    _note_connections(res)
    return res


def _note_connections(res: CaseResult) -> None:
    """Flag a gateway that opens far more upstream connections than the
    forwarder (no keep-alive / pool too small): a common cause of low ratios."""
    f, g = res.forwarder, res.gateway
    g_reqs = sum(r.requests for r in g.rounds + g.discarded)
    if g_reqs and g.upstream_conns > max(2 * f.upstream_conns, res.case.connections * 4):
        res.notes.append(
            f"gateway opened {g.upstream_conns} upstream connections for {g_reqs} requests "
            f"(forwarder: {f.upstream_conns}); is upstream keep-alive working?"
        )


def _round(t: Target, case: Case, script: Path, seconds: int, plan: LoadPlan) -> tuple[WrkResult, float]:
    """One wrk run against t, and the share of t's core others used meanwhile."""
    probe = None
    if plan.server_cpu is not None:
        probe = NoiseProbe(plan.server_cpu, plan.server_pids, plan.load_cpu, plan.load_pids)
    if probe:
        probe.start()
    res = run_wrk(t.url(case), script, case.connections, seconds, plan.load_cpu)
    return res, probe.stop() if probe else 0.0


def mock_connections(mock_port: int) -> int:
    stats = asyncio.run(client.get_json(f"http://{HOST}:{mock_port}/_bench/stats"))
    assert isinstance(stats, dict)
    return int(stats["connections"])


def _judge(t: Target, case: Case, side: Side, problem: str | None) -> None:
    """Turn errors seen during the load into the side's failure reason."""
    everything = side.rounds + side.discarded  # errors count even in redone rounds
    non_2xx = sum(r.non_2xx for r in everything)
    sock: dict[str, int] = {}
    for r in everything:
        for k, v in r.socket_errors.items():
            sock[k] = sock.get(k, 0) + v
    errs = []
    if non_2xx:
        errs.append(f"{non_2xx} non-2xx responses")
    if sock:
        errs.append(f"socket errors {sock}")
    if not t.proc.alive():
        errs.append(f"{t.name} died (exit {t.proc.popen.returncode}); log tail:\n{t.proc.log_tail()}")
    if problem:
        errs.append(f"wrong answer: {problem}")
    if non_2xx and t.proc.alive():
        e2, _ = smoke(t, case)  # show what such an answer looks like
        if e2:
            errs.append(f"e.g. {e2}")
    if errs:
        side.error = "; ".join(errs)


def check_upstream_auth(mock_port: int, upstream: Upstream) -> str | None:
    """After a gateway request, did the mock see the gateway's upstream key?"""
    stats = asyncio.run(client.get_json(f"http://{HOST}:{mock_port}/_bench/stats"))
    assert isinstance(stats, dict)
    seen = stats[upstream]["last_headers"]
    if upstream == "openai":
        if seen.get("Authorization") != "Bearer sk-upstream-bench":
            return f"upstream got Authorization={seen.get('Authorization')!r}"
    elif upstream == "gemini":
        if seen.get("x-goog-api-key") != "gm-bench" or "Authorization" in seen:
            return f"upstream got x-goog-api-key={seen.get('x-goog-api-key')!r}"
    else:
        if seen.get("x-api-key") != "sk-ant-bench":
            return f"upstream got x-api-key={seen.get('x-api-key')!r}"
        if "anthropic-version" not in seen:
            return "upstream got no anthropic-version header"
    return None


def set_mock(mock_port: int, **cfg: object) -> None:
    asyncio.run(client.post_json(f"http://{HOST}:{mock_port}/_bench/config", dict(cfg)))


@dataclass
class TtfbRow:
    label: str
    delay_ms: float
    result: client.TtfbResult | None = None
    error: str | None = None


def measure_ttfb(fwd: Target, gw: Target, mock_port: int, n: int) -> list[TtfbRow]:
    """Added time to first stream bytes, with the mock pacing its events
    (TTFB_DELAY_MS apart: the gateway must not wait for more than the first
    event) and unpaced (whole stream in one write: the gateway's cost of
    handling a big first read)."""
    rows: list[TtfbRow] = []
    kinds: tuple[tuple[Upstream, str, str], ...] = (
        ("openai", "openai passthrough", "chat"),
        ("anthropic", "anthropic->openai", "chat"),
        ("gemini", "gemini->openai", "chat"),
        ("openai", "responses->openai-compatible", "responses"),
    )
    for delay, events in ((TTFB_DELAY_MS, TTFB_EVENTS), (0.0, EVENTS)):
        set_mock(mock_port, delay_ms=delay, events=events)
        try:
            for upstream, label, kind in kinds:
                case = Case("ttfb", label, upstream, True, 1, client=kind)
                row = TtfbRow(label, delay)
                try:
                    row.result = asyncio.run(client.ttfb_pair(fwd.endpoint(case), gw.endpoint(case), n))
                except Exception as exc:  # noqa: BLE001 - reported, not raised
                    row.error = repr(exc)
                rows.append(row)
        finally:
            set_mock(mock_port, delay_ms=0.0, events=EVENTS)
    return rows
