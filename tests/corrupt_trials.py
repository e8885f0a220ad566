"""Trials of a corrupted segment, one child process each.

``python tests/corrupt_trials.py FIRST COUNT [REGION]`` runs trials FIRST ..
FIRST+COUNT-1 (the trial number is the seed) and prints one JSON line each:
``{"trial", "region", "writes", "outcome", "detail"}``.  A trial forks a
child that IPLs a small system, builds live state in it (three VMs, IUCV
paths with messages in flight, a VMCF message, a tracer), overwrites a few
bytes of one region (header, trace ring, VM table, IUCV's tables, VMCF's,
rings, tags, pool) at random, then runs a scripted workload: the watchdog's
reap of a VM whose process died, RECEIVE/REPLY/SEND, VMCF SEND/RECV/REPLY,
the snapshot, the trace, LOGOFF, LOGON, shutdown.

The outcome is ``ok`` (every call returned, with a result or an error code),
``signal`` (the child died of a signal: a crash), ``hang`` (it outlived
BOUND seconds and was killed) or ``error`` (a Python exception other than
ShmcpError: a traceback in the detail).  Nothing is left in /dev/shm.
"""
from __future__ import annotations

import json
import mmap
import os
import random
import signal
import sys
import time
import traceback

import shmcp
from shmcp import trace
from shmcp._core import ffi, lib
from shmcp.system import System, shm_name

REGIONS = ("header", "trace", "vm", "iucv", "vmcf", "rings", "tags", "pool")
BOUND = 20.0  # seconds: a trial takes a few milliseconds; beyond this it hangs
WORDS = (0, 1, 2, 3, 7, 8, 63, 64, 255, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def regions(handle) -> tuple[list[int], tuple[int, int]]:
    """The regions' bounds and the lock's (offset, length), from the core."""
    bounds = ffi.new("uint64_t[]", lib.SHMCP_NREGIONS + 1)
    lock = ffi.new("uint64_t[2]")
    lib.shmcp_regions(handle, bounds, lock)
    return list(bounds), (lock[0], lock[1])


def corrupt(name: str, handle, region: int, rng: random.Random) -> list[tuple[int, str]]:
    """Overwrite 1-6 places of region @region: random bytes, or a word an
    index might hold (0, 1, a limit, all ones).  Half land in the region's
    first 4 KiB, where the live entries are.  The control lock is left
    alone (docs/reliability.md says why)."""
    bounds, (lock_off, lock_len) = regions(handle)
    lo, hi = bounds[region], bounds[region + 1]
    writes = []
    fd = os.open("/dev/shm" + shm_name(name), os.O_RDWR)
    try:
        m = mmap.mmap(fd, bounds[-1])
        for _ in range(rng.randint(1, 6)):
            top = hi if rng.random() < 0.5 else min(hi, lo + 4096)
            if rng.random() < 0.5:
                data = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 8)))
                off = rng.randrange(lo, top - len(data))
            else:
                data = rng.choice(WORDS).to_bytes(4, "little")
                off = rng.randrange(lo, top - 4) & ~3
            if off < lock_off + lock_len and off + len(data) > lock_off:
                continue
            m[off:off + len(data)] = data
            writes.append((off - lo, data.hex()))
        m.close()
    finally:
        os.close(fd)
    return writes


