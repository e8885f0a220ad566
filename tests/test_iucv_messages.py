"""IUCV messages (SEND ... TEST MESSAGE, the message interrupts, message
states and limits, ordering, parameter-list data) between real processes:
the test process is VM A, a child is B."""
from __future__ import annotations

import pytest

import shmcp
from shmcp import iucv
from iucv_rpc import (RpcError, connect_pair, local, only, pair, send, spawn)  # noqa: F401

FG = iucv.IPFGMID | iucv.IPFGPID | iucv.IPFGMCL


def mask_image(byte: int) -> bytes:
    return bytes([byte]) + bytes(39)


@pytest.fixture
def prio(local, spawn):
    """A and B on a path with priority and parameter-list data both ways."""
    b = spawn("B")
    flags = iucv.IPPRTY | iucv.IPRMDATA
    pa, pb = connect_pair(local, b, cflags=flags, aflags=flags)
    return local, b, pa, pb


def rc_of(got):
    assert got["cc"] == 1, got
    return got["fields"]["rcode"]


# -- SEND -----------------------------------------------------------------------

def test_send_rc1_invalid_path_id(pair):
    a, b, pa, pb = pair
    assert rc_of(a.call("send", "MsgPlist", pathid=9, flags1=iucv.IPNORPY, bf1=b"x")) == 1
    assert b.drain() == []


def test_send_rc1_on_a_path_not_yet_accepted(local, spawn):
    b = spawn("B")
    pa = local.call("connect", "PathPlist", vmid="B")["fields"]["pathid"]
    assert rc_of(local.call("send", "MsgPlist", pathid=pa, flags1=iucv.IPNORPY, bf1=b"x")) == 1


def test_send_rc2_quiesced(pair):
    a, b, pa, pb = pair
    b.cc("quiesce", "PathPlist", pathid=pb)
    assert rc_of(a.call("send", "MsgPlist", pathid=pa, bf1=b"x", bf2={"buf": "a", "size": 4})) == 2
    assert b.cc("describe", "MsgPlist") == 2


def test_send_rc3_message_limit_counts_until_the_completion_is_taken(local, spawn):
    b = spawn("B")
    pa, pb = connect_pair(local, b, msglim=2)
    m1 = send(local, pa, b"one", answer=4, name="a1")
    send(local, pa, b"two", answer=None)
    assert rc_of(local.call("send", "MsgPlist", pathid=pa, flags1=iucv.IPNORPY, bf1=b"3")) == 3
    b.drain()
    assert b.cc("receive", "MsgPlist", bf1={"buf": "r", "size": 8}) == 0   # m1, now replied
    assert b.cc("reply", "MsgPlist", pathid=pb, msgid=m1["msgid"], bf2=b"ok") == 0
    assert b.cc("receive", "MsgPlist", bf1={"buf": "r", "size": 8}) == 0   # one-way: complete
    # both complete, neither completion taken: still at the limit
    assert rc_of(local.call("send", "MsgPlist", pathid=pa, flags1=iucv.IPNORPY, bf1=b"3")) == 3
    assert local.cc("testcmpl", "CompPlist") == 0           # takes one
    send(local, pa, b"three", answer=None)
    assert rc_of(local.call("send", "MsgPlist", pathid=pa, flags1=iucv.IPNORPY, bf1=b"4")) == 3
    assert [i["type"] for i in local.drain()] == [7]        # takes the other
    send(local, pa, b"four", answer=None)
    # B's direction has its own count
    send(b, pb, b"b1", answer=None)
    send(b, pb, b"b2", answer=None)


def test_send_rc4_priority_not_allowed(pair):
    a, b, pa, pb = pair
    got = a.call("send", "MsgPlist", pathid=pa, flags1=iucv.IPPRTY | iucv.IPNORPY, bf1=b"x")
    assert rc_of(got) == 4
    assert b.drain() == []


@pytest.mark.parametrize("field", ["bf1len", "bf2len"])
def test_send_rc10_negative_length(pair, field):
    a, b, pa, pb = pair
    got = a.call("send", "MsgPlist", pathid=pa, bf1=b"x", bf2={"buf": "a", "size": 4},
                 **{field: 0xFFFFFFFF})
    assert rc_of(got) == 10
    assert b.drain() == []


def test_send_rc21_parameter_list_data_not_allowed(pair):
    a, b, pa, pb = pair
    got = a.call("send", "MsgPlist", pathid=pa, flags1=iucv.IPRMDATA | iucv.IPNORPY,
                 data=b"12345678")
    assert rc_of(got) == 21
    assert b.drain() == []


