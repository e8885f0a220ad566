"""`make bench`: every workload on every transport, side by side in one run.

    python -m bench [--quick | --tiny] [--out DIR] [--only KEY,...] [...]

Each measurement runs in its own worker process (bench/worker.py) with a
time limit; repeats are interleaved (repeat 1 of every transport, then
repeat 2 ...) so the noise of a shared machine falls on all of them alike.
With the stream workload and --pin none, the 64 B stream also runs with the
two ends on two cores and on one (--placements), so that two rows' ratio
can be read under one placement.  Every job is framed by two probes of the
cores' handoff latency (bench/handoff.c), which the host's placement of the
virtual CPUs sets and every cross-core row follows (bench/handoff.py).
Raw outcomes go to OUT/results.json, the report to OUT/results.md and the
plot to OUT/latency.png (bench/report.py)."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import machine, report
from .options import (MAX_CLIENTS, MAX_IDLE, MAX_PATHS, MIN_SIZE, count, counts, keys,
                      seconds)
from .registry import BY_KEY, TRANSPORTS, unsupported

HERE = Path(__file__).resolve().parent

PRESETS = {
    #            repeats  rtt n  warmup  sizes                  stream sizes  window  fan-in clients, window  idle VMs
    "full":  dict(repeats=3, n=20000, warmup=2000, sizes=[8, 64, 4096, 65536], stream_sizes=[64, 4096],
                  window=1.0, clients=8, fanin_window=2.0, idle=[0, 8, 32], paths=[10, 100], max_s=30.0,
                  big_sizes=[1048576], placements=["split", "same"]),
    "quick": dict(repeats=3, n=5000, warmup=500, sizes=[8, 64, 4096, 65536], stream_sizes=[64, 4096],
                  window=0.3, clients=8, fanin_window=0.5, idle=[0, 8, 32], paths=[10, 100], max_s=10.0,
                  big_sizes=[1048576], placements=["split", "same"]),
    "tiny":  dict(repeats=1, n=300, warmup=30, sizes=[64], stream_sizes=[64],
                  window=0.1, clients=2, fanin_window=0.1, idle=[0, 2], paths=[10], max_s=5.0,
                  big_sizes=[], placements=[]),
}
# Round trips of a large message take ~100x a small one's: they run
# BIG_FEWER times fewer (round trip and warm-up), and only on the transports
# the registry marks big (IUCV and its peers os.pipe and socketpair).
BIG = 1 << 20
BIG_FEWER = 20


WORKLOADS = ("rtt", "stream", "fanin", "scale", "paths")
# With the stream workload, the 64 B stream once more under each fixed
# placement (a two-process run lands on two cores or on one, repeat by
# repeat, and a transport's rate differs between them): the "placement"
# workload, run as a stream, its rows apart from the scheduler's.
PLACEMENT, PLACEMENT_SIZE = report.PLACED, report.PLACED_SIZE
PLACEMENTS = tuple(report.PLACES)   # split, same: as --pin takes them


def runs_as(workload: str) -> str:
    """The workload a job runs: a placement job is a stream."""
    return "stream" if workload == PLACEMENT else workload


def placements(args: argparse.Namespace) -> list[str]:
    """The fixed placements the stream is measured under besides the
    scheduler's: none unless the stream runs and --pin is left at none
    (with everything pinned, the rows would repeat the stream's)."""
    if "stream" not in (args.workloads or WORKLOADS) or args.pin != "none":
        return []
    return list(args.placements)


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_const", dest="preset", const="quick",
                      help="fewer round trips, shorter windows (a few minutes)")
    mode.add_argument("--tiny", action="store_const", dest="preset", const="tiny",
                      help="seconds: proves the harness works (make test); figures mean nothing")
    ap.add_argument("--out", default=str(HERE), help="where results.md, latency.png, results.json go")
    ap.add_argument("--only", type=keys(BY_KEY, "transport"),
                    help="comma-separated transport keys: " + ",".join(BY_KEY))
    ap.add_argument("--workloads", type=keys(WORKLOADS, "workload"),
                    help="comma-separated: " + ",".join(WORKLOADS))
    ap.add_argument("--repeats", type=count(1))
    ap.add_argument("--n", type=count(1), help="measured round trips per run (after warm-up)")
    ap.add_argument("--warmup", type=count(0))
    ap.add_argument("--sizes", type=counts(MIN_SIZE),
                    help="round-trip payload sizes, e.g. 8,64,4096,65536")
    ap.add_argument("--stream-sizes", type=counts(MIN_SIZE))
    ap.add_argument("--big-sizes", type=counts(MIN_SIZE, empty_ok=True),
                    help="large-message sizes, round trip and stream, e.g. 1048576 (empty: none); "
                         "only the transports marked big, with fewer round trips")
    ap.add_argument("--window", type=seconds, help="streaming window, seconds")
    ap.add_argument("--clients", type=count(1, MAX_CLIENTS), help="fan-in clients")
    ap.add_argument("--fanin-window", type=seconds)
    ap.add_argument("--idle", type=counts(0, MAX_IDLE),
                    help="idle VMs logged on for the scaling workload, e.g. 0,8,32")
    ap.add_argument("--paths", type=counts(1, MAX_PATHS),
                    help="open IUCV paths for the scaling workload, e.g. 10,100 (1 is the 0-idle-VM row)")
    ap.add_argument("--max-s", type=seconds, help="time limit of one round-trip run, seconds")
    ap.add_argument("--pin", choices=("none", "split", "same"), default="none",
                    help="round trips and streams: split = the two processes on CPUs 0 and 1, "
                         "same = both on CPU 0; none (default) = the scheduler's choice")
    ap.add_argument("--placements", type=keys(PLACEMENTS, "placement", empty_ok=True),
                    help="with --pin none: the 64 B stream also under these fixed placements, "
                         "e.g. split,same (empty: none)")
    ap.add_argument("--report-only", action="store_true",
                    help="only re-write results.md and latency.png from OUT/results.json")
    ap.add_argument("--floors", help="a built bench/floors.c (default: build it now with $CC)")
    preset = os.environ.get("BENCH_PRESET", "full")
    if preset not in PRESETS:
        ap.error(f"$BENCH_PRESET {preset!r}: not one of {', '.join(PRESETS)}")
    ap.set_defaults(preset=preset)
    args = ap.parse_args(argv)
    _check_paths(ap, args)
    for key, value in PRESETS[args.preset].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    return args


