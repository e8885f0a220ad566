"""Free storage: every way an IUCV message can end gives its storage back
(docs/decisions.md: SEND and REPLY stage data in the pool)."""
from __future__ import annotations

import pytest

from shmcp import iucv
from iucv_rpc import connect_pair, local, only, pair, send, spawn  # noqa: F401
from vms import eventually

DATA = bytes(range(256)) * 16          # 4 KiB: its staging is visible in the pool
FG = iucv.IPFGMID | iucv.IPFGPID | iucv.IPFGMCL


def receive(vm, size=len(DATA), **kw):
    got = vm.call("receive", "MsgPlist", bf1={"buf": "r", "size": size}, **kw)
    return got


def _one_way_received(a, b, pa, pb):
    send(a, pa, DATA, answer=None)
    assert receive(b)["cc"] == 0
    only(a.drain(), 7)


def _replied_taken(a, b, pa, pb):
    m = send(a, pa, DATA, answer=len(DATA))
    assert receive(b)["cc"] == 0
    assert b.cc("reply", "MsgPlist", pathid=pb, msgid=m["msgid"], bf2=DATA) == 0
    only(a.drain(), 7)
    assert a.buf("ans") == DATA


def _replied_testcmpl(a, b, pa, pb):
    m = send(a, pa, DATA, answer=len(DATA))
    assert receive(b)["cc"] == 0
    assert b.cc("reply", "MsgPlist", pathid=pb, msgid=m["msgid"], bf2=DATA) == 0
    assert a.cc("testcmpl", "CompPlist") == 0
    assert a.drain() == []


def _reply_truncated(a, b, pa, pb):
    m = send(a, pa, DATA, answer=100)
    assert receive(b)["cc"] == 0
    assert b.call("reply", "MsgPlist", pathid=pb, msgid=m["msgid"], bf2=DATA)["cc"] == 1
    assert only(a.drain(), 7)["audit"] == iucv.IPADRPLE


def _rejected_queued(a, b, pa, pb):
    m = send(a, pa, DATA, answer=16)
    assert b.cc("reject", "MsgPlist", pathid=pb, msgid=m["msgid"]) == 0
    only(a.drain(), 7)


def _rejected_received(a, b, pa, pb):
    m = send(a, pa, DATA, answer=16)
    assert receive(b)["cc"] == 0
    assert b.cc("reject", "MsgPlist", pathid=pb, msgid=m["msgid"]) == 0
    assert a.cc("testcmpl", "CompPlist") == 3


def _purged_queued(a, b, pa, pb):
    send(a, pa, DATA, answer=16)
    assert a.cc("purge", "CompPlist") == 0


def _purged_partially_received(a, b, pa, pb):
    send(a, pa, DATA, answer=16)
    assert receive(b, size=10)["cc"] == 1
    assert a.cc("purge", "CompPlist") == 0


def _purged_received(a, b, pa, pb):
    send(a, pa, DATA, answer=16)
    assert receive(b)["cc"] == 0
    assert a.cc("purge", "CompPlist") == 0


def _purged_replied(a, b, pa, pb):
    m = send(a, pa, DATA, answer=len(DATA))
    assert receive(b)["cc"] == 0
    assert b.cc("reply", "MsgPlist", pathid=pb, msgid=m["msgid"], bf2=DATA) == 0
    assert a.cc("purge", "CompPlist") == 0
    assert a.drain() == []


def _prm_data_both_ways(a, b, pa, pb):
    # the pair has no IPRMDATA: a parameter-list reply is refused by audit
    m = send(a, pa, DATA, answer=8)
    assert receive(b)["cc"] == 0
    assert b.cc("reply", "MsgPlist", pathid=pb, msgid=m["msgid"], flags1=iucv.IPRMDATA,
                data=b"12345678") == 0
    assert only(a.drain(), 7)["audit"] == iucv.IPADPRMD


ENDINGS = [_one_way_received, _replied_taken, _replied_testcmpl, _reply_truncated,
           _rejected_queued, _rejected_received, _purged_queued, _purged_partially_received,
           _purged_received, _purged_replied, _prm_data_both_ways]


def test_every_way_a_message_can_end_gives_its_storage_back(pair):
    a, b, pa, pb = pair
    start = a.storage()
    b.drain()
    for ending in ENDINGS:
        before = a.storage()
        ending(a, b, pa, pb)
        b.drain()
        assert a.storage() == before == start, ending.__name__


def _in_flight(a, b, pa, pb):
    """Messages in every state, both directions, data and replies staged."""
    send(a, pa, DATA, answer=64, name="q1")                 # queued at B
    m2 = send(a, pa, DATA, answer=64, name="q2")            # received by B
    m3 = send(a, pa, DATA, answer=len(DATA), name="q3")     # replied, not taken
    m4 = send(a, pa, DATA, answer=None)                     # one-way, partially received
    b.drain()
    assert receive(b, flags1=FG, pathid=pb, msgid=m2["msgid"], trgcls=0)["cc"] == 0
    assert receive(b, flags1=FG, pathid=pb, msgid=m3["msgid"], trgcls=0)["cc"] == 0
    assert b.cc("reply", "MsgPlist", pathid=pb, msgid=m3["msgid"], bf2=DATA) == 0
    got = receive(b, size=100, flags1=FG, pathid=pb, msgid=m4["msgid"], trgcls=0)
    assert got["cc"] == 1 and got["fields"]["rcode"] == 5
    send(b, pb, DATA, answer=64, name="r1")                 # B's, queued at A
    n2 = send(b, pb, DATA, answer=len(DATA), name="r2")     # received and replied by A
    a.call("receive", "MsgPlist", flags1=FG, pathid=pa, msgid=n2["msgid"], trgcls=0,
           bf1={"buf": "r", "size": len(DATA)})
    assert a.cc("reply", "MsgPlist", pathid=pa, msgid=n2["msgid"], bf2=DATA) == 0


def _drain_until_severed(a, pa):
    got: list = []

    def severed():
        got.extend(a.drain())
        return any(i["type"] == 3 for i in got)

    eventually(severed, what="path severed interrupt")
    assert a.cc("sever", "PathPlist", pathid=pa) == 0


@pytest.mark.parametrize("how", ["source_severs", "target_severs", "rtrvbfr", "logoff",
                                 "exit", "kill9"])
def test_paths_ending_give_all_storage_back(local, spawn, how):
    a = local
    start = a.storage()
    b = spawn("B")
    pa, pb = connect_pair(a, b)
    _in_flight(a, b, pa, pb)
    assert a.storage() < start
    if how == "source_severs":
        assert a.cc("sever", "PathPlist", pathid=pa) == 0
        b.drain()
        assert b.cc("sever", "PathPlist", pathid=pb) == 0
    elif how == "target_severs":
        assert b.cc("sever", "PathPlist", pathid=pb) == 0
        _drain_until_severed(a, pa)
    elif how == "rtrvbfr":
        assert b.cc("rtrvbfr") == 0
        _drain_until_severed(a, pa)
    elif how == "logoff":
        b.logoff()
        _drain_until_severed(a, pa)
    elif how == "exit":
        assert b.exit(0) == 0
        _drain_until_severed(a, pa)
    else:
        b.proc.kill()
        b.proc.wait()
        _drain_until_severed(a, pa)
    a.drain()
    b_alive = b.proc.poll() is None
    if b_alive and how != "logoff":
        b.drain()
    assert a.storage() == start