def test_parameter_list_data_one_way(prio):
    a, b, pa, pb = prio
    f = send(a, pa, b"ABCDEFGH", answer=None, flags=iucv.IPRMDATA, trgcls=3)
    ev = only(b.drain(), 9)
    assert ev["flags1"] == iucv.IPRMDATA | iucv.IPNORPY
    assert ev["image"][12:20] == b"ABCDEFGH" and ev["msgid"] == f["msgid"]
    got = b.call("receive", "MsgPlist")
    assert got["cc"] == 0 and got["fields"]["data"] == b"ABCDEFGH"
    c = only(a.drain(), 7)      # one-way parameter-list messages complete too (decisions.md)
    assert c["msgid"] == f["msgid"] and c["flags1"] & iucv.IPNORPY and c["audit"] == 0


# -- message-pending and message-complete layouts (7.5, 7.6) ------------------------------

def test_two_way_message_pending_and_complete_layouts(pair):
    a, b, pa, pb = pair
    f = send(a, pa, b"hello, B", answer=32, trgcls=0x11223344, srccls=0x55667788,
             msgtag=0x0BADF00D)
    ev = only(b.drain(), 9)
    img = ev["image"]
    assert int.from_bytes(img[0:2], "big") == pb
    assert img[2] == 0 and img[3] == iucv.IPTYPE_NONPRIORITY_MESSAGE_PENDING == 9
    assert int.from_bytes(img[4:8], "big") == f["msgid"] != 0   # the same id at both ends
    assert int.from_bytes(img[8:12], "big") == 0x11223344
    assert int.from_bytes(img[16:20], "big") == 8                # message length
    assert img[20:32] == bytes(12)    # source class and tag are never shown to the target
    assert int.from_bytes(img[32:36], "big") == 32               # answer area size
    assert img[36:40] == bytes(4)
    got = b.call("receive", "MsgPlist", bf1={"buf": "r", "size": 8})
    assert got["cc"] == 0 and got["bufs"]["r"] == b"hello, B"
    assert got["fields"]["bf1len"] == 0 and got["fields"]["bf2len"] == 32
    assert got["fields"]["trgcls"] == 0x11223344 and got["fields"]["pathid"] == pb
    rep = b.call("reply", "MsgPlist", pathid=pb, msgid=f["msgid"], trgcls=0x11223344,
                 bf2=b"HELLO")
    assert rep["cc"] == 0 and rep["fields"]["bf2len"] == 27
    c = only(a.drain(), 7)
    img = c["image"]
    assert int.from_bytes(img[0:2], "big") == pa
    assert img[2] == 0 and img[3] == iucv.IPTYPE_NONPRIORITY_MESSAGE_COMPLETE == 7
    assert int.from_bytes(img[4:8], "big") == f["msgid"]
    assert img[8:12] == bytes(4)                                 # audit 0
    assert int.from_bytes(img[20:24], "big") == 0x55667788
    assert int.from_bytes(img[24:28], "big") == 0x0BADF00D
    assert img[28:32] == bytes(4)
    assert int.from_bytes(img[32:36], "big") == 27               # answer residual
    assert a.buf("ans")[:5] == b"HELLO" and a.buf("ans")[5:] == bytes(27)


def test_answer_area_is_written_before_the_completion_handler_runs(local, spawn):
    s = spawn("S", "--handler")
    from vms import eventually
    got = s.call("connect", "PathPlist", vmid="A")
    pend = only(local.drain(), 1)
    local.call("accept", "PathPlist", image=pend["image"], type=0)
    eventually(lambda: s.events(), what="connection complete in the handler")
    send(s, got["fields"]["pathid"], b"question", answer=8, name="answer")
    m = only(local.drain(), 9)
    local.call("receive", "MsgPlist", bf1={"buf": "r", "size": 8})
    local.call("reply", "MsgPlist", pathid=pend["pathid"], msgid=m["msgid"], bf2=b"ANSWER!!")
    evs = eventually(lambda: s.events(), what="message complete in the handler")
    assert [e["type"] for e in evs] == [7]
    assert evs[0]["bufs"]["answer"] == b"ANSWER!!"


def test_one_way_message(pair):
    a, b, pa, pb = pair
    f = send(a, pa, b"fire and forget", answer=None, srccls=5)
    ev = only(b.drain(), 9)
    assert ev["flags1"] == iucv.IPNORPY and ev["bf2len"] == 0
    got = b.call("receive", "MsgPlist", bf1={"buf": "r", "size": 20})
    assert got["cc"] == 0 and got["fields"]["flags1"] & iucv.IPNORPY
    assert got["fields"]["bf1len"] == 5
    c = only(a.drain(), 7)
    assert c["msgid"] == f["msgid"] and c["flags1"] == iucv.IPNORPY and c["srccls"] == 5
    # no REPLY to a one-way message
    assert b.cc("reply", "MsgPlist", pathid=pb, msgid=f["msgid"], bf2=b"no") != 0
    assert a.drain() == []