class Vm:
    """One VM of this process, driven through the core's calls."""

    def __init__(self, h, userid: str, pid: int) -> None:
        self.h = h
        self.user = userid.ljust(8).encode()
        slot, gen = ffi.new("int32_t *"), ffi.new("uint32_t *")
        rc = lib.shmcp_logon(h, self.user, pid, lib.shmcp_proc_starttime(pid), slot, gen)
        self.slot, self.gen = (slot[0], gen[0]) if rc == 0 else (-1, 0)
        self.rec = ffi.new("struct shmcp_record *")

    def iucv(self, func: int, pl: bytearray, inbuf: bytes | None = None, out=None) -> int:
        plc = ffi.from_buffer(pl)
        return lib.shmcp_iucv_call(self.h, self.slot, self.gen, func, plc,
                                   ffi.from_buffer(inbuf) if inbuf else ffi.NULL,
                                   out if out is not None else ffi.NULL)

    def connect(self, target: "Vm") -> int:
        pl = bytearray(40)
        pl[8:16] = target.user
        self.iucv(lib.SHMCP_IUCV_CONNECT, pl)
        return int.from_bytes(pl[0:2], "big")

    def send(self, pathid: int, data: bytes, answer) -> None:
        pl = bytearray(40)
        pl[0:2] = pathid.to_bytes(2, "big")
        pl[16:20] = len(data).to_bytes(4, "big")
        pl[32:36] = (ffi.sizeof(answer) if answer is not None else 0).to_bytes(4, "big")
        if answer is None:
            pl[2] = lib.SHMCP_IPNORPY
        self.iucv(lib.SHMCP_IUCV_SEND, pl, data, answer)

    def vmcf(self, func: int, mid: int, user: bytes, lena: int, lenb: int, data=None,
             reply: int = 0) -> int:
        p = bytearray(40)
        p[0] = lib.SHMCP_VMCPSMSG if func == lib.SHMCP_VMCPAUTH else 0
        p[2:4] = func.to_bytes(2, "big")
        p[4:8] = mid.to_bytes(4, "big")
        p[8:16] = user
        p[20:24] = lena.to_bytes(4, "big")
        p[28:32] = lenb.to_bytes(4, "big")
        return lib.shmcp_vmcf_diag68(self.h, self.slot, self.gen, ffi.from_buffer(p),
                                     data if data is not None else ffi.NULL, reply)

    def take_all(self, limit: int = 64) -> list[bytes]:
        """Take and present what is queued (a bounded number): the records."""
        got = []
        ext = ffi.new("uint8_t[4096]")
        reply = ffi.new("uint8_t[64]")
        for _ in range(limit):
            if lib.shmcp_pop(self.h, self.slot, 3, self.rec) != 1:
                break
            r = self.rec
            raw = bytes(ffi.buffer(r.data, 40))
            got.append(raw)
            if r.facility == lib.SHMCP_IUCV:
                lib.shmcp_iucv_present(self.h, self.slot, self.gen, r.data)
                lib.shmcp_iucv_take_reply(self.h, self.slot, self.gen, r.data)
            elif r.ext_len <= 4096:
                n = r.ext_len
                if n and lib.shmcp_take_ext(self.h, self.slot, r.ext_off, n, ext):
                    n = 0
                lib.shmcp_vmcf_present(self.h, self.slot, self.gen, ext, n, reply, 64)
        return got

    def receive_reply(self, records: list[bytes]) -> None:
        """RECEIVE each pending message named in @records, REPLY to it."""
        buf = ffi.new("uint8_t[256]")
        for raw in records:
            if raw[3] not in (8, 9):
                continue
            pl = bytearray(40)
            pl[0:2] = raw[0:2]
            pl[4:8] = raw[4:8]
            pl[16:20] = (256).to_bytes(4, "big")
            self.iucv(lib.SHMCP_IUCV_RECEIVE, pl, None, buf)
            if not raw[2] & lib.SHMCP_IPNORPY:
                pl = bytearray(40)
                pl[0:2] = raw[0:2]
                pl[4:8] = raw[4:8]
                pl[32:36] = (5).to_bytes(4, "big")
                self.iucv(lib.SHMCP_IUCV_REPLY, pl, b"reply")


def setup(h, dead_pid: int) -> dict:
    """Live state for the corruption to land in."""
    me = os.getpid()
    a, b, d = Vm(h, "A", me), Vm(h, "B", me), Vm(h, "D", dead_pid)
    for vm in (a, b, d):
        vm.iucv(lib.SHMCP_IUCV_DCLBFR, bytearray(40))
    pab = a.connect(b)
    for raw in b.take_all():
        if raw[3] == lib.SHMCP_IPTYPE_PENDING_CONNECTION:
            pl = bytearray(40)
            pl[0:2] = raw[0:2]
            b.iucv(lib.SHMCP_IUCV_ACCEPT, pl)
    a.take_all()
    d.connect(a)  # left pending: D's path-map word names it
    pl = bytearray(40)
    pl[8:16] = b"*MSG    "
    a.iucv(lib.SHMCP_IUCV_CONNECT, pl)  # CP's end of a path
    answers = [ffi.new("uint8_t[16]") for _ in range(3)]
    for i, ans in enumerate(answers):
        a.send(pab, b"message %d" % i, ans)
    a.send(pab, b"one-way", None)
    for vm in (a, b):
        vm.vmcf(lib.SHMCP_VMCPAUTH, 0, b" " * 8, 169, 0)
    a.vmcf(lib.SHMCP_VMCPSENX, 7, b.user, 9, 0, ffi.from_buffer(bytearray(b"trailing!")))
    lib.shmcp_vmcf_smsg(h, b.user, a.user, b"hi", 2)
    cursor = ffi.new("uint64_t *")
    tracer = lib.shmcp_trace_attach(h, me, lib.shmcp_proc_starttime(me), cursor)
    a.send(pab, b"traced", None)
    return {"a": a, "b": b, "d": d, "pab": pab, "answers": answers, "tracer": tracer,
            "cursor": cursor}


