"""bench/results.md and bench/latency.png from the outcomes of one run."""
from __future__ import annotations

import os
import statistics
from collections import defaultdict

from . import handoff
from .registry import BY_KEY, TRANSPORTS

BASE = "pipe"  # every ratio is to os.pipe measured in the same run
CORE, NOSPIN = "core", "core-nospin"
IUCV, IUCV_NOSPIN, IUCV_SIGPAUSE = "iucv-wait", "iucv-nospin", "iucv-sigpause"
IUCV_FROM_C = "c-iucv"  # the same one-way stream through the core alone
# the harness's "placement" workload: the 64 B stream with the two ends
# pinned, each placement its own cell
PLACED, PLACED_SIZE = "placement", 64
PLACES = {"split": "two cores (split)", "same": "one core (same)"}


def _group(results: list[dict]) -> dict:
    """(key, workload, size, idle) -> {"ok": [metrics...], "errors": [...], "not_run": why}.
    For the "paths" workload the fourth element is the number of open paths,
    for "placement" the pinning ("split", "same")."""
    g: dict = defaultdict(lambda: {"ok": [], "errors": [], "not_run": None})
    for r in results:
        fourth = {"paths": r.get("open_paths", 1), PLACED: r.get("pin")}.get(r["workload"],
                                                                             r.get("idle_vms", 0))
        cell = g[(r["key"], r["workload"], r["size"], fourth)]
        if r["status"] == "ok":  # with the cores' handoff around the job
            cell["ok"].append(dict(r["metrics"], handoff_ns=r.get("handoff_ns")))
        elif r["status"] == "not run":
            cell["not_run"] = r["error"]
        else:
            cell["errors"].append(r["error"])
    return g


def _med(cell: dict, metric: str) -> float | None:
    vals = [m[metric] for m in cell["ok"] if metric in m]
    return statistics.median(vals) if vals else None


def _spread(cell: dict, metric: str) -> str:
    vals = [m[metric] for m in cell["ok"] if metric in m]
    return f"{min(vals):.1f}–{max(vals):.1f}" if len(vals) > 1 else ""


def _note(cell: dict) -> str:
    if cell["not_run"]:
        return cell["not_run"]
    if cell["errors"]:
        n = len(cell["errors"]) + len(cell["ok"])
        return f"FAILED {len(cell['errors'])} of {n} runs: {cell['errors'][0]}"
    notes = {p for m in cell["ok"] for p in m.get("problems", ())}
    if any(not m.get("complete", True) for m in cell["ok"]):
        notes.add("hit the time limit before the full count")
    return "; ".join(sorted(notes))


def _f(x: float | None, fmt: str = "{:.1f}") -> str:
    return "–" if x is None else fmt.format(x)


def _ratio(x: float | None, base: float | None, invert: bool = False) -> str:
    if x is None or not base:
        return "–"
    return f"{(base / x if invert else x / base):.2f}×"


def _keys(g: dict, workload: str) -> list[str]:
    present = {k[0] for k in g if k[1] == workload}
    return [t.key for t in TRANSPORTS if t.key in present]


def _rtt_table(g: dict, size: int, workload: str = "rtt", idle: int = 0) -> list[str]:
    base = _med(g.get((BASE, workload, size, idle), {"ok": []}), "p50")
    rows = [f"| transport | p50 µs | p99 µs | p99.9 µs | p50 range | runs | os.pipe p50 ÷ p50 | note |",
            "|---|---:|---:|---:|---:|---:|---:|---|"]
    for key in _keys(g, workload):
        cell = g.get((key, workload, size, idle))
        if cell is None:
            continue
        p50 = _med(cell, "p50")
        rows.append(f"| {BY_KEY[key].label} | {_f(p50)} | {_f(_med(cell, 'p99'))} | {_f(_med(cell, 'p999'))} "
                    f"| {_spread(cell, 'p50')} | {len(cell['ok'])} | {_ratio(p50, base, invert=True)} "
                    f"| {_note(cell)} |")
    return rows


def _order_note(cell: dict) -> str:
    lost = sum(m["lost"] for m in cell["ok"])
    reord = sum(m["reordered"] for m in cell["ok"])
    if not cell["ok"]:
        return ""
    if lost or reord:
        return f"**LOST {lost}, REORDERED {reord}**"
    return "in order, none lost"