def test_zero_length_message_and_reply(pair):
    a, b, pa, pb = pair
    f = send(a, pa, b"", answer=0)
    assert only(b.drain(), 9)["bf1len"] == 0
    got = b.call("receive", "MsgPlist", bf1={"buf": "r", "size": 0})
    assert got["cc"] == 0 and got["fields"]["bf1len"] == 0
    assert b.cc("reply", "MsgPlist", pathid=pb, msgid=f["msgid"], bf2=b"") == 0
    c = only(a.drain(), 7)
    assert c["audit"] == 0 and c["bf2len"] == 0


# -- priority ordering (section 9) ---------------------------------------------------

def test_priority_messages_go_ahead_on_the_send_queue(prio):
    a, b, pa, pb = prio
    ids = {}
    for name, flags in [("n1", 0), ("p1", iucv.IPPRTY), ("n2", 0), ("p2", iucv.IPPRTY)]:
        ids[name] = send(a, pa, name.encode(), answer=None, flags=flags)["msgid"]
    assert sorted(i["type"] for i in b.drain()) == [8, 8, 9, 9]
    d = b.call("describe", "MsgPlist")
    assert d["fields"]["msgid"] == ids["p1"] and d["fields"]["flags1"] & iucv.IPPRTY
    order = []
    for _ in range(4):
        got = b.call("receive", "MsgPlist", bf1={"buf": "r", "size": 2})
        order.append(got["bufs"]["r"].decode())
        assert bool(got["fields"]["flags1"] & iucv.IPPRTY) == order[-1].startswith("p")
    assert order == ["p1", "p2", "n1", "n2"]


def test_priority_replies_go_ahead_on_the_reply_queue(prio):
    a, b, pa, pb = prio
    ids = [send(a, pa, b"m%d" % i, answer=4, name=f"a{i}")["msgid"] for i in range(4)]
    b.drain()
    for _ in ids:
        assert b.cc("receive", "MsgPlist", bf1={"buf": "r", "size": 2}) == 0
    for i, msgid in enumerate(ids):
        flags = iucv.IPPRTY if i % 2 else 0
        assert b.cc("reply", "MsgPlist", pathid=pb, msgid=msgid, flags1=flags,
                    bf2=b"r%d" % i) == 0
    order = []
    for _ in ids:
        got = a.call("testcmpl", "CompPlist")
        assert got["cc"] == 0
        order.append(got["fields"]["msgid"])
        assert bool(got["fields"]["flags1"] & iucv.IPPRTY) == (ids.index(order[-1]) % 2 == 1)
    assert order == [ids[1], ids[3], ids[0], ids[2]]
    assert a.drain() == []  # the completions TEST COMPLETION took are not presented
    assert a.buf("a1")[:2] == b"r1" and a.buf("a2")[:2] == b"r2"


def test_priority_reply_gives_type_06(prio):
    a, b, pa, pb = prio
    f = send(a, pa, b"q", answer=4)
    b.drain()
    b.call("receive", "MsgPlist", bf1={"buf": "r", "size": 1})
    b.call("reply", "MsgPlist", pathid=pb, msgid=f["msgid"], flags1=iucv.IPPRTY, bf2=b"a")
    c = only(a.drain(), 6)
    assert c["flags1"] & iucv.IPPRTY


# -- RECEIVE --------------------------------------------------------------------------

@pytest.fixture
def two_paths(local, spawn):
    """A with two paths to B; on them: m1 (class 1, path 1), m2 (class 2, path
    1), m3 (class 1, path 2).  Returns (a, b, B's path ids, message ids)."""
    b = spawn("B")
    pa1, pb1 = connect_pair(local, b)
    pa2, pb2 = connect_pair(local, b)
    ids = [send(local, pa, d, answer=None, trgcls=c)["msgid"]
           for pa, d, c in [(pa1, b"m1", 1), (pa1, b"m2", 2), (pa2, b"m3", 1)]]
    b.drain()
    return local, b, (pb1, pb2), ids


def _recv(b, **fields):
    return b.call("receive", "MsgPlist", bf1={"buf": "r", "size": 2}, **fields)


def test_receive_by_class(two_paths):
    a, b, (pb1, pb2), ids = two_paths
    got = _recv(b, flags1=iucv.IPFGMCL, trgcls=2)
    assert got["cc"] == 0 and got["bufs"]["r"] == b"m2" and got["fields"]["msgid"] == ids[1]


def test_receive_by_path(two_paths):
    a, b, (pb1, pb2), ids = two_paths
    got = _recv(b, flags1=iucv.IPFGPID, pathid=pb2)
    assert got["cc"] == 0 and got["bufs"]["r"] == b"m3" and got["fields"]["pathid"] == pb2


def test_receive_by_path_and_class(two_paths):
    a, b, (pb1, pb2), ids = two_paths
    got = _recv(b, flags1=iucv.IPFGPID | iucv.IPFGMCL, pathid=pb1, trgcls=2)
    assert got["bufs"]["r"] == b"m2"
    assert _recv(b, flags1=iucv.IPFGPID | iucv.IPFGMCL, pathid=pb2, trgcls=2)["cc"] == 2


