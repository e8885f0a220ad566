"""Where the time goes in one IUCV round trip (bench/NOTES.md).

1. One exchange in one process (a VM with a path to itself: no wake-ups),
   each step of the benchmark's program timed on its own: SEND, the wait
   for the 09, RECEIVE, REPLY, the wait for the 07.
2. A one-way message in one process, its four crossings timed the same way.
   And each of the four on its own, in batches of 200 (one clock read per
   batch, not per call): what a call costs without the timing's own cost.
3. The floor under the Python layers: the same round trip between two
   processes on two CPUs, driven by the core's own calls through cffi
   (shmcp_iucv_call, shmcp_next) with no parameter-list objects, no
   Interrupt, no view -- what the faithful layer costs on top is the
   difference to the benchmark's "IUCV: handler-free wait" row.

    python -m bench.profile_iucv [N]
    python -m bench.profile_iucv takes [wait|sigpause|seed]...   # 4. below

4. A one-way message at a time in one process, taken as the benchmark's
   stream takes it: by wait(), or by a handler and sigpause(0) (parameter
   lists reused, or new ones per call as the seed programs write it).
"""
from __future__ import annotations

import contextlib
import os
import struct
import sys
import time
from collections.abc import Iterator

import shmcp
from shmcp import MsgPlist, PathPlist, iucv
from shmcp._native import ffi, lib

_RECEIVE_BY_ID = iucv.IPFGPID | iucv.IPFGMID | iucv.IPFGMCL
_MESSAGES = 0xF << 6  # interrupt types 06-09, presented by shmcp_next
_BYTES = ffi.typeof("uint8_t[]")
_u32 = struct.Struct(">I").pack_into


def connect_to_self(vm, msglim: int = 0) -> int:
    iucv.dclbfr(PathPlist())
    c = PathPlist(vmid=vm.userid, msglim=msglim)
    if iucv.connect(c):
        raise RuntimeError(f"CONNECT: IPRCODE {c.rcode}")
    iucv.accept(PathPlist(pathid=vm.wait().pathid))
    vm.wait()  # connection complete
    return c.pathid


@contextlib.contextmanager
def path_to_self(msglim: int = 0) -> Iterator[tuple[shmcp.VirtualMachine, int]]:
    """A system of its own with VM A logged on and a path from A to A."""
    system = f"bench-prof-{os.getpid()}"
    shmcp.ipl(system)
    try:
        with shmcp.logon("A", system=system) as vm:
            yield vm, connect_to_self(vm, msglim)
    finally:
        shmcp.shutdown(system)


def exchange_in_one_process(n: int, one_way: bool) -> None:
    """Each step of the benchmark's program timed on its own.  A one-way
    message has four: it completes when received, and the sender takes the
    completion to free its message-limit slot (docs/reference.md, "4. IUCV,
    faithful")."""
    with path_to_self() as (vm, pathid):
        sp = MsgPlist(pathid=pathid)
        req, answer, buf = bytes(64), bytearray(64), bytearray(64)
        flags1 = iucv.IPNORPY if one_way else 0
        clock = time.perf_counter_ns
        names = ["SEND (after setting bf1, bf2, flags1)", "wait() -> 09",
                 "RECEIVE (after setting flags1, bf1)", "REPLY (after setting flags1, bf2)",
                 "wait() -> 07"]
        if one_way:
            del names[3]

        def run(times: list[int]) -> None:
            for _ in range(n):
                t0 = clock()
                sp.bf1, sp.bf2, sp.flags1 = req, answer, flags1
                iucv.send(sp)
                t1 = clock()
                ev = vm.wait()
                t2 = clock()
                ev.flags1, ev.bf1 = _RECEIVE_BY_ID, buf
                iucv.receive(ev)
                t3 = clock()
                if not one_way:
                    ev.flags1, ev.bf2 = 0, buf
                    iucv.reply(ev)
                t4 = clock()
                vm.wait()
                t5 = clock()
                steps = (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)
                for i, d in enumerate(steps[:3] + steps[4:] if one_way else steps):
                    times[i] += d

        _report(f"one {'one-way' if one_way else 'two-way'} IUCV message in one process", names, run, n)