def _stream_table(g: dict, size: int) -> list[str]:
    base = _med(g.get((BASE, "stream", size, 0), {"ok": []}), "msgs_per_s")
    rows = ["| transport | msgs/s | MB/s | msgs/s range | runs | ÷ os.pipe | sequence check | note |",
            "|---|---:|---:|---:|---:|---:|---|---|"]
    for key in _keys(g, "stream"):
        cell = g.get((key, "stream", size, 0))
        if cell is None:
            continue
        mps = _med(cell, "msgs_per_s")
        vals = [m["msgs_per_s"] for m in cell["ok"]]
        rng = f"{min(vals):,.0f}–{max(vals):,.0f}" if len(vals) > 1 else ""
        rows.append(f"| {BY_KEY[key].label} | {_f(mps, '{:,.0f}')} | {_f(_med(cell, 'mb_per_s'))} | {rng} "
                    f"| {len(cell['ok'])} | {_ratio(mps, base)} | {_order_note(cell)} | {_note(cell)} |")
    return rows


def _placement_table(g: dict) -> list[str]:
    """The 64 B stream per fixed placement, each ratio to os.pipe in that
    placement, beside the unpinned row's ratio."""
    pins = [p for p in PLACES if any(k[1] == PLACED and k[3] == p for k in g)]
    base = {p: _med(g.get((BASE, PLACED, PLACED_SIZE, p), {"ok": []}), "msgs_per_s") for p in pins}
    free_base = _med(g.get((BASE, "stream", PLACED_SIZE, 0), {"ok": []}), "msgs_per_s")
    head = "".join(f" {PLACES[p]}: msgs/s | ÷ os.pipe ({p}) |" for p in pins)
    rows = [f"| transport |{head} scheduler's choice: ÷ os.pipe | runs ({' / '.join(pins)}) | sequence check | note |",
            "|---|" + "---:|---:|" * len(pins) + "---:|---:|---|---|"]
    for key in _keys(g, PLACED):
        cols, runs, notes, ok = [], [], [], []
        for p in pins:
            cell = g.get((key, PLACED, PLACED_SIZE, p))
            if cell is None:
                cols += ["–", "–"]
                runs.append("0")
                notes.append(f"{p}: not measured in this run")
                continue
            mps = _med(cell, "msgs_per_s")
            cols += [_f(mps, "{:,.0f}"), _ratio(mps, base[p])]
            runs.append(str(len(cell["ok"])))
            ok += cell["ok"]
            if _note(cell):
                notes.append(f"{p}: {_note(cell)}")
        free = g.get((key, "stream", PLACED_SIZE, 0), {"ok": []})
        rows.append(f"| {BY_KEY[key].label} | {' | '.join(cols)} | {_ratio(_med(free, 'msgs_per_s'), free_base)} "
                    f"| {' / '.join(runs)} | {_order_note({'ok': ok})} | {'; '.join(notes)} |")
    return rows


def _fanin_table(g: dict) -> list[str]:
    cells = {k[0]: v for k, v in g.items() if k[1] == "fanin"}
    base = _med(cells.get(BASE, {"ok": []}), "rt_per_s")
    rows = ["| transport | round trips/s (all clients) | p50 µs | p99 µs | runs | ÷ os.pipe | note |",
            "|---|---:|---:|---:|---:|---:|---|"]
    for key in _keys(g, "fanin"):
        cell = cells[key]
        rps = _med(cell, "rt_per_s")
        rows.append(f"| {BY_KEY[key].label} | {_f(rps, '{:,.0f}')} | {_f(_med(cell, 'p50'))} "
                    f"| {_f(_med(cell, 'p99'))} | {len(cell['ok'])} | {_ratio(rps, base)} | {_note(cell)} |")
    return rows


