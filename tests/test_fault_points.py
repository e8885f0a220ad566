"""A VM killed at any named store inside the control lock leaves every table
consistent: the survivor sees each message exactly once, or gets it back
(IUCV: completed with IPADSVRD; VMCF: a RESPONSE), nothing hangs, and the
storage pool is back to where it started.

Each case starts a victim VM with SHMCP_FAULT=POINT@N (csrc/core: it
SIGKILLs itself the Nth time it reaches POINT), runs a scripted exchange
with a survivor until the victim dies, then checks the survivor's view.
Every wait is bounded; a hang fails the test.  The CI form runs each
point once; `make stress` (-m stress) runs each point at every reach of it
the script makes.
"""
from __future__ import annotations

import collections
import os
import signal
import time

import pytest

import shmcp
from iucv_rpc import LocalVM, RpcVM, connect_pair
from shmcp import iucv
from shmcp import vmcf as V
from shmcp.system import System
from vmcf_vms import VM as VmcfVM

BOUND = 15.0  # seconds any one wait may take before it counts as a hang

# point -> the reach of it the scripts below kill at (the Nth time)
IUCV_POINTS = {
    "iucv.connect": 1,        # V's CONNECT: a path half built
    "post": 2,                # V's first SEND: a claimed, unpublished slot
    "iucv.send.staged": 1,    # data staged, the MSGBLOK on no queue
    "iucv.send.queued": 1,    # the MSGBLOK queued, its 08 not
    "iucv.receive": 1,        # data copied out, still queued
    "iucv.receive.unlinked": 1,  # off the send queue, on no other
    "iucv.reply": 1,          # the reply staged, not completed
    "iucv.complete": 1,       # on A's reply queue, its 07 not queued
    "iucv.reject": 1,         # marked rejected, not completed
    "iucv.destroy": 1,        # PURGE: off its queue, not freed
    "iucv.sever": 1,          # A's end marked severed, its 03 not queued
    "iucv.sever.returned": 1,  # some of A's messages returned, not all
    "iucv.sever.freed": 1,    # V's end freed, the path not
    "logoff": 1,              # inside V's own LOGOFF
}
VMCF_POINTS = {
    "vmcf.send.staged": 1,    # V's SEND data staged, no entry names it
    "pool.alloc": 1,          # V's SENDX record's tag and data: a block no record names
    "vmcf.send.queued": 1,    # its SEND queued, the entry not
    "vmcf.receive": 1,        # A's data copied out, not RECEIVED
    "vmcf.reply": 1,          # the reply staged, no RESPONSE
    "vmcf.complete": 1,       # DONE, the RESPONSE not queued
    "queue.purge": 1,         # UNAUTHORIZE: a record off V's ring
}


class Victim(RpcVM):
    """An IUCV VM in a child process that kills itself at ``fault``."""

    def __init__(self, userid: str, fault: str, monkeypatch) -> None:
        with monkeypatch.context() as m:
            m.setenv("SHMCP_FAULT", fault)
            super().__init__(userid)

    def step(self, fn: str, cls: str | None = None, **kw) -> dict | None:
        """One call; None once the VM is dead (killed inside it)."""
        try:
            return self.call(fn, cls, **kw)
        except (EOFError, BrokenPipeError, OSError):
            return None


def died_by_its_fault(proc) -> None:
    try:
        rc = proc.wait(BOUND)
    except Exception:
        proc.kill()
        raise AssertionError("the victim never reached its fault point") from None
    assert rc == -signal.SIGKILL, f"the victim ended with {rc}, not at its fault point"


def wait_until(what: str, done) -> None:
    end = time.monotonic() + BOUND
    while not done():
        assert time.monotonic() < end, f"hang: no {what} within {BOUND} s"
        time.sleep(0.01)


def back_to_start(system: str, start: int) -> None:
    """Every block given back: the pool is where it was before the VMs."""
    with System.attach(system) as s:
        end = time.monotonic() + BOUND
        while s.storage_free() != start:
            assert time.monotonic() < end, \
                f"storage not back: {s.snapshot().storage.by_owner}, {s.snapshot().paths}"
            time.sleep(0.01)