def one_way_calls_in_batches(batches: int, batch: int = 200) -> None:
    """SEND, the wait for the 09, RECEIVE and the wait for the 07 of a
    one-way message, each timed over a batch of ``batch`` calls in a row;
    medians over ``batches`` batches."""
    with path_to_self(msglim=255) as (vm, pathid):
        op = MsgPlist(pathid=pathid, flags1=iucv.IPNORPY)
        data, buf = bytes(64), bytearray(64)
        clock = time.perf_counter_ns
        names = ["SEND (setting bf1, flags1)", "wait() -> 09", "RECEIVE (setting flags1, bf1)",
                 "wait() -> 07"]
        times: list[list[int]] = [[] for _ in names]
        for _ in range(batches):
            t0 = clock()
            for _ in range(batch):
                op.bf1, op.flags1 = data, iucv.IPNORPY
                iucv.send(op)
            t1 = clock()
            got = [vm.wait() for _ in range(batch)]
            t2 = clock()
            for ev in got:
                ev.flags1, ev.bf1 = _RECEIVE_BY_ID, buf
                iucv.receive(ev)
            t3 = clock()
            for _ in range(batch):
                vm.wait()
            t4 = clock()
            for i, d in enumerate((t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                times[i].append(d)
        print(f"the calls of a one-way IUCV message in one process, batches of {batch}, "
              f"median of {batches} (ns per call):")
        for name, t in zip(names, times):
            print(f"  {name:40s} {sorted(t)[len(t) // 2] / batch:7.0f}")


def one_way_messages_by_take(mode: str, batches: int = 600, batch: int = 200) -> None:
    """A one-way message at a time (SEND, take its 09, RECEIVE, take its
    07), as the benchmark's stream takes them: ``wait`` by vm.wait();
    ``sigpause`` by a SIGIUCV handler appending siginfo() and sigpause(0),
    SIGIUCV blocked between (parameter lists reused); ``seed`` the same
    with a new MsgPlist per SEND and RECEIVE.  Median ns per message over
    ``batches`` batches of ``batch``."""
    import collections
    import signal
    with path_to_self(msglim=255) as (vm, pathid):
        got: collections.deque = collections.deque()
        take = vm.wait
        if mode != "wait":
            old = signal.signal(shmcp.SIGIUCV, lambda s, f: got.append(shmcp.siginfo()))
            mask = shmcp.sigblock(shmcp.sigmask(shmcp.SIGIUCV))

            def take():
                while not got:
                    shmcp.sigpause(0)
                return got.popleft()
        try:
            op = MsgPlist(pathid=pathid, flags1=iucv.IPNORPY)
            data, buf, fresh = bytes(64), bytearray(64), mode == "seed"
            clock = time.perf_counter_ns
            times = []
            for _ in range(batches):
                t0 = clock()
                for _ in range(batch):
                    p = MsgPlist(pathid=pathid) if fresh else op
                    p.bf1, p.flags1 = data, iucv.IPNORPY
                    iucv.send(p)
                    ev = take()
                    if fresh:
                        ev = MsgPlist(pathid=ev.pathid, msgid=ev.msgid, trgcls=ev.trgcls,
                                      flags1=_RECEIVE_BY_ID, bf1=buf)
                    else:
                        ev.flags1, ev.bf1 = _RECEIVE_BY_ID, buf
                    iucv.receive(ev)
                    take()
                times.append((clock() - t0) / batch)
            times.sort()
            print(f"one one-way message at a time in one process, taken by {mode}: "
                  f"{times[len(times) // 2]:.0f} ns (median of {batches} batches of {batch})")
        finally:
            if mode != "wait":
                shmcp.sigsetmask(mask)
                signal.signal(shmcp.SIGIUCV, old)


def _report(title: str, names: list[str], run, n: int) -> None:
    run([0] * len(names))  # warm-up
    best: list[int] | None = None
    for _ in range(5):
        times = [0] * len(names)
        run(times)
        if best is None or sum(times) < sum(best):
            best = times
    assert best is not None
    print(f"{title}, best of 5 x {n} (ns per step):")
    for name, t in zip(names, best):
        print(f"  {name:40s} {t / n:7.0f}")
    print(f"  {'total':40s} {sum(best) / n:7.0f}")


def _server(system: str, ready_w: int, n: int) -> None:
    vm = shmcp.logon("SERVER", system=system)
    iucv.dclbfr(PathPlist())
    os.write(ready_w, b"r")
    iucv.accept(PathPlist(pathid=vm.wait().pathid))
    h, slot, gen, spin = vm.handle, vm.slot, vm.gen, vm.spin_ns
    rec = ffi.new("struct shmcp_record *")
    pl = bytearray(40)
    plc = ffi.from_buffer(_BYTES, pl)
    buf = bytearray(64)
    bufc = ffi.from_buffer(_BYTES, buf)
    image = ffi.buffer(rec.data)
    for _ in range(n):
        lib.shmcp_next(h, slot, gen, 1 << lib.SHMCP_IUCV, _MESSAGES, -1, spin, rec)
        pl[:] = image
        pl[lib.SHMCP_IP_FLAGS1] = _RECEIVE_BY_ID
        _u32(pl, lib.SHMCP_IP_BFLN1F, len(buf))
        lib.shmcp_iucv_call(h, slot, gen, lib.SHMCP_IUCV_RECEIVE, plc, ffi.NULL, bufc)
        pl[lib.SHMCP_IP_FLAGS1] = 0
        _u32(pl, lib.SHMCP_IP_BFLN2F, len(buf))
        lib.shmcp_iucv_call(h, slot, gen, lib.SHMCP_IUCV_REPLY, plc, bufc, ffi.NULL)
    vm.wait(5)  # the client's sever
    vm.logoff()


def floor_two_processes(n: int) -> None:
    system = f"bench-floor-{os.getpid()}"
    shmcp.ipl(system)
    ready_r, ready_w = os.pipe()
    split = len(os.sched_getaffinity(0)) >= 2
    pid = os.fork()
    if pid == 0:
        try:
            if split:
                os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[1]})
            _server(system, ready_w, n + 1000)
        finally:
            os._exit(0)
    try:
        if split:
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        os.read(ready_r, 1)
        vm = shmcp.logon("CLIENT", system=system)
        iucv.dclbfr(PathPlist())
        c = PathPlist(vmid="SERVER")
        iucv.connect(c)
        vm.wait()  # connection complete
        h, slot, gen, spin = vm.handle, vm.slot, vm.gen, vm.spin_ns
        rec = ffi.new("struct shmcp_record *")
        sp = MsgPlist(pathid=c.pathid)
        image, req, answer = sp._b, bytes(64), bytearray(64)
        plc = ffi.from_buffer(_BYTES, image)
        reqc, answerc = ffi.from_buffer(_BYTES, req), ffi.from_buffer(_BYTES, answer)
        clock = time.perf_counter_ns
        lat = []
        for _ in range(n + 1000):
            t = clock()
            image[lib.SHMCP_IP_FLAGS1] = 0
            _u32(image, lib.SHMCP_IP_BFLN1F, 64)
            _u32(image, lib.SHMCP_IP_BFLN2F, 64)
            lib.shmcp_iucv_call(h, slot, gen, lib.SHMCP_IUCV_SEND, plc, reqc, answerc)
            lib.shmcp_next(h, slot, gen, 1 << lib.SHMCP_IUCV, _MESSAGES, -1, spin, rec)
            lat.append(clock() - t)
        if answer != bytearray(req):
            raise RuntimeError("the reply is not the request")
        iucv.sever(PathPlist(pathid=c.pathid))
        vm.logoff()
        lat = sorted(lat[1000:])
        where = "two CPUs" if split else "one CPU"
        print(f"IUCV round trip through the core's calls alone ({where}, {n}): "
              f"p50 {lat[len(lat) // 2] / 1000:.1f} us, p99 {lat[int(len(lat) * 0.99)] / 1000:.1f} us")
    finally:
        os.waitpid(pid, 0)
        shmcp.shutdown(system)


def main() -> None:
    if sys.argv[1:2] == ["takes"]:  # python -m bench.profile_iucv takes [wait|sigpause|seed]...
        for mode in sys.argv[2:] or ["wait", "sigpause", "seed"]:
            one_way_messages_by_take(mode)
        return
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    exchange_in_one_process(n, one_way=False)
    exchange_in_one_process(n, one_way=True)
    one_way_calls_in_batches(200)
    floor_two_processes(n)


if __name__ == "__main__":
    main()