def _check_paths(ap: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """--out, --floors and --report-only name what they must (argparse's
    error, naming the option and the value, if not)."""
    if not args.out or (os.path.exists(args.out) and not os.path.isdir(args.out)):
        ap.error(f"argument --out: {args.out!r}: not a directory")
    if args.report_only and not os.path.isfile(os.path.join(args.out, "results.json")):
        ap.error(f"argument --report-only: no results.json in --out {args.out!r}")
    if args.floors is not None and not (os.path.isfile(args.floors) and
                                        os.access(args.floors, os.X_OK)):
        ap.error(f"argument --floors: {args.floors!r}: not an executable file")


# The C floors: bench/floors.c alone, and bench/core_stream.c with shmcp's
# core (csrc/), whose version check wants a build version.
CORE_C = sorted(str(p) for pattern in ("*.c", "core/*.c", "iucv/*.c", "vmcf/*.c")
                for p in (HERE.parent / "csrc").glob(pattern))
FLOOR_SOURCES = {
    "floors": [str(HERE / "floors.c")],
    "core_stream": ["-DSHMCP_BUILD_VERSION=\"bench\"", *CORE_C,
                    str(HERE / "core_stream.c"), "-lpthread"],
    # not a transport: the cores' handoff latency, probed around each job
    "handoff": [str(HERE / "handoff.c"), "-lpthread"],
}


def build_floors(out_dir: str) -> dict[str, tuple[str | None, str]]:
    """Compile each C program (the floors, the handoff probe): its name ->
    (binary, "") or (None, why not)."""
    return {name: _build(out_dir, name, sources) for name, sources in FLOOR_SOURCES.items()}


def _build(out_dir: str, name: str, sources: list[str]) -> tuple[str | None, str]:
    cc = os.environ.get("CC", "gcc")
    binary = os.path.join(out_dir, name)
    cmd = [cc, "-O2", "-Wall", "-std=gnu11", *sources, "-o", binary]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"build failed: {exc}"
    if res.returncode:
        return None, f"build failed: {res.stderr.strip()[-300:]}"
    return binary, ""


def jobs(args: argparse.Namespace, transports: list) -> list[dict]:
    """Every measurement of one repeat, in run order."""
    workloads = args.workloads or list(WORKLOADS)
    out = []
    base = {"n": args.n, "warmup": args.warmup, "max_s": args.max_s, "pin": args.pin}
    big = [t for t in transports if t.big]
    for w in workloads:
        if w == "rtt":
            for size in args.sizes:
                out += [dict(base, key=t.key, workload="rtt", size=size) for t in transports]
            fewer = dict(base, n=max(1, args.n // BIG_FEWER), warmup=args.warmup // BIG_FEWER)
            for size in args.big_sizes:
                out += [dict(base if size < BIG else fewer, key=t.key, workload="rtt", size=size)
                        for t in big]
        elif w == "stream":
            for size, among in [(s, transports) for s in args.stream_sizes] + \
                               [(s, big) for s in args.big_sizes]:
                out += [dict(key=t.key, workload="stream", size=size, window=args.window,
                             max_msgs=50_000_000, pin=args.pin) for t in among]
            for pin in placements(args):
                out += [dict(key=t.key, workload=PLACEMENT, size=PLACEMENT_SIZE, window=args.window,
                             max_msgs=50_000_000, pin=pin) for t in transports if "stream" in t.workloads]
        elif w == "fanin":
            out += [dict(key=t.key, workload="fanin", size=64, clients=args.clients,
                         window=args.fanin_window, n=10_000_000) for t in transports]
        elif w == "scale":
            for idle in args.idle:
                out += [dict(base, key=t.key, workload="scale", size=64, idle_vms=idle)
                        for t in transports]
        elif w == "paths":  # open paths are IUCV's: only the transports that have them
            for paths in args.paths:
                out += [dict(base, key=t.key, workload="paths", size=64, open_paths=paths)
                        for t in transports if "paths" in t.workloads]
        else:
            raise SystemExit(f"unknown workload {w!r}")
    return out


def run_job(job: dict, timeout: float) -> dict:
    t = BY_KEY[job["key"]]
    workload = runs_as(job["workload"])
    full = dict(job, module=t.module, workload=workload,
                opts=dict(t.opts, idle_vms=job.get("idle_vms", 0), open_paths=job.get("open_paths", 1),
                          workload=workload))
    cmd = [sys.executable, "-m", "bench.worker", json.dumps(full)]
    # its own process group: a worker past its time is killed with the
    # processes it started, and the systems it IPLed are shut down
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=str(HERE.parent), env=dict(os.environ, PYTHONPATH=str(HERE.parent)),
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": "failed", "error": f"timed out after {timeout:.0f} s", "pid": proc.pid}
    finally:
        if proc.returncode is None:  # timed out, or the run was interrupted
            machine.kill_job(proc)
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    if not lines:
        last = (err.strip().splitlines() or ["no output"])[-1]
        return {"status": "failed", "error": f"worker exited {proc.returncode}: {last[:300]}",
                "pid": proc.pid}
    # the worker's pid names the systems it IPLed (a leftover check's key)
    return dict(json.loads(lines[-1]), pid=proc.pid)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    chosen = [BY_KEY[k] for k in args.only or [t.key for t in TRANSPORTS]]
    os.makedirs(args.out, exist_ok=True)
    if args.report_only:
        with open(os.path.join(args.out, "results.json")) as f:
            raw = json.load(f)
        report.write(args.out, raw["machine"], raw["results"])
        return 0
    shm_before = machine.shm_entries()
    facts = machine.facts()
    tmp = tempfile.mkdtemp(prefix="shmcpbench-")
    started = time.time()
    results: list[dict] = []
    try:
        floors = build_floors(tmp)
        if args.floors:
            floors["floors"] = (args.floors, "")
        blocked = {}
        for t in chosen:
            why = t.status()
            if t.module == "floors" and floors[t.opts["program"]][0] is None:
                why = floors[t.opts["program"]][1]
            if why:
                blocked[t.key] = why
        todo = []
        for job in jobs(args, chosen):
            t = BY_KEY[job["key"]]
            why = blocked.get(t.key) or unsupported(t, runs_as(job["workload"]), job["size"])
            if why:  # reported once, never run
                results.append(dict(job, rep=0, status="not run", error=why))
            else:
                todo.append(job)
        total = len(todo) * args.repeats
        done = 0
        for rep in range(args.repeats):
            for job in todo:
                done += 1
                if BY_KEY[job["key"]].module == "floors":
                    job = dict(job, binary=floors[BY_KEY[job["key"]].opts["program"]][0])
                limit = (job.get("max_s", 0) + job.get("window", 0) + job.get("fanin_window", 0)
                         + 120 + 2 * job.get("idle_vms", 0) + job.get("open_paths", 0) // 10)
                t0 = time.time()
                before = machine.handoff_ns(floors["handoff"][0])
                res = run_job(job, limit)
                entry = dict(job, rep=rep, **res)
                entry.pop("binary", None)
                # the host's placement of the CPUs, which every cross-core
                # row follows, before and after (bench/NOTES.md)
                entry["handoff_ns"] = [before, machine.handoff_ns(floors["handoff"][0])]
                results.append(entry)
                what = job["pin"] if job["workload"] == PLACEMENT else job["workload"]
                print(f"[{done}/{total}] {what:<6} {job['size']:>6} B "
                      f"{BY_KEY[job['key']].label:<52} {_brief(entry)} ({time.time() - t0:.1f} s)",
                      flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    leftovers = machine.clean_shm(shm_before)
    facts["duration_s"] = round(time.time() - started, 1)
    facts["preset"] = args.preset
    facts["config"] = dict({k: getattr(args, k) for k in PRESETS["full"]}, pin=args.pin,
                           big_fewer=BIG_FEWER, placements=placements(args))
    facts["leftovers"] = leftovers
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"machine": facts, "results": results}, f, indent=1)
    report.write(args.out, facts, results)
    print(f"wrote {args.out}/results.md and latency.png in {facts['duration_s']} s")
    return 0


def _brief(entry: dict) -> str:
    if entry["status"] != "ok":
        return f"{entry['status'].upper()}: {entry.get('error', '')}"
    m = entry["metrics"]
    if "msgs_per_s" in m:
        bad = "" if not (m["lost"] or m["reordered"]) else f" LOST {m['lost']} REORDERED {m['reordered']}"
        return f"{m['msgs_per_s']:,.0f} msgs/s{bad}"
    if "rt_per_s" in m:
        return f"{m['rt_per_s']:,.0f} rt/s p99 {m['p99']:.1f} us"
    return f"p50 {m['p50']:.1f} p99 {m['p99']:.1f} us"