def ended(vm, must_die: bool) -> bool:
    """The victim is dead (it must be, unless ``must_die`` is False: then
    one that ran the whole script is let go).  True if it was killed."""
    if not must_die and vm.proc.poll() is None:
        vm.close()
        return False
    died_by_its_fault(vm.proc)
    return True


def iucv_exchange(system: str, point: str, nth: int, monkeypatch, must_die: bool = True) -> None:
    """V connects to A; each sends messages; V receives, replies, rejects,
    purges, severs and logs off -- until it dies at ``point``."""
    shmcp.ipl(system)
    with System.attach(system) as s:
        start = s.storage_free()
    a = LocalVM("A")
    v = Victim("V", f"{point}@{nth}", monkeypatch)
    try:
        sent_by_v: set[int] = set()
        purged: set[int] = set()
        pa = None
        got = v.step("connect", "PathPlist", vmid=b"A")
        if got is not None:
            pv = got["fields"]["pathid"]
            pend = a.drain()
            assert [i["type"] for i in pend] == [1], pend
            pa = pend[0]["fields"]["pathid"]
            assert a.cc("accept", "PathPlist", image=pend[0]["fields"]["image"], type=0) == 0
        mine = []  # A's messages to V
        if pa is not None:
            for k in range(3):
                r = a.call("send", "MsgPlist", pathid=pa, bf1=b"a%d" % k,
                           bf2={"buf": f"ans{k}", "size": 8})
                assert r["cc"] == 0, r
                mine.append(r["fields"]["msgid"])
            script = [("drain",)]
            script += [("send", k) for k in range(2)]
            script += [("receive", mine[0]), ("reply", mine[0]), ("reject", mine[1]),
                       ("purge",), ("sever",), ("logoff",)]
            for step in script:
                op = step[0]
                if op == "drain":
                    try:
                        ok = v.request({"op": "drain"})
                    except (EOFError, BrokenPipeError, OSError):
                        ok = None
                elif op == "send":
                    ok = v.step("send", "MsgPlist", pathid=pv, bf1=b"v%d" % step[1],
                                bf2={"buf": f"vans{step[1]}", "size": 8})
                    if ok is not None:
                        assert ok["cc"] == 0, ok
                        sent_by_v.add(ok["fields"]["msgid"])
                elif op == "receive":
                    ok = v.step("receive", "MsgPlist", pathid=pv, msgid=step[1], trgcls=0,
                                flags1=iucv.IPFGMID | iucv.IPFGPID | iucv.IPFGMCL,
                                bf1={"buf": "in", "size": 8})
                elif op == "reply":
                    ok = v.step("reply", "MsgPlist", pathid=pv, msgid=step[1], trgcls=0,
                                bf2=b"r0")
                elif op == "reject":
                    ok = v.step("reject", "MsgPlist", pathid=pv, msgid=step[1], trgcls=0)
                elif op == "purge":
                    ok = v.step("purge", "MsgPlist", pathid=pv, flags1=iucv.IPFGPID)
                    if ok is not None and ok["cc"] == 0:
                        purged.add(ok["fields"]["msgid"])
                elif op == "sever":
                    ok = v.step("sever", "PathPlist", pathid=pv)
                else:
                    try:
                        ok = v.request({"op": "logoff"})
                    except (EOFError, BrokenPipeError, OSError):
                        ok = None
                if ok is None:
                    break
        killed = ended(v, must_die)
        with System.attach(system) as s:
            wait_until("LOGOFF of the killed VM", lambda: s.live_count() == 1)
        # A's view: a 03 for its path, each of its messages completed once,
        # each of V's messages received at most once (once if V saw it sent
        # and did not purge it); then nothing more comes
        seen: list[dict] = []
        if pa is not None:
            wait_until("path-severed interrupt",
                       lambda: seen.extend(a.drain()) or any(i["type"] == 3 for i in seen))
        received: list[int] = []
        while True:
            r = a.call("receive", "MsgPlist", bf1={"buf": "got", "size": 8})
            if r["cc"] == 2:
                break
            assert r["cc"] == 0, r
            received.append(r["fields"]["msgid"])
        seen.extend(a.drain())
        done = collections.Counter(i["fields"]["msgid"] for i in seen if i["type"] in (6, 7))
        assert sorted(done) == sorted(mine) and set(done.values()) <= {1}, (done, mine)
        pending = collections.Counter(i["fields"]["msgid"] for i in seen if i["type"] in (8, 9))
        assert set(pending.values()) <= {1}, f"a message interrupt shown twice: {pending}"
        assert len(received) == len(set(received)), f"a message received twice: {received}"
        assert sent_by_v - purged <= set(received), (sent_by_v, purged, received)
        assert not set(received) & purged
        if pa is not None:
            assert a.cc("sever", "PathPlist", pathid=pa) == 0
        assert sum(1 for i in seen if i["type"] == 3) <= 1, seen
        with System.attach(system) as s:
            assert s.lock_repairs() >= killed, "the victim died inside the lock"
    finally:
        v.close()
        a.close()
    back_to_start(system, start)


