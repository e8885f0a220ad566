"""Round trip through shmcp's core (queue_interrupt + wait) against os.pipe,
in one run: the measurement behind the default spin.  Issue 5's `make bench`
grows from this.

    python bench/core_pingpong.py [ROUND_TRIPS] [REPEATS]
"""
from __future__ import annotations

import multiprocessing as mp
import os
import statistics
import sys
import time

import shmcp

REC = bytes(40)


def _echo_core(system: str, ready, n: int) -> None:
    with shmcp.logon("ECHO", system=system) as vm:
        ready.set()
        for _ in range(n):
            vm.wait()
            vm.queue_interrupt("PING", REC)


def core_rtt(n: int, spin_us: int) -> list[float]:
    system = f"bench-{os.getpid()}-{spin_us}"
    shmcp.ipl(system, spin_us=spin_us)
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    p = ctx.Process(target=_echo_core, args=(system, ready, n))
    p.start()
    samples = []
    try:
        with shmcp.logon("PING", system=system) as vm:
            ready.wait()
            for _ in range(n):
                t0 = time.perf_counter_ns()
                vm.queue_interrupt("ECHO", REC)
                vm.wait()
                samples.append((time.perf_counter_ns() - t0) / 1000)
        p.join()
    finally:
        shmcp.shutdown(system)
    return samples


def _echo_pipe(r: int, w: int, n: int) -> None:
    for _ in range(n):
        os.write(w, os.read(r, 64))


def pipe_rtt(n: int) -> list[float]:
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    p = mp.get_context("fork").Process(target=_echo_pipe, args=(a_r, b_w, n))
    p.start()
    samples = []
    msg = bytes(64)
    for _ in range(n):
        t0 = time.perf_counter_ns()
        os.write(a_w, msg)
        os.read(b_r, 64)
        samples.append((time.perf_counter_ns() - t0) / 1000)
    p.join()
    for fd in (a_r, a_w, b_r, b_w):
        os.close(fd)
    return samples


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    runs: dict[str, list[tuple[float, float]]] = {}
    for _ in range(repeats):
        for name, fn in (("os.pipe", lambda: pipe_rtt(n)),
                         ("shmcp core, spin 50 us", lambda: core_rtt(n, 50)),
                         ("shmcp core, no spin", lambda: core_rtt(n, 0))):
            s = fn()[n // 10:]  # drop warm-up
            runs.setdefault(name, []).append((statistics.median(s), pct(s, 0.99)))
    base = statistics.median(p50 for p50, _ in runs["os.pipe"])
    print(f"{'transport':<26} {'p50 us':>8} {'p99 us':>8} {'vs pipe':>8}   ({repeats} runs x {n} round trips, medians)")
    for name, rs in runs.items():
        p50 = statistics.median(r[0] for r in rs)
        p99 = statistics.median(r[1] for r in rs)
        print(f"{name:<26} {p50:8.1f} {p99:8.1f} {base / p50:7.1f}x")


if __name__ == "__main__":
    main()