def workload(name: str, h, st: dict, dead: "Dead") -> None:
    """The calls after the corruption; each must return or raise ShmcpError."""
    a, b = st["a"], st["b"]
    steps = [
        dead.die,
        lambda: lib.shmcp_reap(h),
        lambda: b.receive_reply(b.take_all()),
        lambda: a.take_all(),
        lambda: a.send(st["pab"], b"after", st["answers"][0]),
        lambda: b.receive_reply(b.take_all()),
        lambda: a.take_all(),
        lambda: a.iucv(lib.SHMCP_IUCV_TESTCMPL, bytearray(40)),
        lambda: a.iucv(lib.SHMCP_IUCV_PURGE, bytearray(40)),
        lambda: b.iucv(lib.SHMCP_IUCV_DESCRIBE, bytearray(40)),
        lambda: b.iucv(lib.SHMCP_IUCV_TESTMSG, bytearray(40)),
        lambda: b.iucv(lib.SHMCP_IUCV_REJECT, bytearray(40)),
        lambda: b.iucv(lib.SHMCP_IUCV_QUIESCE, bytearray(b"\0\0" + bytes([0x80]) + bytes(37))),
        lambda: b.iucv(lib.SHMCP_IUCV_RESUME, bytearray(b"\0\0" + bytes([0x80]) + bytes(37))),
        lambda: lib.shmcp_msg_deliver(h, b.user, a.user, 1, b"note", 4),
        lambda: a.take_all(),
        lambda: a.vmcf(lib.SHMCP_VMCPSEND, 8, b.user, 4, 0, ffi.from_buffer(bytearray(b"data"))),
        lambda: b.take_all(),
        lambda: b.vmcf(lib.SHMCP_VMCPRECV, 8, a.user, 16, 0, ffi.new("uint8_t[16]")),
        lambda: b.vmcf(lib.SHMCP_VMCPREPL, 8, a.user, 2, 0, ffi.from_buffer(bytearray(b"ok"))),
        lambda: a.take_all(),
        lambda: trace_read(h, st),
        lambda: System(name, h).snapshot(timeout=2.0),
        lambda: lib.shmcp_live_count(h),
        lambda: lib.shmcp_storage_free(h),
        lambda: a.iucv(lib.SHMCP_IUCV_SEVER, bytearray(b"\0\0" + bytes([0x80]) + bytes(37))),
        lambda: b.take_all(),
        lambda: lib.shmcp_logoff(h, b.slot, b.gen),
        lambda: Vm(h, "B", os.getpid()),
        lambda: lib.shmcp_logoff(h, a.slot, a.gen),
        lambda: lib.shmcp_trace_detach(h, st["tracer"]),
        lambda: lib.shmcp_mark_down(h),
    ]
    for step in steps:
        try:
            step()
        except shmcp.ShmcpError:
            pass


def trace_read(h, st: dict) -> None:
    recs = ffi.new("struct shmcp_trace_rec[64]")
    missed = ffi.new("uint64_t *")
    n = lib.shmcp_trace_read(h, st["cursor"], recs, 64, missed)
    for i in range(max(n, 0)):
        trace.decode(recs[i]).line()  # what `shmcp trace` prints


class Dead:
    """A process that lives until die(): the pid of VM D, reaped later.
    It reads a pipe, so it also ends when this process dies."""

    def __init__(self) -> None:
        r, self.w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(self.w)
            os.read(r, 1)
            os._exit(0)
        os.close(r)

    def die(self) -> None:
        if self.pid:
            os.close(self.w)
            os.waitpid(self.pid, 0)
            self.pid = 0


def child(name: str, trial: int, region: int, wfd: int) -> None:
    rng = random.Random(trial)
    shmcp.ipl(name, max_vms=8, queue_size=256, storage=1 << 20, max_conn=8, max_msgs=64)
    s = System.attach(name)
    dead = Dead()
    st = setup(s.handle, dead.pid)
    writes = corrupt(name, s.handle, region, rng)
    os.write(wfd, json.dumps(writes).encode())
    os.close(wfd)
    workload(name, s.handle, st, dead)
    dead.die()


def run(trial: int, region: int) -> dict:
    name = f"fuzz-{os.getpid()}-{trial}"
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 0
        try:
            child(name, trial, region, w)
        except BaseException:
            sys.stderr.write(traceback.format_exc())
            code = 3
        os._exit(code)
    os.close(w)
    end = time.monotonic() + BOUND
    status = None
    while status is None:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
        elif time.monotonic() > end:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            status = -1
        else:
            time.sleep(0.002)
    writes = os.read(r, 1 << 16).decode()
    os.close(r)
    for n in (shm_name(name), f"{shm_name(name)}.ipl{pid}"):
        try:
            os.unlink("/dev/shm" + n)
        except FileNotFoundError:
            pass
    if status == -1:
        outcome, detail = "hang", f"killed after {BOUND} s"
    elif os.WIFSIGNALED(status):
        outcome, detail = "signal", signal.Signals(os.WTERMSIG(status)).name
    elif os.WEXITSTATUS(status):
        outcome, detail = "error", f"exit {os.WEXITSTATUS(status)}"
    else:
        outcome, detail = "ok", ""
    return {"trial": trial, "region": REGIONS[region], "writes": writes,
            "outcome": outcome, "detail": detail}


def main() -> None:
    first, count = int(sys.argv[1]), int(sys.argv[2])
    only = REGIONS.index(sys.argv[3]) if len(sys.argv) > 3 else None
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # the doorbells of the VMs the trials play
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    for trial in range(first, first + count):
        region = only if only is not None else trial % len(REGIONS)
        print(json.dumps(run(trial, region)), flush=True)


if __name__ == "__main__":
    main()
