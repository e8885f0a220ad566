"""REPLY stages its data in the block that held the message (when it fits).

The reply of a two-way message goes into the pool block its RECEIVE just
read, and only when that block is large enough; otherwise into a block of
its own.  Either way the source sees exactly what IUCV says: the reply's
bytes (none of the message's left in the block), the residual, IPADRPLE and
IPRCODE 5 for a reply longer than the answer area; each block is freed
once, whoever ends first; a kill at any store of the hand-over leaves the
pool whole.  Real processes: the test process is VM A, children B and C."""
from __future__ import annotations

import mmap

import pytest

import shmcp
from iucv_rpc import connect_pair, local, only, send, spawn  # noqa: F401
from script_child import serving
from shmcp import MsgPlist, iucv
from test_fault_points import iucv_exchange
from test_storage_ownership import HOW, free_storage, gone, pattern

FG = iucv.IPFGPID | iucv.IPFGMID | iucv.IPFGMCL

# (message length, reply length, answer area): the reply against the message's block
SIZES = {
    "same size": (65536, 65536, 65536),
    "shorter": (65536, 1000, 65536),
    "longer, within the block": (3000, 4000, 8192),
    "longer than the block": (100, 70000, 131072),
    "longer than the answer area": (65536, 100000, 65536),
    "no message data": (0, 5000, 8192),
}


def exchange(a, b, pa, pb, request: bytes, reply: bytes, answer: int, flags: int = 0) -> dict:
    """A SENDs ``request`` two-way (answer area ``answer`` bytes), B
    RECEIVEs and REPLYs ``reply``: B's REPLY outcome, A's 07 and answer area."""
    sent = send(a, pa, request, answer=answer, flags=flags)
    pend = only(b.drain(), 9)
    assert pend["msgid"] == sent["msgid"]
    size = 8 if flags & iucv.IPRMDATA else max(len(request), 1)
    got = b.call("receive", "MsgPlist", flags1=FG, pathid=pb, msgid=sent["msgid"], trgcls=0,
                 bf1={"buf": "r", "size": size})
    assert got["cc"] == 0, got
    if not flags & iucv.IPRMDATA:
        assert got["bufs"]["r"][:len(request)] == request
    rep = b.call("reply", "MsgPlist", pathid=pb, msgid=sent["msgid"], trgcls=0, bf2=reply)
    done = only(a.drain(), iucv.IPTYPE_NONPRIORITY_MESSAGE_COMPLETE)
    assert done["msgid"] == sent["msgid"]
    return {"reply": rep, "done": done, "answer": a.buf("ans")}


@pytest.mark.parametrize("case", sorted(SIZES))
def test_the_reply_lands_whole_whichever_block_holds_it(local, spawn, system, case):
    a, b = local, spawn("B")
    start = free_storage(system)
    pa, pb = connect_pair(a, b)
    mlen, rlen, answer = SIZES[case]
    request, reply = pattern("request", mlen), pattern("reply", rlen)
    got = exchange(a, b, pa, pb, request, reply, answer)
    stored = min(rlen, answer)
    assert got["answer"][:stored] == reply[:stored], "the reply, byte for byte"
    assert got["answer"][stored:] == bytes(answer - stored), \
        "nothing beyond the reply written (none of the message's bytes)"
    if rlen > answer:  # truncated: CC1 IPRCODE 5, IPADRPLE, the bytes not stored
        assert got["reply"]["cc"] == 1 and got["reply"]["fields"]["rcode"] == 5
        assert got["reply"]["fields"]["bf2len"] == rlen - answer
        assert got["done"]["audit"] == iucv.IPADRPLE
        assert got["done"]["bf2len"] == rlen - answer
    else:
        assert got["reply"]["cc"] == 0 and got["reply"]["fields"]["bf2len"] == answer - rlen
        assert got["done"]["audit"] == 0 and got["done"]["bf2len"] == answer - rlen
    assert a.cc("sever", "PathPlist", pathid=pa) == 0
    b.drain()
    assert b.cc("sever", "PathPlist", pathid=pb) == 0
    assert free_storage(system) == start, "every block freed, none twice"


def test_a_reply_to_parameter_list_data_gets_a_block_of_its_own(local, spawn, system):
    a, b = local, spawn("B")
    start = free_storage(system)
    pa, pb = connect_pair(a, b, aflags=iucv.IPRMDATA)
    reply = pattern("reply", 3000)
    got = exchange(a, b, pa, pb, b"8 bytes!", reply, 4096, flags=iucv.IPRMDATA)
    assert got["reply"]["cc"] == 0 and got["done"]["bf2len"] == 4096 - 3000
    assert got["answer"] == reply + bytes(4096 - 3000)
    a.cc("sever", "PathPlist", pathid=pa)
    b.drain()
    b.cc("sever", "PathPlist", pathid=pb)
    assert free_storage(system) == start


def test_many_round_trips_leave_the_pool_where_it_was(local, spawn, system):
    """Replies shorter, equal and longer than their messages, in turn: the
    blocks handed from message to reply come back every time."""
    a, b = local, spawn("B")
    pa, pb = connect_pair(a, b)
    start = free_storage(system)
    for i in range(24):
        mlen = (4096, 65536, 300)[i % 3]
        rlen = (65536, 4096, 300, 70000)[i % 4]
        request, reply = pattern(f"q{i}", mlen), pattern(f"r{i}", rlen)
        got = exchange(a, b, pa, pb, request, reply, 70000)
        assert got["answer"][:rlen] == reply
        assert free_storage(system) == start, f"round trip {i} left storage held"


