"""Where the time goes in one VMCF round trip (bench/NOTES.md, "VMCF's hot
path").

One SEND/RECV exchange in one process (a VM sending to itself: no
wake-ups), written as the benchmark's VMCF transport writes it -- VMCPARMs
reused, the handler-free ``vm.wait()`` -- each step timed with the field
stores it needs: SEND/RECV, the wait for the SEND interrupt, RECEIVE,
REPLY, the wait for the RESPONSE.  Per step the best batch of 200 (one
clock read per step, so each includes ~50 ns of clock), and the process's
CPU time per exchange over all of them.

    python -m bench.profile_vmcf [N]
"""
from __future__ import annotations

import os
import sys
import time

import shmcp
from shmcp import vmcf
from shmcp.vmcf import Vmcparm

STEPS = ("SEND/RECV (after setting mid, vada)", "wait() -> SEND interrupt",
         "RECEIVE (after setting user, mid, lena)", "REPLY (after setting user, mid, vada)",
         "wait() -> RESPONSE")


def exchange_in_one_process(n: int) -> tuple[list[float], float]:
    system = f"bench-profvmcf-{os.getpid()}"
    shmcp.ipl(system)
    try:
        with shmcp.logon("A", system=system) as vm:
            assert vmcf.authorize(bytearray(64)) == 0
            sr = Vmcparm(func=vmcf.VMCPSENR, user="A", vadb=bytearray(64))
            rbuf = bytearray(64)
            rp = Vmcparm(func=vmcf.VMCPRECV, vada=rbuf)
            yp = Vmcparm(func=vmcf.VMCPREPL)
            req = bytes(64)
            clock = time.perf_counter_ns
            best = [float("inf")] * len(STEPS)
            mid = 0
            cpu0 = time.process_time_ns()
            for _ in range(max(1, n // 200)):
                spent = [0] * len(STEPS)
                for _ in range(200):
                    mid += 1
                    t0 = clock()
                    sr.mid, sr.vada = mid, req
                    if vmcf.diag68(sr):
                        raise RuntimeError("SEND/RECV failed")
                    t1 = clock()
                    h = vm.wait()
                    t2 = clock()
                    rp.user, rp.mid, rp.lena = h.user, h.mid, h.lena
                    if vmcf.diag68(rp):
                        raise RuntimeError("RECEIVE failed")
                    t3 = clock()
                    yp.user, yp.mid, yp.vada = h.user, h.mid, rbuf
                    if vmcf.diag68(yp):
                        raise RuntimeError("REPLY failed")
                    t4 = clock()
                    r = vm.wait()
                    t5 = clock()
                    if not r.response or r.mid != mid:
                        raise RuntimeError(f"expected the RESPONSE of {mid}, got {r!r}")
                    for k, (a, b) in enumerate(((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5))):
                        spent[k] += b - a
                best = [min(x, y / 200) for x, y in zip(best, spent)]
            return best, (time.process_time_ns() - cpu0) / mid
    finally:
        shmcp.shutdown(system)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    best, cpu = exchange_in_one_process(n)
    print(f"one VMCF SEND/RECV exchange in one process, best batch of 200 of {n} (ns per step):")
    for name, t in zip(STEPS, best):
        print(f"  {name:42s} {t:7.0f}")
    print(f"  {'total':42s} {sum(best):7.0f}")
    print(f"  CPU per exchange, all batches: {cpu:.0f} ns")


if __name__ == "__main__":
    main()