def _scale_table(g: dict) -> list[str]:
    rows = ["| transport | idle VMs logged on | open paths | p50 µs | p99 µs | runs "
            "| p50 ÷ p50 with no idle VM, 1 path | note |",
            "|---|---:|---:|---:|---:|---:|---:|---|"]
    idles = sorted({k[3] for k in g if k[1] == "scale"})
    npaths = sorted({k[3] for k in g if k[1] == "paths"})
    for key in _keys(g, "scale"):
        t = BY_KEY[key]
        if t.kind != "shmcp" or "scale" not in t.workloads:
            continue
        has_paths = "paths" in t.workloads
        base = _med(g.get((key, "scale", 64, 0), {"ok": []}), "p50")
        for idle in idles:
            cell = g[(key, "scale", 64, idle)]
            p50 = _med(cell, "p50")
            rows.append(f"| {t.label} | {idle} | {1 if has_paths else '–'} | {_f(p50)} "
                        f"| {_f(_med(cell, 'p99'))} | {len(cell['ok'])} | {_ratio(p50, base)} | {_note(cell)} |")
        for paths in npaths if has_paths else ():
            cell = g.get((key, "paths", 64, paths))
            if cell is None:
                continue
            p50 = _med(cell, "p50")
            rows.append(f"| {t.label} | 0 | {paths} | {_f(p50)} | {_f(_med(cell, 'p99'))} | {len(cell['ok'])} "
                        f"| {_ratio(p50, base)} | {_note(cell)} |")
    return rows


def _targets(g: dict) -> list[str]:
    def med(key, workload, size, metric, idle=0):
        cell = g.get((key, workload, size, idle))
        return None if cell is None else _med(cell, metric)

    def verdict(ok: bool | None) -> str:
        return "–" if ok is None else ("met" if ok else "**missed**")

    def why_not(key, workload, size=64, idle=0) -> str:
        cell = g.get((key, workload, size, idle))
        if cell is None:
            return "not measured in this run"
        return _note(cell) or "not measured in this run"

    def shown(x, text):
        return text if x is not None else why_not(IUCV, "rtt")

    pipe50 = med(BASE, "rtt", 64, "p50")
    i50, i99 = med(IUCV, "rtt", 64, "p50"), med(IUCV, "rtt", 64, "p99")
    sp50 = med(IUCV_SIGPAUSE, "rtt", 64, "p50")
    ins50 = med(IUCV_NOSPIN, "rtt", 64, "p50")
    core50, core99 = med(CORE, "rtt", 64, "p50"), med(CORE, "rtt", 64, "p99")
    nospin50 = med(NOSPIN, "rtt", 64, "p50")
    sig50, csig50 = med("py-signal", "rtt", 64, "p50"), med("c-signal", "rtt", 64, "p50")
    rows = ["| target | IUCV measured (the target's subject) | IUCV verdict | shmcp core, for reference |",
            "|---|---|---|---|"]

    def add(name, measured, ok, core):
        rows.append(f"| {name} | {measured} | {verdict(ok)} | {core} |")

    add("64 B two-way round trip, default (handler-free wait, default spin): p50 ≤ 10 µs",
        shown(i50, f"p50 {_f(i50)} µs (SIGIUCV + sigpause: {_f(sp50)} µs)"),
        None if i50 is None else i50 <= 10, f"p50 {_f(core50)} µs")
    add("… and ≥ 10× faster than os.pipe (p50)",
        shown(i50, f"os.pipe {_f(pipe50)} µs ÷ IUCV {_f(i50)} µs = {_ratio(i50, pipe50, True)}"),
        None if None in (i50, pipe50) else pipe50 / i50 >= 10, _ratio(core50, pipe50, True))
    add("… p99 ≤ 50 µs", shown(i99, f"p99 {_f(i99)} µs"), None if i99 is None else i99 <= 50,
        f"p99 {_f(core99)} µs")
    add("no-spin mode (every wait sleeps): p50 ≤ 1.2× bare kill + sigtimedwait",
        shown(ins50, f"{_f(ins50)} µs vs Python {_f(sig50)} µs ({_ratio(ins50, sig50)}); "
                     f"vs C kill + sigwaitinfo {_f(csig50)} µs ({_ratio(ins50, csig50)})"),
        None if None in (ins50, sig50) else ins50 <= 1.2 * sig50,
        f"{_f(nospin50)} µs ({_ratio(nospin50, sig50)})")
    for size, need in ((64, 0.5), (4096, 1.0)):
        i = med(IUCV, "stream", size, "msgs_per_s")
        c, p = med(CORE, "stream", size, "msgs_per_s"), med(BASE, "stream", size, "msgs_per_s")
        fc = med(IUCV_FROM_C, "stream", size, "msgs_per_s")
        add(f"one-way {size} B: ≥ {need}× os.pipe msgs/s",
            f"{_f(i, '{:,.0f}')} vs {_f(p, '{:,.0f}')} msgs/s = {_ratio(i, p)}" if i is not None
            else why_not(IUCV, "stream", size),
            None if None in (i, p) else i >= need * p,
            f"{_f(c, '{:,.0f}')} = {_ratio(c, p)}; IUCV through the core from C, no Python: "
            f"{_f(fc, '{:,.0f}')} = {_ratio(fc, p)}")
    i = med(IUCV, "fanin", 64, "rt_per_s")
    c, p = med(CORE, "fanin", 64, "rt_per_s"), med(BASE, "fanin", 64, "rt_per_s")
    add("fan-in 8 → 1: ≥ 2× os.pipe round trips/s",
        f"{_f(i, '{:,.0f}')} vs {_f(p, '{:,.0f}')} = {_ratio(i, p)}" if i is not None
        else why_not(IUCV, "fanin"),
        None if None in (i, p) else i >= 2 * p, f"{_f(c, '{:,.0f}')} = {_ratio(c, p)}")
    idles = sorted({k[3] for k in g if k[1] == "scale"})
    top = idles[-1] if idles else None
    npaths = sorted({k[3] for k in g if k[1] == "paths"})
    topp = npaths[-1] if npaths else None
    b = med(IUCV, "scale", 64, "p50", 0)
    sv = med(IUCV, "scale", 64, "p50", top) if top else None
    sp = med(IUCV, "paths", 64, "p50", topp) if topp else None
    cb = med(CORE, "scale", 64, "p50", 0)
    cs = med(CORE, "scale", 64, "p50", top) if top else None
    parts, oks = [], []
    if sp is not None and b:
        parts.append(f"{topp} open paths: p50 {_f(sp)} vs {_f(b)} µs = {_ratio(sp, b)}")
        oks.append(sp <= 1.1 * b)
    if sv is not None and b:
        parts.append(f"{top} idle VMs: p50 {_f(sv)} vs {_f(b)} µs = {_ratio(sv, b)}")
        oks.append(sv <= 1.1 * b)
    short = [f"{n} {what}" for n, need, what in ((topp, 100, "paths"), (top, 32, "idle VMs"))
             if n is not None and n < need]
    if short and oks:  # a smaller configuration (e.g. --tiny) says less than the target asks
        parts.append(f"this run went only to {' and '.join(short)}")
    add("scaling: 100 idle paths and 32 idle VMs within 10 % of 1 path, 2 VMs",
        "; ".join(parts) or why_not(IUCV, "scale"), all(oks) if oks else None,
        f"{top} idle VMs: {_ratio(cs, cb)}")
    bad = runs = corrupt = rt_runs = 0
    for (key, workload, _size, _idle), cell in g.items():
        if BY_KEY[key].kind != "shmcp":
            continue
        if workload in ("stream", PLACED):
            runs += len(cell["ok"])
            bad += sum(m["lost"] + m["reordered"] for m in cell["ok"])
        else:
            rt_runs += len(cell["ok"])
            corrupt += sum(m.get("corrupt", 0) for m in cell["ok"])
    add("no message lost, reordered or corrupted in any shmcp run (IUCV, VMCF, core)",
        f"{runs} stream runs: {bad} lost or reordered; {rt_runs} round-trip runs: {corrupt} corrupt replies",
        None if not runs else bad == 0 and corrupt == 0, "(included on the left)")
    return rows


