"""VMCF: UNAUTHORIZE purges the VM's pending interrupts, and a REPLY that
meets a full queue changes nothing (QueueFull), so it can be retried."""
from __future__ import annotations

import pytest

import shmcp
from shmcp import vmcf as V
from test_vmcf import auth, hdr
from vmcf_vms import running

QUEUE = 256  # the smallest queue: stale RESPONSEs fill it in a few cycles


@pytest.fixture
def ab(system):
    shmcp.ipl(system, queue_size=QUEUE)
    with running("A", "B") as vms:
        yield vms


def answered_sends(a, b, count: int) -> None:
    """A sends ``count`` one-way SENDs to B, which receives each: A gets a
    RESPONSE per message and does not take them."""
    for mid in range(count):
        assert a.rc(V.VMCPSEND, user="B", mid=mid, data="ab") == 0
        assert "hdr" in b.take()
        assert b.diag(V.VMCPRECV, user="A", mid=mid, size=2)["rc"] == 0


def test_unauthorize_purges_pending_responses(ab):
    """RESPONSEs left untaken at UNAUTHORIZE are purged from the source's
    queue, not left to fill it: after more cycles than the queue holds, a
    sink's REPLY is queued and the source gets it."""
    a, b = ab
    auth(b)
    for _ in range(QUEUE // V.MSG_LIMIT + 2):
        auth(a)
        answered_sends(a, b, V.MSG_LIMIT)
        assert a.do("pending")["pending"] == V.MSG_LIMIT
        assert a.rc(V.VMCPUAUT) == 0
        assert a.do("pending")["pending"] == 0, "pending RESPONSEs are purged"
    auth(a)
    assert a.rc(V.VMCPSENR, user="B", mid=1, data="0102", reply=2) == 0
    b.take()
    assert b.rc(V.VMCPREPL, user="A", mid=1, data="cafe") == 0
    took = a.take()
    assert hdr(took).response and took["reply"] == "cafe"
    assert a.take() == {"none": True}


def test_unauthorize_keeps_records_it_does_not_own(ab, system):
    """Only VMCF's own (tagged) records are purged; one CP queued as is
    stays, in order."""
    a, b = ab
    auth(a, b)
    with shmcp.logon("cp") as cp:
        cp.queue_interrupt("a", b"\x01" * 40, facility="VMCF")
        answered_sends(a, b, 3)
        cp.queue_interrupt("a", b"\x02" * 40, facility="VMCF")
    assert a.rc(V.VMCPUAUT) == 0
    assert a.do("pending")["pending"] == 2
    assert "foreign" in a.take() and "foreign" in a.take()
    assert a.take() == {"none": True}


def test_reply_refused_by_a_full_queue_changes_nothing(ab):
    """The source's queue is full of must-deliver records: the sink's REPLY
    raises QueueFull and leaves the message as it was; once the source has
    taken them, the same REPLY goes through and the source gets its RESPONSE
    and data.  Storage is back to its start."""
    a, b = ab
    auth(a, b)
    free = a.do("storage")["free"]
    assert a.rc(V.VMCPSENR, user="B", mid=9, data="0102", reply=2) == 0
    b.take()
    with shmcp.logon("cp") as cp:
        filled = 0
        with pytest.raises(shmcp.QueueFull):
            while True:
                cp.queue_interrupt("a", bytes(40), facility="VMCF", must=True)
                filled += 1
    refused = b.diag(V.VMCPREPL, user="A", mid=9, data="beef")
    assert refused["error"] == "QueueFull", refused
    for _ in range(filled):
        assert "foreign" in a.take()
    assert b.rc(V.VMCPREPL, user="A", mid=9, data="beef") == 0, "the retried REPLY finds its message"
    took = a.take()
    assert hdr(took).response and hdr(took).mid == 9 and took["reply"] == "beef"
    assert a.take() == {"none": True}
    assert a.do("storage")["free"] == free


def test_a_userid_logged_on_again_elsewhere_is_found_there(system):
    """The core remembers where it last found a userid: after B logs off,
    X takes B's slot and B logs on in another, a SEND to B reaches the new
    B, never X."""
    shmcp.ipl(system)
    with running("A", "B") as (a, b):
        auth(a, b)
        assert a.rc(V.VMCPSEND, user="B", mid=1, data="ab") == 0
        assert hdr(b.take()).mid == 1
        assert b.diag(V.VMCPRECV, user="A", mid=1, size=2)["rc"] == 0
        assert hdr(a.take()).response
        b.close()
        with running("X", "B") as (x, b2):
            auth(x, b2)
            assert a.rc(V.VMCPSEND, user="B", mid=2, data="cd") == 0
            got = hdr(b2.take())
            assert (got.mid, got.user) == (2, b"A       ")
            assert x.take() == {"none": True}
            assert b2.diag(V.VMCPRECV, user="A", mid=2, size=2)["rc"] == 0