def test_receive_without_selector_takes_the_head_then_cc2(two_paths):
    a, b, _, ids = two_paths
    for want in (b"m1", b"m2", b"m3"):
        assert _recv(b)["bufs"]["r"] == want
    assert _recv(b)["cc"] == 2


def test_receive_by_full_message_id(two_paths):
    a, b, (pb1, pb2), ids = two_paths
    got = _recv(b, flags1=FG, pathid=pb2, msgid=ids[2], trgcls=1)
    assert got["cc"] == 0 and got["bufs"]["r"] == b"m3"


def test_receive_rc8_message_id_with_wrong_class_or_path(two_paths):
    a, b, (pb1, pb2), ids = two_paths
    assert rc_of(_recv(b, flags1=FG, pathid=pb1, msgid=ids[0], trgcls=9)) == 8
    assert rc_of(_recv(b, flags1=FG, pathid=pb2, msgid=ids[0], trgcls=1)) == 8
    assert _recv(b)["bufs"]["r"] == b"m1"  # still there


def test_receive_rc1_invalid_path_id(two_paths):
    a, b, _, ids = two_paths
    assert rc_of(_recv(b, flags1=iucv.IPFGPID, pathid=40)) == 1


def test_receive_cc2_with_nothing_queued(pair):
    a, b, pa, pb = pair
    assert _recv(b)["cc"] == 2


def test_residual_rule_and_partial_receive_continued_with_the_same_plist(pair):
    a, b, pa, pb = pair
    f = send(a, pa, b"0123456789", answer=None, trgcls=4)
    b.drain()
    got = b.call("receive", "MsgPlist", plist="rp", bf1={"buf": "r1", "size": 4})
    assert rc_of(got) == iucv.IPRC_BUFFER_TOO_SHORT == 5
    fl = got["fields"]
    assert fl["bf1len"] == 6 and got["bufs"]["r1"] == b"0123"
    assert fl["flags1"] & FG == FG and fl["msgid"] == f["msgid"] and fl["trgcls"] == 4
    assert a.drain() == []                   # not complete
    assert _recv(b)["cc"] == 2               # a partial message needs its full id
    got = b.call("receive", "MsgPlist", plist="rp", bf1={"buf": "r2", "size": 4})
    assert rc_of(got) == 5 and got["fields"]["bf1len"] == 2 and got["bufs"]["r2"] == b"4567"
    got = b.call("receive", "MsgPlist", plist="rp", bf1={"buf": "r3", "size": 4})
    assert got["cc"] == 0 and got["fields"]["bf1len"] == 2 and got["bufs"]["r3"] == b"89\0\0"
    assert only(a.drain(), 7)["msgid"] == f["msgid"]


def test_residual_exact_is_zero(pair):
    a, b, pa, pb = pair
    send(a, pa, b"12345", answer=None)
    got = b.call("receive", "MsgPlist", bf1={"buf": "r", "size": 5})
    assert got["cc"] == 0 and got["fields"]["bf1len"] == 0


# -- REPLY ----------------------------------------------------------------------------

def _received(a, b, pa, data=b"question", answer=4, **kw):
    f = send(a, pa, data, answer=answer, **kw)
    b.drain()
    assert b.cc("receive", "MsgPlist", bf1={"buf": "r", "size": 64}) == 0
    return f["msgid"]


def test_reply_longer_than_the_answer_area_is_truncated(pair):
    a, b, pa, pb = pair
    mid = _received(a, b, pa, answer=4)
    got = b.call("reply", "MsgPlist", pathid=pb, msgid=mid, bf2=b"0123456789")
    assert rc_of(got) == 5 and got["fields"]["bf2len"] == 6
    c = a.call("testcmpl", "CompPlist")
    assert c["cc"] == 3                                   # nonzero audit
    assert c["fields"]["audit"] == iucv.IPADRPLE and c["fields"]["bf2len"] == 6
    assert a.buf("ans") == b"0123"


def test_reply_exact_and_shorter_residuals(pair):
    a, b, pa, pb = pair
    mid = _received(a, b, pa, answer=4, name="exact")
    assert b.call("reply", "MsgPlist", pathid=pb, msgid=mid,
                  bf2=b"abcd")["fields"]["bf2len"] == 0
    c = only(a.drain(), 7)
    assert c["bf2len"] == 0 and c["audit"] == 0 and a.buf("exact") == b"abcd"


def test_parameter_list_reply_the_source_did_not_allow_sets_ipadprmd(pair):
    a, b, pa, pb = pair
    mid = _received(a, b, pa, answer=8)
    got = b.call("reply", "MsgPlist", pathid=pb, msgid=mid, flags1=iucv.IPRMDATA,
                 data=b"PRMREPLY")
    assert got["cc"] == 0
    c = only(a.drain(), 7)
    assert c["audit"] == iucv.IPADPRMD and not c["flags1"] & iucv.IPRMDATA
    assert c["data"] == bytes(8) and a.buf("ans") == bytes(8)