def received_from_b(a, spawn):
    """Child B SENDs A 64 KiB two-way and A RECEIVEs it: (b, A's path id, message id)."""
    b = spawn("B")
    pb, pa = connect_pair(b, a)
    sent = send(b, pb, pattern("B", 65536), answer=65536)
    only(a.drain(), 9)
    got = a.call("receive", "MsgPlist", flags1=FG, pathid=pa, msgid=sent["msgid"], trgcls=0,
                 bf1={"buf": "r", "size": 65536})
    assert got["cc"] == 0 and got["bufs"]["r"] == pattern("B", 65536)
    return b, pa, sent["msgid"]


@pytest.mark.parametrize("how", HOW)
def test_a_reply_after_its_source_is_gone_is_written_nowhere(local, spawn, system, how):
    """B's 64 KiB message, received by A; B ends; A's REPLY finds nobody to
    tell (CC0, the message destroyed).  C, logged on afterwards (perhaps in
    B's slot), gets nothing of it, and its own exchange is intact."""
    a = local
    start = free_storage(system)
    b, pa, msgid = received_from_b(a, spawn)
    gone(b, how, system)
    assert a.cc("reply", "MsgPlist", pathid=pa, msgid=msgid, trgcls=0,
                bf2=pattern("reply", 65536)) == 0
    assert any(i["type"] == iucv.IPTYPE_PATH_SEVERED for i in a.drain())
    assert a.cc("sever", "PathPlist", pathid=pa) == 0
    assert free_storage(system) == start
    c = spawn("C")
    pc, pac = connect_pair(c, a)
    assert c.drain() == []
    got = exchange(c, a, pc, pac, pattern("C", 65536), pattern("C reply", 65536), 65536)
    assert got["answer"] == pattern("C reply", 65536)


@pytest.mark.parametrize("how", HOW)
def test_a_staged_reply_whose_source_ends_is_freed_once(local, spawn, system, how):
    """The reply sits in the message's block on B's reply queue, its 07 not
    taken, when B ends: the block is freed once, with the message."""
    a = local
    start = free_storage(system)
    b, pa, msgid = received_from_b(a, spawn)
    assert a.cc("reply", "MsgPlist", pathid=pa, msgid=msgid, trgcls=0,
                bf2=pattern("reply", 60000)) == 0
    gone(b, how, system)
    assert any(i["type"] == iucv.IPTYPE_PATH_SEVERED for i in a.drain())
    assert a.cc("sever", "PathPlist", pathid=pa) == 0
    assert free_storage(system) == start


@pytest.mark.parametrize("point", ["iucv.reply.moved", "iucv.reply"])
def test_replier_killed_handing_the_block_over(system, monkeypatch, point):
    """The replier dies holding the lock between the block's two names (or
    with the reply staged in it): the lock's repair frees what nobody
    names, the source gets its completion once, the pool is whole."""
    iucv_exchange(system, point, 1, monkeypatch)


@pytest.mark.parametrize("area", ["mmap", "memoryview", "bytearray"])
def test_answer_areas_shared_or_private(local, spawn, system, area):
    """The answer area is written in the source's own process, whatever
    memory it is: a shared mapping, a slice of a private buffer, a bytearray."""
    a, b = local, spawn("B")
    start = free_storage(system)
    pa, pb = connect_pair(a, b)
    backing = {"mmap": lambda: mmap.mmap(-1, 65536), "memoryview": lambda: bytearray(65636),
               "bytearray": lambda: bytearray(65536)}[area]()
    answer = memoryview(backing)[100:] if area == "memoryview" else backing
    request, reply = pattern("request", 65536), pattern("reply", 65536)
    p = MsgPlist(pathid=pa, bf1=request, bf2=answer)
    assert iucv.send(p) == 0
    only(b.drain(), 9)
    assert b.call("receive", "MsgPlist", flags1=FG, pathid=pb, msgid=p.msgid, trgcls=0,
                  bf1={"buf": "r", "size": 65536})["cc"] == 0
    assert b.cc("reply", "MsgPlist", pathid=pb, msgid=p.msgid, trgcls=0, bf2=reply) == 0
    ev = a.vm.wait(30)
    assert ev.type == iucv.IPTYPE_NONPRIORITY_MESSAGE_COMPLETE and ev.bf2len == 0
    assert bytes(answer) == reply
    if area == "memoryview":
        assert backing[:100] == bytes(100), "nothing before the area written"
    del answer
    if area == "mmap":
        backing.close()
    a.cc("sever", "PathPlist", pathid=pa)
    b.drain()
    b.cc("sever", "PathPlist", pathid=pb)
    assert free_storage(system) == start


DOUBLING_SERVER = """
    import shmcp
    vm = shmcp.logon("server")
    vm.accept_all()
    print("READY", flush=True)
    for msg in vm.messages():
        msg.reply(msg.data + msg.data)
    """


def test_pythonic_reply_truncated_at_large_sizes(system):
    """ReplyTruncated for a 128 KiB reply to a 64 KiB message (the reply
    longer than the message's block); the whole reply when it fits."""
    big = pattern("pythonic", 65536)
    with serving(DOUBLING_SERVER), shmcp.logon("client") as vm:
        path = vm.connect("server", timeout=30)
        with pytest.raises(shmcp.ReplyTruncated) as cut:
            path.send(big, reply_size=65536, timeout=30)
        assert cut.value.data == big and cut.value.missing == 65536
        assert path.send(big, reply_size=131072, timeout=30) == big + big
        small = pattern("small", 3000)
        assert path.send(small, reply_size=6000, timeout=30) == small + small
        path.sever()
