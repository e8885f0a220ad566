"""A two-way SEND's answer area is kept (by message id, in the VM) until its
completion is taken, and not a moment longer: a completion taken between
the core's call and the record leaves no stale answer area behind."""
from __future__ import annotations

import pytest

import shmcp
from shmcp import iucv
from shmcp._native import lib
from iucv_rpc import connect_pair, local, pair, spawn  # noqa: F401

ANSWER = b"answer!!"


def _completion_taken_meanwhile(monkeypatch, b, pb, take):
    """IUCV's core call as a SEND sees it when the partner answers at once:
    the real SEND, then (another thread or a handler would do it) B receives
    and replies and this VM takes the completion with ``take``, before the
    call returns to Python."""
    real = iucv._core_call
    taken = []

    def late(handle, slot, gen, func, image, inbuf, outbuf):
        cc = real(handle, slot, gen, func, image, inbuf, outbuf)
        if func == lib.SHMCP_IUCV_SEND and cc == 0 and not taken:
            got = b.call("receive", "MsgPlist", bf1={"buf": "r", "size": 8})
            assert got["cc"] == 0, got
            msgid = got["fields"]["msgid"]
            assert b.cc("reply", "MsgPlist", pathid=pb, msgid=msgid, bf2=ANSWER) == 0
            taken.append(take(msgid))
        return cc

    monkeypatch.setattr(iucv, "_core_call", late)
    return taken


def _wait(msgid):
    got = shmcp.current().wait(10)
    assert got.type == 7 and got.msgid == msgid
    return got


def _testcmpl(msgid):
    p = iucv.CompPlist()  # no selector: the one completed message
    assert iucv.testcmpl(p) == 0 and p.msgid == msgid
    return p


@pytest.mark.parametrize("take", [_wait, _testcmpl], ids=["presented", "test-completion"])
def test_no_stale_answer_area_when_the_completion_comes_before_send_returns(
        pair, monkeypatch, take):
    a, b, pa, pb = pair
    taken = _completion_taken_meanwhile(monkeypatch, b, pb, take)
    area = bytearray(len(ANSWER))
    # a memoryview answer area: SEND's Python path, which records after its call
    p = iucv.MsgPlist(pathid=pa, bf1=b"question", bf1len=8, bf2=memoryview(area),
                      bf2len=len(area))
    assert iucv.send(p) == 0
    monkeypatch.undo()
    assert taken, "the completion was taken inside the SEND"
    assert bytes(area) == ANSWER
    vm = shmcp.current()
    assert p.msgid not in vm.iucv_answers, "a stale answer area is kept for a finished message"
    assert not vm.iucv_answers


def test_answer_area_kept_until_its_completion_is_taken(pair):
    a, b, pa, pb = pair
    area = bytearray(len(ANSWER))
    p = iucv.MsgPlist(pathid=pa, bf1=b"question", bf1len=8, bf2=memoryview(area),
                      bf2len=len(area))
    assert iucv.send(p) == 0
    vm = shmcp.current()
    assert p.msgid in vm.iucv_answers, "the core writes the reply there later"
    got = b.call("receive", "MsgPlist", bf1={"buf": "r", "size": 8})
    assert b.cc("reply", "MsgPlist", pathid=pb, msgid=got["fields"]["msgid"], bf2=ANSWER) == 0
    assert vm.wait(10).type == 7
    assert bytes(area) == ANSWER and not vm.iucv_answers