def test_parameter_list_reply(prio):
    a, b, pa, pb = prio
    mid = _received(a, b, pa, answer=8)
    assert b.cc("reply", "MsgPlist", pathid=pb, msgid=mid, flags1=iucv.IPRMDATA,
                data=b"PRMREPLY") == 0
    c = only(a.drain(), 7)
    assert c["audit"] == 0 and c["flags1"] & iucv.IPRMDATA and c["data"] == b"PRMREPLY"


def test_reply_rc1_rc8_cc2(pair):
    a, b, pa, pb = pair
    mid = _received(a, b, pa, trgcls=6)
    assert rc_of(b.call("reply", "MsgPlist", pathid=33, msgid=mid, trgcls=6, bf2=b"x")) == 1
    assert rc_of(b.call("reply", "MsgPlist", pathid=pb, msgid=mid, trgcls=7, bf2=b"x")) == 8
    assert b.cc("reply", "MsgPlist", pathid=pb, msgid=mid + 100, trgcls=6, bf2=b"x") == 2
    assert a.drain() == []
    assert b.cc("reply", "MsgPlist", pathid=pb, msgid=mid, trgcls=6, bf2=b"x") == 0


def test_reply_to_a_message_not_yet_received_is_cc2(pair):
    a, b, pa, pb = pair
    f = send(a, pa, b"q", answer=4)
    assert b.cc("reply", "MsgPlist", pathid=pb, msgid=f["msgid"], bf2=b"x") == 2


# -- REJECT ------------------------------------------------------------------------------

@pytest.mark.parametrize("received", [False, True])
def test_reject(pair, received):
    a, b, pa, pb = pair
    f = send(a, pa, b"unwanted", answer=4, trgcls=2, srccls=3, msgtag=4)
    b.drain()
    if received:
        assert b.cc("receive", "MsgPlist", bf1={"buf": "r", "size": 8}) == 0
    got = b.call("reject", "MsgPlist", pathid=pb, msgid=f["msgid"], trgcls=2)
    assert got["cc"] == 0
    c = only(a.drain(), 7)
    assert c["audit"] == iucv.IPADRJCT and c["msgid"] == f["msgid"]
    assert c["srccls"] == 3 and c["msgtag"] == 4 and c["bf2len"] == 4
    assert b.cc("describe", "MsgPlist") == 2


def test_reject_rc1_rc8_cc2(pair):
    a, b, pa, pb = pair
    f = send(a, pa, b"q", answer=4, trgcls=2)
    assert rc_of(b.call("reject", "MsgPlist", pathid=30, msgid=f["msgid"], trgcls=2)) == 1
    assert rc_of(b.call("reject", "MsgPlist", pathid=pb, msgid=f["msgid"], trgcls=1)) == 8
    assert b.cc("reject", "MsgPlist", pathid=pb, msgid=f["msgid"] + 1, trgcls=2) == 2
    assert a.drain() == []


# -- PURGE ---------------------------------------------------------------------------------

def test_purge_before_the_target_took_its_interrupt(pair):
    a, b, pa, pb = pair
    f = send(a, pa, b"never mind", answer=4, srccls=8, msgtag=9, trgcls=1)
    got = a.call("purge", "CompPlist", flags1=iucv.IPFGMID | iucv.IPFGPID, pathid=pa,
                 msgid=f["msgid"])
    assert got["cc"] == 0
    fl = got["fields"]
    assert fl["audit"] == 0 and fl["msgid"] == f["msgid"] and fl["pathid"] == pa
    assert fl["srccls"] == 8 and fl["msgtag"] == 9 and fl["flags1"] == 0
    assert b.drain() == []                       # the pending interrupt is withdrawn
    assert b.cc("describe", "MsgPlist") == 2
    assert b.cc("reject", "MsgPlist", pathid=pb, msgid=f["msgid"], trgcls=1) == 2
    assert a.drain() == []                       # no completion for a purge


def test_purge_after_receive_and_after_reply(pair):
    a, b, pa, pb = pair
    mid = _received(a, b, pa)
    assert a.cc("purge", "CompPlist") == 0       # the oldest of A's messages
    assert b.cc("reply", "MsgPlist", pathid=pb, msgid=mid, bf2=b"x") == 2
    mid = _received(a, b, pa, name="ans2")
    assert b.cc("reply", "MsgPlist", pathid=pb, msgid=mid, bf2=b"late") == 0
    got = a.call("purge", "CompPlist", flags1=iucv.IPFGMID | iucv.IPFGPID, pathid=pa, msgid=mid)
    assert got["cc"] == 0
    assert a.drain() == []                       # its completion interrupt withdrawn
    assert a.cc("testcmpl", "CompPlist") == 2


