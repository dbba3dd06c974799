"""The printed table, the target checks and the JSON document."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cases import CaseResult, TtfbRow
from wrk_driver import WrkResult


@dataclass
class Run:
    """Everything a bench run produced."""

    results: list[CaseResult]
    ttfb: list[TtfbRow]
    ready_s: float | None
    rss_mb: float | None
    mock_direct: dict[str, WrkResult]
    self_test: bool
    meta: dict[str, Any]


@dataclass(frozen=True)
class Check:
    name: str
    met: bool
    value: str


def fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _cols(r: WrkResult | None, width: int) -> str:
    """rps, p50, p99 columns of one side of the table."""
    if r is None:
        return f"{'-':>{width}} {'-':>7} {'-':>7}"
    return f"{r.rps:>{width},.0f} {r.p50_ms:>7.2f} {r.p99_ms:>7.2f}"


def _ratio_cell(r: CaseResult) -> str:
    if r.failed or r.ratio is None:
        return "FAIL"
    rr = r.round_ratios
    spread = f"{min(rr):.0%}-{max(rr):.0%}" if len(rr) > 1 else ""
    return f"{r.ratio:6.1%} {spread:>9}"


def print_report(run: Run, checks: list[Check]) -> None:
    gw_name = "gateway (self-test: 2nd forwarder)" if run.self_test else "gateway"
    print()
    print(
        f"event loop of forwarder and mock: {run.meta.get('event_loop')} "
        "(the gateway uses uvloop when installed, so they match)"
    )
    if run.mock_direct:
        parts = [f"{k} {v.rps:,.0f} req/s" for k, v in run.mock_direct.items()]
        print("mock upstream alone, c=32 (shares its core with wrk): " + ", ".join(parts))
    hdr = (
        f"{'case':34} | {'forwarder rps':>13} {'p50 ms':>7} {'p99 ms':>7} "
        f"| {'gateway rps':>11} {'p50 ms':>7} {'p99 ms':>7} "
        f"| {'ratio':>6} {'(rounds)':>9} | noise redo"
    )
    print(hdr)
    print("-" * len(hdr))
    for r in run.results:
        f, g = r.forwarder.result, r.gateway.result
        print(
            f"{r.case.label:34} | {_cols(f, 13)} | {_cols(g, 11)} | {_ratio_cell(r):16} "
            f"| {r.noise_pct:4.0f}% {len(r.gateway.discarded) or '':>4}"
        )
    for r in run.results:
        for name, side in (("forwarder", r.forwarder), (gw_name, r.gateway)):
            if side.error:
                print(f"  FAIL {r.case.label} [{name}]: {side.error}")
        for n in r.notes:
            print(f"  note {r.case.label}: {n}")
    noisy = float(run.meta.get("max_noise_pct", 10.0))
    if any(r.noise_pct > noisy for r in run.results):
        print(
            f"  warning: other processes took more than {noisy:.0f}% of the server core "
            "during some kept rounds (column 'noise': worst round; 'redo': noisy round "
            "pairs measured again); ratios there are less reliable"
        )
    print()
    print(f"{gw_name}: ready in {fmt(run.ready_s, '.3f')} s, RSS after load {fmt(run.rss_mb, '.1f')} MB")
    if run.ttfb:
        print()
        print(
            f"{'TTFB, c=1, sequential (medians)':34} | {'delay':>6} | {'forwarder':>9} "
            f"| {'gateway':>9} | {'added':>8}"
        )
        for t in run.ttfb:
            if t.result is None:
                print(f"{t.label:34} | {t.delay_ms:>3.0f} ms | FAIL: {t.error}")
                continue
            res = t.result
            print(
                f"{t.label:34} | {t.delay_ms:>3.0f} ms | {res.forwarder_ms:>6.2f} ms "
                f"| {res.gateway_ms:>6.2f} ms | {res.added_ms:>+5.2f} ms"
            )
    print()
    print("targets:")
    for c in checks:
        print(f"  [{'met' if c.met else 'NOT met':>7}] {c.name}: {c.value}")


def evaluate(run: Run) -> list[Check]:
    by_key = {r.case.key: r for r in run.results}
    out: list[Check] = []

    def ratio_target(key: str, floor: float) -> None:
        r = by_key.get(key)
        ratio = r.ratio if r else None
        label = r.case.label if r else key
        value = "not measured" if r is None else "failed" if ratio is None else f"{ratio:.1%}"
        met = ratio is not None and ratio >= floor
        out.append(Check(f"{label} >= {floor:.0%} of forwarder", met, value))

    ratio_target("openai-nonstream-c32", 0.50)
    ratio_target("openai-stream-c32", 0.50)
    ratio_target("anthropic-nonstream-c32", 0.40)
    ratio_target("anthropic-stream-c32", 0.40)
    ratio_target("responses-compat-stream-c32", 0.45)
    ratio_target("gemini-stream-c32", 0.45)
    for t in run.ttfb:
        added = t.result.added_ms if t.result else None
        out.append(
            Check(
                f"added TTFB < 1 ms ({t.label}, {t.delay_ms:.0f} ms between events)",
                added is not None and added < 1.0,
                "failed" if added is None else f"{added:+.2f} ms",
            )
        )
    rss = run.rss_mb
    out.append(Check("RSS after load < 120 MB", rss is not None and rss < 120, f"{fmt(rss, '.1f')} MB"))
    ready = run.ready_s
    out.append(Check("ready < 1.5 s", ready is not None and ready < 1.5, f"{fmt(ready, '.3f')} s"))
    return out


def to_json(run: Run, checks: list[Check]) -> dict[str, Any]:
    return {
        "meta": run.meta,
        "ready_s": run.ready_s,
        "rss_mb": run.rss_mb,
        "mock_direct_rps": {k: v.rps for k, v in run.mock_direct.items()},
        "cases": [
            {
                "key": r.case.key,
                "label": r.case.label,
                "connections": r.case.connections,
                "stream": r.case.stream,
                "upstream": r.case.upstream,
                "ratio": r.ratio,
                "ratio_total": r.ratio_total,
                "round_ratios": r.round_ratios,
                "noise_pct": r.noise_pct,
                "failed": r.failed,
                "notes": r.notes,
                **{
                    name: {
                        "result": side.result.to_json() if side.result else None,
                        "rounds": [x.to_json() for x in side.rounds],
                        "noise_pct": side.noise_pct,
                        "discarded_rounds": len(side.discarded),
                        "upstream_connections": side.upstream_conns,
                        "error": side.error,
                    }
                    for name, side in (("forwarder", r.forwarder), ("gateway", r.gateway))
                },
            }
            for r in run.results
        ],
        "ttfb": [
            {
                "label": t.label,
                "delay_ms": t.delay_ms,
                "forwarder_ms": t.result.forwarder_ms if t.result else None,
                "gateway_ms": t.result.gateway_ms if t.result else None,
                "added_ms": t.result.added_ms if t.result else None,
                "samples": t.result.samples if t.result else 0,
                "error": t.error,
            }
            for t in run.ttfb
        ],
        "targets": [{"target": c.name, "met": c.met, "value": c.value} for c in checks],
    }