def _machine(facts: dict, results: list[dict]) -> list[str]:
    pk = ", ".join(f"{k} {v}" for k, v in facts["packages"].items())
    cfg = facts["config"]
    lines = [
        f"* date: {facts['date']}; commit {facts['commit']}; preset `{facts['preset']}`, "
        f"{facts['duration_s']} s in all",
        f"* cores: {facts['cores']} ({facts['cores_usable']} usable), {facts['cpu']}",
        f"* kernel {facts['kernel']}; Python {facts['python']}; {facts['cc']}",
        f"* packages: {pk}",
        f"* load average at start: {', '.join(f'{x:.2f}' for x in facts['loadavg_start'])}",
        f"* configuration: {cfg['repeats']} repeats; round trips: {cfg['n']} measured after {cfg['warmup']} "
        f"warm-up, sizes {cfg['sizes']}; streaming windows {cfg['window']} s, sizes {cfg['stream_sizes']}; "
        f"fan-in {cfg['clients']} clients for {cfg['fanin_window']} s; idle VMs {cfg['idle']}; "
        f"open IUCV paths {[1] + list(cfg.get('paths') or [])}; "
        f"large messages {cfg.get('big_sizes') or 'none'} (round trip and stream, "
        f"{cfg['n'] // cfg.get('big_fewer', 1)} round trips); "
        f"CPU pinning: {cfg.get('pin', 'none')} (none: the scheduler places the processes); "
        f"the {PLACED_SIZE} B stream also under fixed placements: {', '.join(cfg.get('placements') or []) or 'none'}",
    ]
    lines.append(handoff.machine_line(results))
    left = facts.get("leftovers") or []
    lines.append("* left in /dev/shm, /dev/mqueue after the run: " + ("; ".join(left) if left else "nothing"))
    return lines