def test_purge_rc1_rc8_cc2(pair):
    a, b, pa, pb = pair
    assert a.cc("purge", "CompPlist") == 2
    f = send(a, pa, b"q", answer=None, srccls=5)
    assert rc_of(a.call("purge", "CompPlist", flags1=iucv.IPFGPID, pathid=50)) == 1
    got = a.call("purge", "CompPlist", flags1=iucv.IPFGMID | iucv.IPFGPID | iucv.IPFGMCL,
                 pathid=pa, msgid=f["msgid"], srccls=6)
    assert rc_of(got) == 8
    assert a.call("purge", "CompPlist", flags1=iucv.IPFGMCL, srccls=6)["cc"] == 2
    assert a.call("purge", "CompPlist", flags1=iucv.IPFGMCL, srccls=5)["cc"] == 0


# -- DESCRIBE ---------------------------------------------------------------------------

def test_describe_is_the_pending_message_layout_plus_selector_flags(pair):
    a, b, pa, pb = pair
    send(a, pa, b"describe me", answer=12, trgcls=77)
    ev = only(b.drain(), 9)
    d = b.call("describe", "MsgPlist", plist="d")
    assert d["cc"] == 0
    img, ei = d["fields"]["image"], ev["image"]
    assert img[0:2] == ei[0:2] and img[4:36] == ei[4:36]
    assert img[2] == ei[2] | FG and img[3] == 0
    # the plist is valid input for RECEIVE as it stands
    got = b.call("receive", "MsgPlist", plist="d", bf1={"buf": "r", "size": 11})
    assert got["cc"] == 0 and got["bufs"]["r"] == b"describe me"
    assert b.cc("describe", "MsgPlist") == 2


def test_describe_output_reissued_as_reject(pair):
    a, b, pa, pb = pair
    send(a, pa, b"x", answer=2, trgcls=5)
    b.call("describe", "MsgPlist", plist="d")
    assert b.cc("reject", "MsgPlist", plist="d") == 0
    assert only(a.drain(), 7)["audit"] == iucv.IPADRJCT


# -- TEST COMPLETION --------------------------------------------------------------------

def test_testcmpl(pair):
    a, b, pa, pb = pair
    assert a.cc("testcmpl", "CompPlist") == 2
    ids = [send(a, pa, b"q", answer=4, name=f"a{i}", srccls=10 + i, msgtag=i)["msgid"]
           for i in range(3)]
    b.drain()
    for msgid in ids:
        b.call("receive", "MsgPlist", bf1={"buf": "r", "size": 1})
        b.call("reply", "MsgPlist", pathid=pb, msgid=msgid, bf2=b"r%d" % (msgid % 10))
    assert rc_of(a.call("testcmpl", "CompPlist", flags1=iucv.IPFGPID, pathid=60)) == 1
    assert rc_of(a.call("testcmpl", "CompPlist", flags1=FG, pathid=pa, msgid=ids[0],
                        srccls=99)) == 8
    got = a.call("testcmpl", "CompPlist", flags1=iucv.IPFGMCL, srccls=12)
    assert got["cc"] == 0 and got["fields"]["msgid"] == ids[2] and got["fields"]["msgtag"] == 2
    assert got["fields"]["bf2len"] == 2 and a.buf("a2")[:2] == b"r%d" % (ids[2] % 10)
    got = a.call("testcmpl", "CompPlist", flags1=FG, pathid=pa, msgid=ids[1], srccls=11)
    assert got["cc"] == 0 and got["fields"]["msgid"] == ids[1]
    assert [i["fields"]["msgid"] for i in a.drain()] == [ids[0]]


def test_testcmpl_cc3_on_nonzero_audit(pair):
    a, b, pa, pb = pair
    f = send(a, pa, b"q", answer=4)
    b.call("reject", "MsgPlist", pathid=pb, msgid=f["msgid"])
    got = a.call("testcmpl", "CompPlist")
    assert got["cc"] == 3 and got["fields"]["audit"] == iucv.IPADRJCT
    assert a.drain() == []


# -- TEST MESSAGE --------------------------------------------------------------------------

def test_testmsg_cc1_cc2_cc3(pair):
    a, b, pa, pb = pair
    m = send(a, pa, b"q", answer=4)
    assert b.cc("testmsg") == 1                     # a message on B's send queue
    send(b, pb, b"one way", answer=None)
    a.call("receive", "MsgPlist", flags1=iucv.IPFGPID, pathid=pa, bf1={"buf": "r", "size": 8})
    assert b.cc("testmsg") == 3                     # and a completion on its reply queue
    assert b.cc("testcmpl", "CompPlist") == 0
    assert b.cc("testmsg") == 1
    assert b.cc("reject", "MsgPlist", pathid=pb, msgid=m["msgid"]) == 0
    assert a.cc("testmsg") == 2                     # A: only a completion