class VmcfVictim(VmcfVM):
    """A VMCF VM in a child process that kills itself at ``fault``."""

    def __init__(self, userid: str, fault: str, monkeypatch) -> None:
        with monkeypatch.context() as m:
            m.setenv("SHMCP_FAULT", fault)
            super().__init__(userid)

    def step(self, func: int, **kw) -> dict | None:
        try:
            return self.diag(func, **kw)
        except (EOFError, BrokenPipeError, OSError, ValueError, AssertionError):
            return None

    def alive_take(self) -> dict | None:
        try:
            return self.take()
        except (EOFError, BrokenPipeError, OSError, ValueError, AssertionError):
            return None


def vmcf_exchange(system: str, point: str, nth: int, monkeypatch, must_die: bool = True) -> None:
    """A sends V four messages; V sends two (a SENDX, whose tag and data
    are the record's trailing data, and a SEND/RECV, whose tag is its
    record's word), receives, replies, rejects, unauthorizes with one
    still queued, logs off -- until it dies."""
    shmcp.ipl(system)
    with System.attach(system) as s:
        start = s.storage_free()
    a = VmcfVM("A")
    a.expect("READY")
    v = VmcfVictim("V", f"{point}@{nth}", monkeypatch)
    v.expect("READY")
    try:
        assert a.rc(V.VMCPAUTH) == 0
        assert v.rc(V.VMCPAUTH) == 0
        for mid in range(3):
            assert a.rc(V.VMCPSENR, user="V", mid=mid, data="0102", reply=4) == 0
        for _ in range(3):
            assert "hdr" in v.take()
        assert a.rc(V.VMCPSEND, user="V", mid=3, data="03") == 0
        script = [
            (V.VMCPSENX, dict(user="A", mid=8, data="08")),
            (V.VMCPSENR, dict(user="A", mid=9, data="0909", reply=4)),
            (V.VMCPRECV, dict(user="A", mid=0, size=2)),
            (V.VMCPREPL, dict(user="A", mid=0, data="cafe")),
            (V.VMCPRJCT, dict(user="A", mid=1)),
            (V.VMCPUAUT, {}),
        ]
        v_sent = False
        for func, kw in script:
            got = v.step(func, **kw)
            if got is None:
                break
            assert got.get("rc") == 0, (func, got)
            v_sent = v_sent or func == V.VMCPSENR
        else:
            try:
                v.do("logoff")
            except (EOFError, BrokenPipeError, OSError, ValueError, AssertionError):
                pass
        killed = ended(v, must_die)
        with System.attach(system) as s:
            wait_until("LOGOFF of the killed VM", lambda: s.live_count() == 1)
        # A: one RESPONSE per message it sent, V's SEND shown at most once
        responses: collections.Counter = collections.Counter()
        sends: collections.Counter = collections.Counter()

        def take_all() -> bool:
            while (took := a.take()) != {"none": True}:
                h = V.Vmcmhdr.from_bytes(bytes.fromhex(took["hdr"]) + bytes.fromhex(took["buf"]))
                (responses if h.response else sends)[h.mid] += 1
            return sorted(responses) == [0, 1, 2, 3]

        wait_until("a RESPONSE to each of A's messages", take_all)
        time.sleep(0.05)
        take_all()
        assert set(responses.values()) == {1}, f"a RESPONSE twice: {responses}"
        assert set(sends) <= {8, 9} and set(sends.values()) <= {1}, sends
        with System.attach(system) as s:
            assert s.lock_repairs() >= killed, "the victim died inside the lock"
    finally:
        for vm in (v, a):
            vm.close()
            vm.kill()
    back_to_start(system, start)