def write(out: str, facts: dict, results: list[dict]) -> None:
    g = _group(results)
    plot_note = _plot(os.path.join(out, "latency.png"), g)
    md = ["# shmcp benchmarks", "",
          "Written by `make bench` (`python -m bench`). Every figure is a median over the repeats of this "
          "run; ratios are to os.pipe measured in the same run. Each measurement runs between separate "
          "processes (started with multiprocessing's spawn method). µs are microseconds per round trip.", "",
          "## Machine", "", *_machine(facts, results), "",
          "## Targets (issue 5)", "",
          "The targets are stated for IUCV and judged on its rows: the two-way SEND → RECEIVE → REPLY "
          "round trip with the handler-free `vm.wait()` and the default spin (`iucv-wait`), with the spin "
          "off for no-spin mode (`iucv-nospin`: every wait sleeps on the futex doorbell), one-way SEND (`IPNORPY`) for streaming.  The core's "
          "interrupt queue (`queue_interrupt` + `wait`), on which IUCV is built, is shown for reference.",
          "", *_targets(g), ""]
    sizes = sorted({k[2] for k in g if k[1] == "rtt"})
    md += ["## Round trip (request, reply)", ""]
    for size in sizes:
        md += [f"### {size} B", "", *_rtt_table(g, size), ""]
    ssizes = sorted({k[2] for k in g if k[1] == "stream"})
    if ssizes:
        md += ["## One-way streaming", "", "The receiver checks every sequence number.  IUCV rows: one-way "
               "SEND (`IPNORPY`, msglim 255, the sender taking the completions); VMCF rows: SEND (at most "
               "50 active).  Round trips elsewhere are IUCV two-way SEND → RECEIVE → REPLY and VMCF "
               "SEND/RECV → RECEIVE → REPLY; every echoed reply is compared with its request.", ""]
        for size in ssizes:
            md += [f"### {size} B", "", *_stream_table(g, size), ""]
    if any(k[1] == PLACED for k in g):
        md += [f"## One-way streaming by placement, {PLACED_SIZE} B", "",
               "A transport's rate differs a lot between its two ends on two cores and on one, so a ratio "
               "of two rows is like for like only when both ran under one placement.  Here the stream "
               "runs again with the receiver on "
               "CPU 0 and the sender on CPU 1 (split) or both on CPU 0 (same), each ratio to os.pipe in "
               "that placement; the last ratio is the unpinned row's above.", "",
               *_placement_table(g), ""]
    if any(k[1] == "fanin" for k in g):
        clients = next((m["clients"] for k, c in g.items() if k[1] == "fanin" for m in c["ok"]), "?")
        md += [f"## Fan-in: {clients} clients → 1 server, 64 B", "", *_fanin_table(g), ""]
    fastest = min(handoff.probes(results), default=None)
    if fastest is not None and any(k[1] in ("rtt", "stream", "fanin") for k in g):
        md += ["## Round trips, streaming and fan-in by the cores' handoff", "",
               "The host places this machine's CPUs, and where it puts them sets what a cache line "
               "costs to pass between them (probed before and after each job; the Machine section "
               "has the figures).  A run whose two probes both read over "
               f"{handoff.SLOWER:g}× the run's fastest ran in the slow state; each ratio is to os.pipe's "
               "runs in the same state.", ""]
        for size in sorted({k[2] for k in g if k[1] == "rtt"}):
            md += [f"### Round trip, {size} B", "",
                   *handoff.table(g, ("rtt", size, 0), "p50", "p50 µs", BASE, fastest, latency=True), ""]
        for size in sorted({k[2] for k in g if k[1] == "stream"}):
            md += [f"### One-way streaming, {size} B", "",
                   *handoff.table(g, ("stream", size, 0), "msgs_per_s", "msgs/s", BASE, fastest), ""]
        if any(k[1] == "fanin" for k in g):
            md += ["### Fan-in", "", *handoff.table(g, ("fanin", 64, 0), "rt_per_s", "round trips/s", BASE,
                                                     fastest), ""]
    if any(k[1] == "scale" for k in g):
        md += ["## Scaling: 64 B round trip with idle VMs and open paths", "",
               "Idle VMs are logged on (in addition to the two that talk) and do nothing (for IUCV they "
               "have declared their buffer).  Open paths: the IUCV client holds that many paths to the "
               "server in all, one carrying the round trips and the rest idle (the system is IPLed with "
               "a directory raising maxconn when more than 64 are needed).", "",
               *_scale_table(g), ""]
    md += ["## Plot", "", plot_note, ""]
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("\n".join(md))


