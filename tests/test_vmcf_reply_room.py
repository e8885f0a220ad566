"""VMCF: a RESPONSE always has room in its source's queue.  SEND-type
interrupts stop SHMCP_QUEUE_RESERVE slots short of a full ring, and a source
has at most MSG_LIMIT (50) messages, hence at most 50 RESPONSEs, owed: with
the queue as full of SEND interrupts as other sources can make it, every
sink's REPLY to every one of its messages is still queued and delivered."""
from __future__ import annotations

import pytest

import shmcp
from shmcp import vmcf as V
from shmcp._native import lib
from test_vmcf import auth, hdr
from vmcf_vms import running

QUEUE = 256  # the smallest queue


@pytest.fixture
def vms(system):
    shmcp.ipl(system, queue_size=QUEUE)
    with running("A", "C", "S1", "S2", "S3") as vms:
        yield vms


@pytest.mark.parametrize("priority", [False, True])
def test_replies_to_every_message_fit_a_queue_full_of_sends(vms, priority):
    a, c, *senders = vms
    flg1 = V.VMCPPRTY if priority else 0
    auth(*vms, flg1=V.VMCPPRTY)
    for mid in range(V.MSG_LIMIT):
        assert a.rc(V.VMCPSENR, flg1=flg1, user="C", mid=mid, data="0102", reply=4) == 0
    queued = 0
    for s in senders:  # SENDs to A (of A's class) until its queue refuses one
        for mid in range(V.MSG_LIMIT):
            got = s.diag(V.VMCPSEND, flg1=flg1, user="A", mid=mid)
            if got.get("error") == "QueueFull":
                break
            assert got == {"rc": 0}, got
            queued += 1
        else:
            continue
        break
    assert got.get("error") == "QueueFull", "A's queue never filled"
    assert queued == QUEUE - lib.SHMCP_QUEUE_RESERVE
    for mid in range(V.MSG_LIMIT):
        h = hdr(c.take())
        assert (h.func, h.mid) == (V.VMCPSENR, mid)
        assert c.rc(V.VMCPREPL, user="A", mid=mid, data=f"{mid:08x}") == 0, \
            "a REPLY is never refused for room in its source's queue"
    responses = {}
    for _ in range(queued + V.MSG_LIMIT):
        took = a.take()
        h = hdr(took)
        if h.response:
            responses[h.mid] = took["reply"]
    assert a.take() == {"none": True}
    assert responses == {mid: f"{mid:08x}" for mid in range(V.MSG_LIMIT)}