@pytest.mark.parametrize("point", sorted(IUCV_POINTS))
def test_iucv_kill_at_point(system, monkeypatch, point):
    iucv_exchange(system, point, IUCV_POINTS[point], monkeypatch)


@pytest.mark.parametrize("point", sorted(VMCF_POINTS))
def test_vmcf_kill_at_point(system, monkeypatch, point):
    vmcf_exchange(system, point, VMCF_POINTS[point], monkeypatch)


# every reach of each point the scripts make (a kill later in the exchange)
STRESS = [("iucv", p, n) for p in IUCV_POINTS for n in range(2, 4)] + \
         [("vmcf", p, n) for p in VMCF_POINTS for n in range(2, 4)]


@pytest.mark.stress
@pytest.mark.parametrize("family,point,nth", STRESS)
def test_kill_at_later_reaches(system, monkeypatch, family, point, nth):
    """The Nth reach comes later in the script, or never (the victim then
    runs the whole script and leaves): the survivor's view is checked the
    same way."""
    run = iucv_exchange if family == "iucv" else vmcf_exchange
    run(system, point, nth, monkeypatch, must_die=False)


def test_a_pending_interrupt_shown_before_the_locks_repair_is_not_shown_again(system, monkeypatch):
    """A was shown V's 09 (presented without the lock) before V died inside
    the lock: after the lock's repair and V's LOGOFF A is not shown it
    again, and RECEIVEs its message once."""
    shmcp.ipl(system)
    a = LocalVM("A")
    v = Victim("V", "iucv.reject@1", monkeypatch)
    try:
        pv = v.step("connect", "PathPlist", vmid=b"A")["fields"]["pathid"]
        pend = a.drain()
        assert [i["type"] for i in pend] == [1], pend
        pa = pend[0]["fields"]["pathid"]
        assert a.cc("accept", "PathPlist", image=pend[0]["fields"]["image"], type=0) == 0
        sent = v.step("send", "MsgPlist", pathid=pv, bf1=b"v0", bf2={"buf": "vans", "size": 8})
        assert sent["cc"] == 0, sent
        shown = [i for i in a.drain() if i["type"] in (8, 9)]
        assert [i["fields"]["msgid"] for i in shown] == [sent["fields"]["msgid"]], shown
        r = a.call("send", "MsgPlist", pathid=pa, bf1=b"a0", bf2={"buf": "ans", "size": 8})
        assert r["cc"] == 0, r
        assert v.step("reject", "MsgPlist", pathid=pv, msgid=r["fields"]["msgid"],
                      trgcls=0) is None  # died inside the lock
        died_by_its_fault(v.proc)
        with System.attach(system) as s:
            wait_until("LOGOFF of the killed VM", lambda: s.live_count() == 1)
            assert s.lock_repairs() >= 1, "the victim died inside the lock"
        seen: list[dict] = []
        wait_until("path-severed interrupt",
                   lambda: seen.extend(a.drain()) or any(i["type"] == 3 for i in seen))
        got = a.call("receive", "MsgPlist", pathid=pa, msgid=sent["fields"]["msgid"], trgcls=0,
                     flags1=iucv.IPFGMID | iucv.IPFGPID | iucv.IPFGMCL, bf1={"buf": "in", "size": 8})
        assert got["cc"] == 0, got
        seen.extend(a.drain())
        assert not [i for i in seen if i["type"] in (8, 9)], f"a 09 shown again: {seen}"
        again = a.call("receive", "MsgPlist", pathid=pa, msgid=sent["fields"]["msgid"], trgcls=0,
                       flags1=iucv.IPFGMID | iucv.IPFGPID | iucv.IPFGMCL,
                       bf1={"buf": "in", "size": 8})
        assert again["cc"] == 2, again  # received once: gone
    finally:
        v.close()
        a.close()