def test_testmsg_waits_until_something_arrives(pair):
    a, b, pa, pb = pair
    b.submit({"op": "call", "fn": "testmsg", "module": "iucv", "cls": None, "args": []})
    send(a, pa, b"wake up", answer=None)
    got = b.collect()
    assert got["cc"] == 1


# -- SET MASK for message interrupts -------------------------------------------------------

def test_setmask_holds_message_pending_interrupts(pair):
    a, b, pa, pb = pair
    assert b.cc("setmask", "PathPlist",
                image=mask_image(iucv.IPRPYN | iucv.IPRPYP | iucv.IPCTRL)) == 0
    f = send(a, pa, b"masked", answer=None)
    assert b.drain() == []
    d = b.call("describe", "MsgPlist")
    assert d["cc"] == 0 and d["fields"]["msgid"] == f["msgid"]
    assert b.cc("setmask", "PathPlist", image=mask_image(0xF8)) == 0
    assert only(b.drain(), 9)["msgid"] == f["msgid"]


def test_setmask_holds_message_complete_interrupts(pair):
    a, b, pa, pb = pair
    assert a.cc("setmask", "PathPlist", image=mask_image(iucv.IPSNDN | iucv.IPCTRL)) == 0
    f = send(a, pa, b"q", answer=4)
    b.drain()
    b.call("receive", "MsgPlist", bf1={"buf": "r", "size": 1})
    b.call("reply", "MsgPlist", pathid=pb, msgid=f["msgid"], bf2=b"held")
    assert a.drain() == []
    assert a.cc("setmask", "PathPlist", image=mask_image(0xF8)) == 0
    assert only(a.drain(), 7)["msgid"] == f["msgid"]
    assert a.buf("ans") == b"held"


# -- messages across a sever ------------------------------------------------------------------

def test_messages_in_flight_at_sever(pair):
    a, b, pa, pb = pair
    to_b = send(a, pa, b"A to B", answer=4)          # A's, queued at B
    to_a = send(b, pb, b"B to A", answer=4)          # B's, queued at A
    a.drain()
    b.drain()
    assert a.cc("sever", "PathPlist", pathid=pa) == 0
    got = b.drain()
    types = sorted(i["type"] for i in got)
    assert types == [3, 7], got                      # B's message comes back ...
    c = [i for i in got if i["type"] == 7][0]["fields"]
    assert c["msgid"] == to_a["msgid"] and c["audit"] & iucv.IPADSVRD
    assert c["bf2len"] == 4
    # ... and A's message stays receivable at B until B severs
    got = b.call("receive", "MsgPlist", bf1={"buf": "r", "size": 6})
    assert got["cc"] == 0 and got["bufs"]["r"] == b"A to B"
    assert b.cc("reply", "MsgPlist", pathid=pb, msgid=to_b["msgid"], bf2=b"x") == 0
    assert rc_of(b.call("send", "MsgPlist", pathid=pb, flags1=iucv.IPNORPY, bf1=b"x")) == 1
    assert b.cc("sever", "PathPlist", pathid=pb) == 0
    assert a.drain() == []


def _connect_to_self(vm, msglim: int) -> tuple[int, int]:
    """A path from VM ``vm`` to itself: (the source's path id, the target's)."""
    c = shmcp.PathPlist(vmid=vm.userid, msglim=msglim)
    assert iucv.connect(c) == 0
    target = vm.wait(0).pathid
    assert iucv.accept(shmcp.PathPlist(pathid=target)) == 0
    assert vm.wait(0).type == iucv.IPTYPE_CONNECTION_COMPLETE
    return c.pathid, target


def test_a_send_the_full_interrupt_queue_refuses_leaves_the_message_limit_as_it_was(system):
    """A SEND that cannot post its 09 leaves nothing: neither the message
    nor a message-limit slot taken from the path's other messages."""
    shmcp.ipl(system, queue_size=256)
    with shmcp.logon("A") as vm:
        iucv.dclbfr(shmcp.PathPlist())
        (filler, _), (limited, _) = _connect_to_self(vm, 255), _connect_to_self(vm, 2)
        one_way = dict(flags1=iucv.IPNORPY, bf1=b"x")
        assert iucv.send(shmcp.MsgPlist(pathid=limited, **one_way)) == 0
        with pytest.raises(shmcp.QueueFull):
            while True:
                assert iucv.send(shmcp.MsgPlist(pathid=filler, **one_way)) == 0
        with pytest.raises(shmcp.QueueFull):
            iucv.send(shmcp.MsgPlist(pathid=limited, **one_way))
        for _ in range(4):  # room on the queue; the messages stay on the send queue
            assert vm.wait(0).type == iucv.IPTYPE_NONPRIORITY_MESSAGE_PENDING
        assert iucv.send(shmcp.MsgPlist(pathid=limited, **one_way)) == 0   # the second of 2
        p = shmcp.MsgPlist(pathid=limited, **one_way)
        assert iucv.send(p) == 1 and p.rcode == iucv.IPRC_MSGLIM_EXCEEDED