def _plot(path: str, g: dict) -> str:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as exc:  # noqa: BLE001 -- reported in results.md
        return f"latency.png not written: matplotlib is not available ({exc})."
    fig, axes = plt.subplots(2, 2, figsize=(15, 11))
    # 1: 64 B round trip, p50 and p99 per transport
    ax = axes[0][0]
    keys = [k for k in _keys(g, "rtt") if g.get((k, "rtt", 64, 0), {"ok": []})["ok"]]
    keys.sort(key=lambda k: _med(g[(k, "rtt", 64, 0)], "p50"))
    labels = [BY_KEY[k].label for k in keys]
    p50 = [_med(g[(k, "rtt", 64, 0)], "p50") for k in keys]
    p99 = [_med(g[(k, "rtt", 64, 0)], "p99") for k in keys]
    ys = range(len(keys))
    colors = ["tab:red" if BY_KEY[k].kind == "shmcp" else "tab:gray" if BY_KEY[k].kind == "floor"
              else "tab:blue" for k in keys]
    ax.barh([y + 0.2 for y in ys], p99, height=0.4, color=colors, alpha=0.35, label="p99")
    ax.barh([y - 0.2 for y in ys], p50, height=0.4, color=colors, label="p50")
    ax.set_yticks(list(ys), labels, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("round trip, µs (log)")
    ax.set_title("64 B round trip: p50 (solid), p99 (light); red = shmcp, gray = C floors")
    ax.invert_yaxis()
    # 2: p50 against payload size
    ax = axes[0][1]
    for k in _keys(g, "rtt"):
        pts = [(s, _med(c, "p50")) for (kk, w, s, _i), c in sorted(g.items()) if kk == k and w == "rtt" and c["ok"]]
        if len(pts) > 1:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o",
                    lw=2.5 if BY_KEY[k].kind == "shmcp" else 1, label=BY_KEY[k].label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("payload, bytes")
    ax.set_ylabel("p50 round trip, µs")
    ax.set_title("round trip p50 by payload size")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6)
    # 3: streaming
    ax = axes[1][0]
    ssizes = sorted({k[2] for k in g if k[1] == "stream"})
    keys = [k for k in _keys(g, "stream") if any(g.get((k, "stream", s, 0), {"ok": []})["ok"] for s in ssizes)]
    width = 0.8 / max(1, len(ssizes))
    for i, size in enumerate(ssizes):
        vals = [_med(g.get((k, "stream", size, 0), {"ok": []}), "msgs_per_s") or 0 for k in keys]
        ax.barh([y + i * width for y in range(len(keys))], vals, height=width, label=f"{size} B")
    ax.set_yticks([y + width * (len(ssizes) - 1) / 2 for y in range(len(keys))],
                  [BY_KEY[k].label for k in keys], fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("messages/s (log)")
    ax.set_title("one-way streaming")
    ax.invert_yaxis()
    ax.legend(fontsize=8)
    # 4: fan-in
    ax = axes[1][1]
    keys = [k for k in _keys(g, "fanin") if g[(k, "fanin", 64, 0)]["ok"]]
    vals = [_med(g[(k, "fanin", 64, 0)], "rt_per_s") for k in keys]
    ax.barh(range(len(keys)), vals, color=["tab:red" if BY_KEY[k].kind == "shmcp" else "tab:blue" for k in keys])
    ax.set_yticks(list(range(len(keys))), [BY_KEY[k].label for k in keys], fontsize=8)
    ax.set_xlabel("aggregate round trips/s")
    ax.set_title("fan-in to one server, 64 B")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return "![latency](latency.png)"
