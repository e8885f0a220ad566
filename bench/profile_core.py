"""Where the time goes in one shmcp core message, in one process (no
wake-ups): each piece of ``queue_interrupt`` and ``wait`` timed on its own.
The evidence behind bench/NOTES.md.

    python -m bench.profile_core [N]
"""
from __future__ import annotations

import os
import sys
import timeit

import shmcp
from shmcp._native import ffi, lib
from shmcp.interrupt import Interrupt, view
from shmcp.machine import userid_bytes


def per_call(stmt, n: int, g: dict) -> float:
    """Best of 5 runs, nanoseconds per call."""
    return min(timeit.repeat(stmt, globals=g, number=n, repeat=5)) / n * 1e9


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    system = f"bench-prof-{os.getpid()}"
    shmcp.ipl(system)
    try:
        with shmcp.logon("A", system=system) as vm:
            h, slot, gen = vm.handle, vm.slot, vm.gen
            rec = bytes(40)
            data = bytes(64)
            uid = userid_bytes("A")
            g = dict(vm=vm, lib=lib, ffi=ffi, h=h, slot=slot, gen=gen, rec=rec, data=data, uid=uid,
                     userid_bytes=userid_bytes, Interrupt=Interrupt, view=view, fac=1,
                     s_out=ffi.new("int32_t *"), g_out=ffi.new("uint32_t *"), r=ffi.new("struct shmcp_record *"))
            rows = []

            def both(label, post_stmt, pop_stmt="vm.pop(3)"):
                # post then pop, so the queue never fills
                t = per_call(f"{post_stmt}; {pop_stmt}", n, g)
                rows.append((label, t))

            rows.append(("userid_bytes('A')", per_call("userid_bytes('A')", n, g)))
            rows.append(("2 x ffi.new (int32_t*, uint32_t*)",
                         per_call("ffi.new('int32_t *'); ffi.new('uint32_t *')", n, g)))
            rows.append(("lib.shmcp_find (C call, preallocated outs)",
                         per_call("lib.shmcp_find(h, uid, s_out, g_out)", n, g)))
            rows.append(("vm._target('A') (lookup per queue_interrupt)", per_call("vm._target('A')", n, g)))
            rows.append(("vm.handle", per_call("vm.handle", n, g)))
            both("lib.shmcp_post + lib.shmcp_pop, 40 B record only (C calls alone)",
                 "lib.shmcp_post(h, slot, gen, 1, 0, 0, rec, b'', 0)", "lib.shmcp_pop(h, slot, 3, r)")
            both("lib.shmcp_post + lib.shmcp_pop + take_ext, 64 B data (C calls alone)",
                 "lib.shmcp_post(h, slot, gen, 1, 0, 0, rec, data, 64)",
                 "lib.shmcp_pop(h, slot, 3, r); b = bytearray(r.ext_len); "
                 "lib.shmcp_take_ext(h, slot, r.ext_off, r.ext_len, ffi.from_buffer('uint8_t[]', b))")
            both("vm.queue_interrupt + vm.pop, 40 B record only", "vm.queue_interrupt('A', rec)")
            both("vm.queue_interrupt + vm.pop, 64 B data", "vm.queue_interrupt('A', rec, data=data)")
            both("vm.queue_interrupt + vm.wait(), 64 B data (the benchmark's path)",
                 "vm.queue_interrupt('A', rec, data=data)", "vm.wait()")
            rows.append(("Interrupt(...) object + view()",
                         per_call("view(Interrupt(1, False, rec, data))", n, g)))
            rows.append(("bytes(ffi.buffer(r.data)) (40-byte copy out)",
                         per_call("bytes(ffi.buffer(r.data))", n, g)))
            width = max(len(r[0]) for r in rows)
            print(f"{'piece':<{width}}  ns/call   (best of 5 x {n}, one process, no wake-ups)")
            for label, t in rows:
                print(f"{label:<{width}}  {t:7.0f}")
    finally:
        shmcp.shutdown(system)


if __name__ == "__main__":
    main()
