"""The SAS/C layer (docs/reference.md, "6. The SAS/C interface"): return
conventions, CMS routing of pending connections by program name, iucvsevr
ONE/ALL, iucvclr, and the 11-step SENDER/RECEIVER example end to end."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from shmcp import iucv, sasc
from iucv_rpc import local, only, send, spawn  # noqa: F401
from vms import eventually

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FF16 = b"\xff" * 16


def s(vm, fn, *args, cls=None, **fields):
    """A SAS/C call in ``vm``: (return value, plist fields)."""
    got = vm.call(fn, cls, module="sasc", args=list(args), **fields)
    return got["cc"], got.get("fields")


@pytest.fixture
def cms(spawn):
    """B: a child with a SIGIUCV handler, CMS programs PROG1 and PROG2."""
    b = spawn("B", "--no-dclbfr", "--handler")
    assert s(b, "iucvset", "PROG1")[0] == 0
    assert s(b, "iucvset", "PROG2")[0] == 0
    return b


def events_of(b, n):
    got: list = []

    def enough():
        got.extend(b.events())
        return len(got) >= n

    eventually(enough, what=f"{n} SIGIUCV handler calls")
    return got


def accept_routed(a, b, pgm, name=None):
    """A connects to program ``pgm`` in B; B's handler sees the pending
    connection and ``name`` accepts it.  Returns (A's id, B's id)."""
    got = a.call("connect", "PathPlist", vmid="B", pgm=pgm)
    assert got["cc"] == 0
    ev = events_of(b, 1)
    assert [e["type"] for e in ev] == [1]
    pend = ev[0]["fields"]
    assert pend["pgm"] == pgm.ljust(8).encode()
    rc, _ = s(b, "iucvacc", name or pgm, cls="PathPlist", image=pend["image"], type=0)
    assert rc == 0
    only(a.drain(), 2)
    events_of(b, 0)
    return got["fields"]["pathid"], pend["pathid"]


# -- return conventions ---------------------------------------------------------------

def test_iucvset_returns(spawn):
    nohandler = spawn("N", "--no-dclbfr")
    assert s(nohandler, "iucvset", "PROG")[0] == sasc.NO_HANDLER == -1
    assert s(nohandler, "iucvclr", "PROG")[0] == -1
    assert s(nohandler, "iucvconn", "PROG", cls="PathPlist", vmid="N")[0] == -1
    b = spawn("B", "--no-dclbfr", "--handler")
    got = b.call("iucvset", module="sasc", args=["PROG"])
    assert got["cc"] == 0 and got["value"] == [64]          # maxconns
    assert s(b, "iucvset", "PROG")[0] == sasc.DUPLICATE_NAME == -2
    assert s(b, "iucvset", "PROGRAMNAME")[0] == 0          # truncated to 8: PROGRAMN
    assert s(b, "iucvset", "PROGRAMN")[0] == -2
    assert s(b, "iucvset", "")[0] == sasc.CMS_NAME_MISSING == 16


def test_cms_and_iucv_return_codes(local, cms):
    b = cms
    assert s(b, "iucvconn", "NOTSET", cls="PathPlist", vmid="A")[0] == sasc.CMS_NOT_SET == 8
    assert s(b, "iucvclr", "NOTSET")[0] == 8
    rc, f = s(b, "iucvconn", "PROG1", cls="PathPlist", vmid="NOBODY")
    assert rc == 1 and f["rcode"] == 11                       # IUCV's error: 1 + IPRCODE
    rc, f = s(b, "iucvacc", "PROG1", cls="PathPlist", pathid=40)
    assert rc == 1 and f["rcode"] == 1
    rc, f = s(b, "iucvsevr", "PROG1", cls="PathPlist", flags1=iucv.IPALL)
    assert rc == sasc.CMS_IPALL_NOT_ALLOWED == 28
    pa, pb = accept_routed(local, b, "PROG1")
    assert s(b, "iucvsevr", "PROG2", cls="PathPlist", pathid=pb)[0] == sasc.CMS_NOT_OWNER == 12
    assert local.drain() == []


def test_direct_functions_return_the_condition_code(local, cms):
    b = cms
    pa, pb = accept_routed(local, b, "PROG1")
    rc, f = s(b, "iucvsend", cls="MsgPlist", pathid=99, flags1=iucv.IPNORPY, bf1=b"x")
    assert rc == 1 and f["rcode"] == 1
    assert s(b, "iucvrecv", cls="MsgPlist", bf1={"buf": "r", "size": 4})[0] == 2
    assert s(b, "iucvtcmp", cls="CompPlist")[0] == 2
    assert s(b, "iucvpurg", cls="CompPlist")[0] == 2
    rc, f = s(b, "iucvsend", cls="MsgPlist", pathid=pb, bf1=b"ask", bf2={"buf": "a", "size": 8})
    assert rc == 0
    m = only(local.drain(), 9)
    local.call("receive", "MsgPlist", bf1={"buf": "r", "size": 3})
    local.call("reject", "MsgPlist", pathid=pa, msgid=m["msgid"])
    ev = events_of(b, 1)
    assert [e["type"] for e in ev] == [7] and ev[0]["fields"]["audit"] == iucv.IPADRJCT
    assert s(b, "iucvqs", cls="PathPlist", pathid=pb)[0] == 0
    assert only(local.drain(), 4)["pathid"] == pa
    assert s(b, "iucvresm", cls="PathPlist", pathid=pb)[0] == 0
    assert only(local.drain(), 5)["pathid"] == pa
    send(local, pa, b"to PROG1", answer=4)
    ev = events_of(b, 1)
    rc, f = s(b, "iucvrecv", cls="MsgPlist", bf1={"buf": "r", "size": 8})
    assert rc == 0
    assert s(b, "iucvrply", cls="MsgPlist", pathid=pb, msgid=f["msgid"], bf2=b"ok")[0] == 0
    assert only(local.drain(), 7)["audit"] == 0
    send(local, pa, b"again", answer=4)
    events_of(b, 1)
    rc, f = s(b, "iucvrecv", cls="MsgPlist", bf1={"buf": "r", "size": 8})
    assert s(b, "iucvrej", cls="MsgPlist", pathid=pb, msgid=f["msgid"])[0] == 0
    assert only(local.drain(), 7)["audit"] == iucv.IPADRJCT


# -- routing of pending connections ---------------------------------------------------

def test_pending_connection_routed_by_program_name(local, cms):
    b = cms
    pa1, pb1 = accept_routed(local, b, "PROG1")
    pa2, pb2 = accept_routed(local, b, "PROG2")
    assert pb1 != pb2
    # a path belongs to the program its connection was routed to
    local.call("connect", "PathPlist", vmid="B", pgm="PROG1")
    pend = events_of(b, 1)[0]["fields"]
    assert s(b, "iucvacc", "PROG2", cls="PathPlist", image=pend["image"], type=0)[0] == 12
    assert s(b, "iucvacc", "PROG1", cls="PathPlist", image=pend["image"], type=0)[0] == 0


def test_pending_connection_for_an_unknown_program_is_severed_with_ff(local, cms):
    b = cms
    got = local.call("connect", "PathPlist", vmid="B", pgm="NOSUCH", user="HELLO")
    pa = got["fields"]["pathid"]
    ev = eventually(lambda: local.drain(), what="CMS's sever of the unrouted connection")
    assert [e["type"] for e in ev] == [3]
    assert ev[0]["fields"]["pathid"] == pa and ev[0]["fields"]["ipuser"] == FF16
    assert b.events() == []                    # no program was told
    assert local.cc("sever", "PathPlist", pathid=pa) == 0


# -- iucvsevr ONE / ALL, iucvclr ------------------------------------------------------

def test_iucvsevr_all_severs_only_the_programs_own_paths(local, cms):
    b = cms
    pa1, pb1 = accept_routed(local, b, "PROG1")
    pa2, _ = accept_routed(local, b, "PROG1")
    pa3, _ = accept_routed(local, b, "PROG1")
    pa4, _ = accept_routed(local, b, "PROG2")
    rc, _ = s(b, "iucvsevr", "PROG1", cls="PathPlist", pathid=pb1, user="ONE")  # "ONE"
    assert rc == 0
    assert [(e["type"], e["fields"]["pathid"]) for e in local.drain()] == [(3, pa1)]
    cmd = {"op": "call", "fn": "iucvsevr", "module": "sasc", "cls": "PathPlist",
           "args": ["PROG1"], "fields": {"user": "ALLGONE"}, "kwargs": {"code": "ALL"}}
    got = b.request(cmd)
    assert got["cc"] == 0, got
    ev = local.drain()
    assert sorted((e["type"], e["fields"]["pathid"]) for e in ev) == [(3, pa2), (3, pa3)]
    assert all(e["fields"]["user"] == b"ALLGONE " for e in ev)
    send(local, pa4, b"PROG2 still connected", answer=None)   # PROG2's path untouched
    assert [e["type"] for e in events_of(b, 1)] == [9]


def test_iucvsevr_other_codes_mean_one(local, cms):
    b = cms
    pa1, pb1 = accept_routed(local, b, "PROG1")
    pa2, pb2 = accept_routed(local, b, "PROG1")
    cmd = {"op": "call", "fn": "iucvsevr", "module": "sasc", "cls": "PathPlist",
           "args": ["PROG1"], "fields": {"pathid": pb2}, "kwargs": {"code": "all"}}
    assert b.request(cmd)["cc"] == 0
    assert [(e["type"], e["fields"]["pathid"]) for e in local.drain()] == [(3, pa2)]


def test_iucvclr_severs_the_names_paths_and_the_last_ends_iucv(local, cms):
    b = cms
    pa1, _ = accept_routed(local, b, "PROG1")
    pa2, _ = accept_routed(local, b, "PROG2")
    assert s(b, "iucvclr", "PROG1")[0] == 0
    assert [(e["type"], e["fields"]["pathid"]) for e in local.drain()] == [(3, pa1)]
    assert s(b, "iucvclr", "PROG1")[0] == sasc.CMS_NOT_SET
    pend = local.call("connect", "PathPlist", vmid="B", pgm="PROG2")   # still declared
    assert pend["cc"] == 0
    events_of(b, 1)
    assert s(b, "iucvclr", "PROG2")[0] == 0
    assert sorted(e["fields"]["pathid"] for e in local.drain() if e["type"] == 3) == \
        sorted([pa2, pend["fields"]["pathid"]])
    got = local.call("connect", "PathPlist", vmid="B", pgm="PROG2")
    assert got["cc"] == 1 and got["fields"]["rcode"] == 12   # RETRIEVE BUFFER was issued
    assert s(b, "iucvset", "PROG3")[0] == 0                   # and IUCV can start again
    assert local.cc("connect", "PathPlist", vmid="B", pgm="PROG3") == 0


# -- the example ------------------------------------------------------------------------

def test_sasc_demo_runs_steps_1_to_11_in_order():
    before = {n for n in os.listdir("/dev/shm") if n.startswith("shmcp.sasc-demo-")}
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "sasc_demo.py")],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    seen = [(who, int(n)) for who, n in re.findall(r"(SENDER|RECEIVER)\s+step\s+(\d+):", out)]
    assert sorted({n for _, n in seen}) == list(range(1, 12)), out
    first = {}
    for i, key in enumerate(seen):
        first.setdefault(key, i)
    for who in ("SENDER", "RECEIVER"):  # each program reaches its steps in order
        own = [n for (w, n) in sorted(first, key=first.get) if w == who]
        assert own == sorted(own), (who, own)
    # the SAS/C guide's global order of the steps; 4 (receiver) and 5 (sender)
    # are concurrent, so only the causal chain and 3 < 5 < 7 are fixed
    chain = [("RECEIVER", 1), ("RECEIVER", 2), ("SENDER", 1), ("SENDER", 3),
             ("RECEIVER", 4), ("RECEIVER", 6), ("SENDER", 7), ("RECEIVER", 8),
             ("SENDER", 9), ("SENDER", 10), ("RECEIVER", 11)]
    assert [first[k] for k in chain] == sorted(first[k] for k in chain), out
    assert first[("SENDER", 3)] < first[("SENDER", 5)] < first[("SENDER", 7)], out
    # each line is one program's whole line (two processes share one pipe)
    for line in out.splitlines():
        assert re.match(r"(SENDER|RECEIVER) +(step +\d+|signal|end):|demo: ", line), \
            f"interleaved or stray output line {line!r} in:\n{out}"
    assert "SENDER and RECEIVER ran steps 1 to 11" in proc.stdout
    after = {n for n in os.listdir("/dev/shm") if n.startswith("shmcp.sasc-demo-")}
    assert after <= before, f"the demo left {sorted(after - before)} in /dev/shm"