@pytest.mark.parametrize("enabled", [False, True], ids=["interrupts-disabled", "never-waited"])
def test_taking_messages_without_their_interrupts_never_fills_the_queue(system, enabled):
    """RECEIVE and TEST COMPLETION withdraw the interrupts of what they take
    (docs/design.md, "IUCV"); withdrawn ones must not pile up in the queue until
    SEND is refused.  The queue holds 128 of them here."""
    shmcp.ipl(system, queue_size=256)
    with shmcp.logon("A") as vm:
        iucv.dclbfr(shmcp.PathPlist())
        pathid, _ = _connect_to_self(vm, 255)
        if not enabled:
            assert iucv.setmask(shmcp.PathPlist()) == 0
        buf = bytearray(8)
        for i in range(1000):
            assert iucv.send(shmcp.MsgPlist(pathid=pathid, flags1=iucv.IPNORPY,
                                            bf1=i.to_bytes(8, "big"))) == 0
            assert iucv.receive(shmcp.MsgPlist(bf1=buf)) == 0
            assert int.from_bytes(buf, "big") == i
            c = shmcp.CompPlist()
            assert iucv.testcmpl(c) == 0 and c.audit == 0
        assert vm.pending() == 0


def test_interrupts_of_messages_still_queued_are_kept(system):
    """Dropping withdrawn interrupts stops at the first live one: with
    interrupts disabled, RECEIVE the second of three messages; once enabled,
    the first and the third are presented, then the second's completion."""
    shmcp.ipl(system)
    with shmcp.logon("A") as vm:
        iucv.dclbfr(shmcp.PathPlist())
        pathid, target = _connect_to_self(vm, 255)
        assert iucv.setmask(shmcp.PathPlist()) == 0
        ids = []
        for i in range(3):
            p = shmcp.MsgPlist(pathid=pathid, flags1=iucv.IPNORPY, bf1=bytes([i]))
            assert iucv.send(p) == 0
            ids.append(p.msgid)
        r = shmcp.MsgPlist(pathid=target, msgid=ids[1], trgcls=0, bf1=bytearray(1),
                           flags1=iucv.IPFGPID | iucv.IPFGMID | iucv.IPFGMCL)
        assert iucv.receive(r) == 0 and bytes(r.bf1) == b"\x01"
        every = iucv.IPSNDN | iucv.IPSNDP | iucv.IPRPYN | iucv.IPRPYP | iucv.IPCTRL
        assert iucv.setmask(shmcp.PathPlist.from_bytes(mask_image(every))) == 0
        shown = [vm.wait(0) for _ in range(3)]
        assert [(ev.type, ev.msgid) for ev in shown] == [
            (iucv.IPTYPE_NONPRIORITY_MESSAGE_PENDING, ids[0]),
            (iucv.IPTYPE_NONPRIORITY_MESSAGE_PENDING, ids[2]),
            (iucv.IPTYPE_NONPRIORITY_MESSAGE_COMPLETE, ids[1])]


def test_a_thread_waiting_while_another_receives_without_interrupts(system):
    """The queue's consumer role is one thread's at a time: a thread in
    wait() and one whose RECEIVEs drop withdrawn interrupts never take the
    same record.  Every message is received once, in order; the waiter is
    shown only interrupts of messages not yet taken, each at most once."""
    import threading
    shmcp.ipl(system, queue_size=256)
    with shmcp.logon("A") as vm:
        iucv.dclbfr(shmcp.PathPlist())
        pathid, _ = _connect_to_self(vm, 255)
        shown, stop = [], threading.Event()

        def waiter():
            while not stop.is_set():
                ev = vm.wait(timeout=0.01)
                if ev is not None:
                    shown.append((ev.type, ev.msgid))
        t = threading.Thread(target=waiter)
        t.start()
        try:
            buf, got = bytearray(8), []
            for i in range(3000):
                assert iucv.send(shmcp.MsgPlist(pathid=pathid, flags1=iucv.IPNORPY,
                                                bf1=i.to_bytes(8, "big"))) == 0
                assert iucv.receive(shmcp.MsgPlist(bf1=buf)) == 0
                got.append(int.from_bytes(buf, "big"))
                # 2: the waiter was shown this completion, and so took it
                assert iucv.testcmpl(shmcp.CompPlist()) in (0, 2)
        finally:
            stop.set()
            t.join()
        assert got == list(range(3000))
        assert len(shown) == len(set(shown))
        assert {ty for ty, _ in shown} <= {iucv.IPTYPE_NONPRIORITY_MESSAGE_PENDING,
                                            iucv.IPTYPE_NONPRIORITY_MESSAGE_COMPLETE}
        assert vm.wait(0) is None
