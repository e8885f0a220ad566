"""``shmcp trace`` and the Tracer under it: a scripted exchange between real
processes, traced line by line in order; what a tracer that falls behind
is told; tracing off costs the producers nothing they write."""
from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys

import pytest

import shmcp
from shmcp import iucv, vmcf
from shmcp.system import System
from shmcp.trace import RING, Tracer
from iucv_rpc import connect_pair, local, send, spawn  # noqa: F401

IUCV_TYPE = {1: "pending-connection", 2: "connection-complete", 3: "path-severed",
             7: "nonpriority-message-complete", 9: "nonpriority-message-pending"}


class TraceCommand:
    """``shmcp trace ARGS`` as a child process, attached once it said so."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "shmcp", "trace", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=dict(os.environ))
        ready, _, _ = select.select([self.proc.stderr], [], [], 60)
        assert ready, "shmcp trace said nothing"
        assert self.proc.stderr.readline().startswith("tracing external interrupts on ")

    def lines(self) -> list[str]:
        out, err = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, err
        return out.splitlines()


def test_trace_shows_a_scripted_exchange_line_by_line_in_order(local, spawn):
    b = spawn("B")
    assert vmcf.authorize(bytearray(169), smsg=True) == 0
    everything = TraceCommand("--json", "--count", "6")
    only_b_09 = TraceCommand("b", "--type", "09", "--count", "1")

    pa, pb = connect_pair(local, b)                                   # 01 to B, 02 to A
    msgid = send(local, pa, b"hello")["msgid"]                        # 09 to B
    assert b.cc("receive", "MsgPlist", pathid=pb, bf1={"buf": "r", "size": 8}) == 0
    assert b.cc("reply", "MsgPlist", pathid=pb, msgid=msgid, bf2=b"hi") == 0   # 07 to A
    assert local.wait(5)["type"] == 7
    assert b.cc("sever", "PathPlist", pathid=pb) == 0                 # 03 to A
    assert subprocess.run([sys.executable, "-m", "shmcp", "smsg", "a", "status"],
                          timeout=60).returncode == 0  # VMCF SENDX to A from SYSTEM

    got = [json.loads(line) for line in everything.lines()]
    shown = [(r["from"], r["to"], r["facility"], r["code"], r["type"], r["pathid"], r["msgid"],
              r["length"]) for r in got]
    assert shown == [
        ("A", "B", "IUCV", 1, IUCV_TYPE[1], pb, None, None),
        ("B", "A", "IUCV", 2, IUCV_TYPE[2], pa, None, None),
        ("A", "B", "IUCV", 9, IUCV_TYPE[9], pb, msgid, 5),
        ("B", "A", "IUCV", 7, IUCV_TYPE[7], pa, msgid, None),
        ("B", "A", "IUCV", 3, IUCV_TYPE[3], pa, None, None),
        ("SYSTEM", "A", "VMCF", vmcf.VMCPSENX, "sendx", None, got[5]["msgid"], len("status")),
    ]
    seqs = [r["seq"] for r in got]
    assert seqs == list(range(seqs[0], seqs[0] + 6))  # nothing between, nothing out of order
    assert [r["time"] for r in got] == sorted(r["time"] for r in got)
    assert all(len(bytes.fromhex(r["data"])) == 40 and r["priority"] is False for r in got)

    (line,) = only_b_09.lines()
    assert re.fullmatch(rf"\d\d:\d\d:\d\d\.\d{{6}} A +-> B +IUCV 09 nonpriority-message-pending "
                        rf"path {pb} msg {msgid} len 5", line), line


def test_trace_ends_on_ctrl_c_and_rejects_an_unknown_type(system):
    shmcp.ipl(system)
    tracer = TraceCommand()
    tracer.proc.send_signal(signal.SIGINT)
    assert tracer.lines() == []
    bad = subprocess.run([sys.executable, "-m", "shmcp", "trace", "--type", "bogus"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "argument --type: 'bogus' is not a type" in bad.stderr
    with System.attach(system) as s:
        assert s.snapshot().counters.tracers == 0  # it detached


def post_to_self(vm: shmcp.VirtualMachine, n: int, start: int) -> None:
    for i in range(start, start + n):
        vm.queue_interrupt(vm.userid, i.to_bytes(4, "big").rjust(12, b"\0").ljust(40, b"\0"))
    for _ in range(n):
        assert vm.wait(0) is not None


def test_a_tracer_that_falls_behind_is_told_how_many_it_missed(system):
    with shmcp.logon("a") as vm, System.attach(system) as s:
        post_to_self(vm, 10, 0)
        assert s.snapshot().counters.traced == 0  # nobody traces: the ring is not written
        with Tracer(s) as t:
            assert s.snapshot().counters.tracers == 1
            total = RING + 1000
            for start in range(0, total, 1000):
                post_to_self(vm, min(1000, total - start), start)
            recs, missed = t.read()
            assert missed == total - RING
            got = list(recs)
            while True:
                more, m = t.read()
                assert m == 0
                if not more:
                    break
                got += more
        assert len(got) == RING and t.missed == total - RING
        # the newest RING records, whole and in order
        assert [int.from_bytes(r.data[8:12], "big") for r in got] == list(range(total - RING, total))
        assert [r.seq for r in got] == list(range(got[0].seq, got[0].seq + RING))
        assert all(r.source == r.target == "A" for r in got)
        traced = s.snapshot().counters.traced
        post_to_self(vm, 10, 0)
        assert s.snapshot().counters.traced == traced  # detached: not written again


def test_a_killed_tracer_is_forgotten_at_the_next_attach(system):
    shmcp.ipl(system)
    tracer = TraceCommand()
    tracer.proc.kill()
    tracer.proc.wait()
    with System.attach(system) as s:
        assert s.snapshot().counters.tracers == 0  # the snapshot counts the living
        with Tracer(s):
            assert s.snapshot().counters.tracers == 1  # the dead one's place reused
        assert s.snapshot().counters.tracers == 0
        with pytest.raises(ValueError, match="batch"):
            Tracer(s, batch=0)


def test_a_trace_killed_with_sigkill_stops_costing(system):
    """Before: the dead tracer stayed counted (`tracers: 1`) and every
    interrupt went on writing the ring until the next tracer came or
    went.  Now the snapshot counts it out at once, and the reap of dead
    VMs (each VM's watchdog, every WATCHDOG_MS) forgets it."""
    import time
    shmcp.ipl(system)
    tracer = TraceCommand()
    with shmcp.logon("a") as vm, System.attach(system) as s:
        post_to_self(vm, 3, 0)
        assert s.snapshot().counters.traced == 3 and s.snapshot().counters.tracers == 1
        tracer.proc.send_signal(signal.SIGKILL)
        tracer.proc.communicate()
        assert s.snapshot().counters.tracers == 0
        give_up = time.monotonic() + 60  # ends a hung test; times nothing
        while True:
            traced = s.snapshot().counters.traced
            post_to_self(vm, 1, 0)
            if s.snapshot().counters.traced == traced:
                break
            assert time.monotonic() < give_up, "posting still writes the trace ring"
            time.sleep(0.05)
        post_to_self(vm, 10, 0)
        assert s.snapshot().counters.traced == traced  # not written again
