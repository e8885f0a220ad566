"""System.snapshot(): the operator's view, checked against a scripted
scenario of real processes (this process is VM A, children B and C)."""
from __future__ import annotations

import math
import os
import signal

import pytest

import shmcp
from shmcp import iucv, vmcf
from shmcp.snapshot import ControlLockHeld
from shmcp.system import System
from iucv_rpc import connect_pair, local, send, spawn  # noqa: F401
from vms import Child, stop_inside_the_lock


def test_snapshot_shows_paths_queues_vmcf_storage_as_scripted(local, spawn):
    b, c = spawn("B"), spawn("C")
    pab, pba = connect_pair(local, b, msglim=5)
    pac, pca = connect_pair(local, c)
    # B's send queue: two two-way messages and a one-way one, in order
    m1 = send(local, pab, b"x" * 100, trgcls=7)["msgid"]
    m2 = send(local, pab, b"y" * 5000, name="ans2")["msgid"]
    m3 = send(local, pab, b"z" * 3, answer=None)["msgid"]
    # B receives the first: it moves to B's receive queue, awaiting REPLY
    got = b.call("receive", "MsgPlist", pathid=pba, bf1={"buf": "r", "size": 200})
    assert got["cc"] == 0 and got["fields"]["msgid"] == m1
    # C receives and replies: the message waits on A's reply queue
    m4 = send(local, pac, b"to C", name="ans3")["msgid"]
    assert c.cc("receive", "MsgPlist", pathid=pca, bf1={"buf": "r", "size": 10}) == 0
    assert c.cc("reply", "MsgPlist", pathid=pca, msgid=m4, bf2=b"answer") == 0
    # C quiesces its path: A's end may not SEND
    assert c.cc("quiesce", "PathPlist", pathid=pca) == 0
    assert vmcf.authorize(bytearray(169), smsg=True, priority=True) == 0
    assert vmcf.send("A", 77, b"to myself") == 0
    pending_before = local.vm.pending()

    with System.attach() as s:
        snap = s.snapshot()
        assert [v.userid for v in snap.vms] == ["A", "B", "C"]
        a, vb = snap.vm("a"), snap.vm("B")
        assert a.pid == os.getpid() and vb.pid == b.proc.pid
        assert a.state == "logged on" and vb.process in ("sleeping", "running")
        assert a.facilities == ["IUCV", "VMCF"] and vb.facilities == ["IUCV"]
        assert a.paths == 2 and vb.paths == 1 and a.maxconn == 64

        ends = {(p.userid, p.pathid): p for p in snap.paths}
        assert len(ends) == 4
        ab, ba = ends[("A", pab)], ends[("B", pba)]
        assert (ab.partner, ab.partner_pathid, ab.state) == ("B", pba, "active")
        assert (ba.partner, ba.partner_pathid, ab.index) == ("A", pab, ba.index)
        assert ab.msglim == ba.msglim == 5
        assert ab.outstanding == 3 and ba.outstanding == 0  # m1, m2, m3 not complete
        assert ends[("A", pac)].quiesced and not ends[("C", pca)].quiesced
        assert ends[("A", pac)].outstanding == 1  # m4: replied, completion not taken

        queues = [(m.userid, m.queue, m.msgid, m.pathid, m.length, m.oneway, m.trgcls)
                  for m in snap.messages]
        assert queues == [
            ("A", "reply", m4, pac, 4, False, 0),
            ("B", "send", m2, pba, 5000, False, 0),
            ("B", "send", m3, pba, 3, True, 0),
            ("B", "receive", m1, pba, 100, False, 7),
        ]
        assert [m.reply_length for m in snap.messages if m.queue == "reply"] == [6]

        va = next(v for v in snap.vmcf if v.userid == "A")
        assert va.authorized and va.smsg and va.priority and va.buffer == 169
        assert va.active_out == 1 and va.active_in == 1
        assert not next(v for v in snap.vmcf if v.userid == "B").authorized
        (vm_msg,) = snap.vmcf_messages
        assert (vm_msg.mid, vm_msg.source, vm_msg.sink, vm_msg.function, vm_msg.length) == \
            (77, "A", "A", "SEND", 9)

        st = snap.storage
        assert st.total == s.storage and st.used + st.free == st.total
        assert st.used >= 5000 and st.largest_free <= st.free
        assert sum(o.bytes for o in st.by_owner) == st.used
        held = {o.owner: o.bytes for o in st.by_owner}
        assert set(held) <= {"CP", "IUCV messages", "VMCF messages", "A", "B", "C"}
        assert held["IUCV messages"] >= 5000 and held["VMCF messages"] >= 9
        assert snap.counters.iucv_messages >= 4 and snap.counters.vmcf_messages >= 1
        assert snap.counters.tracers == 0 and snap.counters.traced == 0

        js = snap.to_json()
        assert set(js) == {"system", "time", "monotonic", "down", "vms", "paths", "messages",
                           "vmcf", "vmcf_messages", "storage", "counters"}
        assert js["messages"][0]["queue"] == "reply" and js["vms"][0]["userid"] == "A"

        # a second look consumed nothing: the same interrupts still wait
        assert s.snapshot().messages == snap.messages
    assert local.vm.pending() == pending_before > 0
    assert [i["type"] for i in local.drain()].count(iucv.IPTYPE_NONPRIORITY_MESSAGE_COMPLETE) == 1


def test_names_leaves_out_a_dead_vm_the_table_still_holds(system):
    """With no other VM to notice, a killed VM stays in the table until
    someone reaps it; names() and the snapshot's process state say so."""
    kid = Child("idle", "GHOST", "hang")
    kid.expect("READY")
    with System.attach(system) as s:
        assert s.names() == [("GHOST", kid.pid)]
        kid.kill()
        assert s.names() == []
        (v,) = s.snapshot().vms
        assert (v.userid, v.process) == ("GHOST", "gone")
        assert s.live_count() == 0  # the reap a query does not do


def test_a_stopped_lock_holder_is_named_and_bounds_the_wait(system):
    """A VM stopped (SIGSTOP) inside the control lock freezes the system:
    the snapshot gives up after its timeout and names the holder."""
    kid = Child("lockspin", "SPIN")
    try:
        kid.expect("READY")
        stop_inside_the_lock(kid, system)
        with System.attach(system) as s:
            with pytest.raises(ControlLockHeld) as err:
                s.snapshot(timeout=0.2)
            h = err.value.holder
            assert (h.pid, h.userid, h.process) == (kid.pid, "SPIN", "stopped")
            assert "held by PID" in str(err.value) and "stopped" in str(err.value)
            os.kill(kid.pid, signal.SIGCONT)
            assert s.snapshot(timeout=None).vm("SPIN") is not None
    finally:
        if kid.proc.poll() is None:
            os.kill(kid.pid, signal.SIGCONT)
        kid.kill()


def test_snapshot_rejects_a_bad_timeout(system):
    with shmcp.logon("a"), System.attach(system) as s:
        with pytest.raises(ValueError, match="timeout"):
            s.snapshot(timeout=-1)
        with pytest.raises(ValueError, match="timeout"):
            s.snapshot(timeout="soon")  # type: ignore[arg-type]
        for bad in (math.nan, True, -math.inf):
            with pytest.raises(ValueError, match="timeout"):
                s.snapshot(timeout=bad)
        for endless in (math.inf, 1e300):  # no limit, as None (was OverflowError)
            assert s.snapshot(timeout=endless).vm("A") is not None
