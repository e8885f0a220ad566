"""The cores' handoff latency over a run, and the rows read by it.

The harness probes it before and after every job (bench/handoff.c: one cache
line passed between CPUs 0 and 1).  On a virtual machine the host places the
virtual CPUs, and where it puts them sets what every cross-core handoff
costs: on the machine these benchmarks grew on it switches between ~30 ns
and ~170 ns for seconds at a time (bench/NOTES.md).  A job whose two probes
both read over SLOWER times the run's fastest ran in the slow state; one
whose probes disagree is "mixed" and left out of both columns."""
from __future__ import annotations

import statistics

from .registry import BY_KEY, TRANSPORTS

SLOWER = 2.0
STATES = ("fast", "slow")


def probes(results: list[dict]) -> list[float]:
    return [x for r in results for x in (r.get("handoff_ns") or ()) if x is not None]


def state(job: dict, fastest: float | None) -> str | None:
    """A job's state by its probes (its result entry or its metrics, either
    with "handoff_ns"): "fast", "slow", "mixed", or None if not probed."""
    pair = job.get("handoff_ns") or ()
    if fastest is None or len(pair) != 2 or None in pair:
        return None
    slow = [x > SLOWER * fastest for x in pair]
    return "slow" if all(slow) else "mixed" if any(slow) else "fast"


def machine_line(results: list[dict]) -> str:
    ns = probes(results)
    what = "* the cores' handoff (a cache line between CPUs 0 and 1, probed before and after each job): "
    if not ns:
        return what + "not measured (fewer than two usable CPUs, or no C compiler)"
    fastest = min(ns)
    states = [s for r in results if (s := state(r, fastest)) is not None]  # probed before and after
    return (what + f"fastest {fastest:.0f} ns, median {statistics.median(ns):.0f}, slowest {max(ns):.0f}; "
            f"{states.count('slow')} of {len(states)} jobs ran with both probes over {SLOWER:g}× "
            "the fastest")


def table(g: dict, cell_key, metric: str, unit: str, base: str, fastest: float | None,
          latency: bool = False) -> list[str]:
    """One workload's rows (g's cells (key, *cell_key)) split by the state
    of the cores' handoff, each ratio to @base's runs in the same state
    (@latency: @metric is a time, the ratio @base's ÷ the row's)."""
    def by_state(key: str) -> dict[str, list[float]]:
        cell = g.get((key, *cell_key), {"ok": []})
        out: dict[str, list[float]] = {"fast": [], "slow": [], "mixed": []}
        for m in cell["ok"]:
            s = state(m, fastest)
            if s and metric in m:
                out[s].append(m[metric])
        return out

    def med(vals: list[float]) -> float | None:
        return statistics.median(vals) if vals else None

    base_runs = by_state(base)
    ratio = "os.pipe ÷ {}" if latency else "÷ os.pipe ({})"
    fmt = "{:,.1f}" if latency else "{:,.0f}"
    rows = [f"| transport | fast: {unit} | {ratio.format('fast')} | slow: {unit} | {ratio.format('slow')} "
            "| runs fast / slow / mixed |", "|---|---:|---:|---:|---:|---|"]
    present = {k[0] for k in g if k[1:] == tuple(cell_key)}
    for key in [t.key for t in TRANSPORTS if t.key in present]:
        runs = by_state(key)
        if not any(runs.values()):  # not run, or not this workload's
            continue
        cols = []
        for s in STATES:
            x, b = med(runs[s]), med(base_runs[s])
            r = None if x is None or not b or not x else (b / x if latency else x / b)
            cols += ["–" if x is None else fmt.format(x), "–" if r is None else f"{r:.2f}×"]
        rows.append(f"| {BY_KEY[key].label} | {' | '.join(cols)} | "
                    f"{len(runs['fast'])} / {len(runs['slow'])} / {len(runs['mixed'])} |")
    return rows
