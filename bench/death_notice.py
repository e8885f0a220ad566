"""How soon a killed VM's partner hears of it: the time from SIGKILL to the
partner's path-severed interrupt (type 03), with no daemon -- the
watchdog thread of the partner's own process notices the death.

    python bench/death_notice.py [TRIALS] [SETTLE_MS]

Each trial: VM V (a child process) logs on and declares a buffer; A (this
process) CONNECTs to it (the pending path is what V's LOGOFF severs);
SETTLE_MS later (default 100) V gets SIGKILL and A waits for its 03.
Prints the median, p90 and worst in milliseconds.  The watchdog looks
for VMs come and gone every 50 ms: a VM killed sooner than that after
its LOGON is noticed by the next look (SETTLE_MS 0 shows it).
"""
from __future__ import annotations

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
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    settle = (int(sys.argv[2]) if len(sys.argv) > 2 else 100) / 1000
    system = f"bench-death-{os.getpid()}"
    shmcp.ipl(system)
    try:
        with shmcp.logon("A", system=system) as vm:
            iucv.dclbfr(PathPlist())
            got = sorted(trial(system, vm, settle) for _ in range(trials))
    finally:
        shmcp.shutdown(system)
    p90 = got[int(0.9 * (len(got) - 1))]
    print(f"death notice over {trials} kills, {settle * 1000:.0f} ms after LOGON: median {statistics.median(got):.2f} ms, "
          f"p90 {p90:.2f} ms, worst {got[-1]:.2f} ms")


if __name__ == "__main__":
    main()
