"""How soon a killed VM's partner hears of it: the time from SIGKILL to the
partner's path-severed interrupt (type 03), with no daemon -- the
watchdog thread of the partner's own process notices the death.

    python bench/death_notice.py [TRIALS] [SETTLE_MS ...] [--json FILE]

Each trial: VM V (a child process) logs on and declares a buffer; A (this
process) CONNECTs to it (the pending path is what V's LOGOFF severs);
SETTLE_MS later (default 100) V gets SIGKILL and A waits for its 03.
With several SETTLE_MS, TRIALS of each, taken in turn (0 5 20 45 100:
kills soon after LOGON beside an old VM's).  Prints per SETTLE_MS the
median, p90 and worst in milliseconds; --json appends the raw times
({"settle_ms": [ms, ...]}, one line) to FILE, so runs of two builds
taken in turn can be pooled.
"""
from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time

import shmcp
from shmcp import PathPlist, iucv

CHILD = """
import sys, time, shmcp
from shmcp import PathPlist, iucv
vm = shmcp.logon("V", system=sys.argv[1])
iucv.dclbfr(PathPlist())
print("READY", flush=True)
time.sleep(3600)
"""


def trial(system: str, vm, settle: float) -> float:
    child = subprocess.Popen([sys.executable, "-c", CHILD, system], stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout.readline().strip() == "READY"
    p = PathPlist(vmid=b"V")
    assert iucv.connect(p) == 0
    time.sleep(settle)
    t0 = time.perf_counter()
    os.kill(child.pid, signal.SIGKILL)
    while True:
        ev = vm.wait(5.0)
        if ev is None:
            raise TimeoutError("no path-severed interrupt within 5 s")
        if bytes(ev)[3] == iucv.IPTYPE_PATH_SEVERED:
            ms = (time.perf_counter() - t0) * 1000
            break
    iucv.sever(PathPlist(pathid=p.pathid))
    child.wait()
    child.stdout.close()
    return ms


def main() -> None:
    args = sys.argv[1:]
    out = None
    if "--json" in args:
        k = args.index("--json")
        out = args[k + 1]
        del args[k:k + 2]
    try:
        trials = int(args[0]) if args else 50
        settles = [int(a) for a in args[1:]] or [100]
    except ValueError:
        sys.exit("usage: python bench/death_notice.py [TRIALS] [SETTLE_MS ...] [--json FILE]")
    system = f"bench-death-{os.getpid()}"
    got: dict[int, list[float]] = {s: [] for s in settles}
    shmcp.ipl(system)
    try:
        with shmcp.logon("A", system=system) as vm:
            iucv.dclbfr(PathPlist())
            for _ in range(trials):
                for s in settles:
                    got[s].append(trial(system, vm, s / 1000))
    finally:
        shmcp.shutdown(system)
    for s, ms in got.items():
        ms = sorted(ms)
        p90 = ms[int(0.9 * (len(ms) - 1))]
        print(f"death notice over {trials} kills, {s} ms after LOGON: median "
              f"{statistics.median(ms):.2f} ms, p90 {p90:.2f} ms, worst {ms[-1]:.2f} ms")
    if out:
        with open(out, "a") as f:
            f.write(json.dumps({str(s): ms for s, ms in got.items()}) + "\n")


if __name__ == "__main__":
    main()
