"""IUCV SEND, RECEIVE and REPLY in C (csrc/pyext/iucvcall.c) and their
Python path (shmcp/iucv.py) give the same results; what the C part leaves
to Python keeps its checks and messages; a two-way SEND's answer area stays
exported until its reply is in it.  One VM with a path to itself."""
from __future__ import annotations

import inspect
import threading
import time

import pytest

import shmcp
from shmcp import MsgPlist, PathPlist, ProgramCheck, iucv

FG = iucv.IPFGPID | iucv.IPFGMID | iucv.IPFGMCL


@pytest.fixture
def path(system):
    with shmcp.logon("A", system=system) as vm:
        assert iucv.dclbfr(PathPlist()) == 0
        c = PathPlist(vmid="A")
        assert iucv.connect(c) == 0
        assert iucv.accept(PathPlist(pathid=vm.wait().pathid)) == 0
        assert vm.wait().type == iucv.IPTYPE_CONNECTION_COMPLETE
        yield vm, c.pathid


def exchange(vm, pathid, request, answer, receive_into, reply_from):
    """One two-way message; what each step returned and left."""
    sp = MsgPlist(pathid=pathid, bf1=request, bf2=answer, trgcls=7)
    cc_send = iucv.send(sp)
    ev = vm.wait()
    ev.flags1, ev.bf1 = FG, receive_into
    cc_receive = iucv.receive(ev)
    got = bytes(receive_into[:len(receive_into) - ev.bf1len])
    ev.flags1, ev.bf2 = 0, reply_from
    cc_reply = iucv.reply(ev)
    done = vm.wait()
    return (cc_send, cc_receive, got, ev.bf1len, cc_reply, done.type, done.audit, done.bf2len,
            bytes(answer))


@pytest.mark.parametrize("kinds", [
    (bytes, bytearray, bytearray, bytes),                 # all in C
    (memoryview, memoryview, memoryview, memoryview),     # all in Python
    (bytearray, bytearray, bytearray, bytearray),
])
def test_c_and_python_paths_agree(path, kinds):
    vm, pathid = path
    wrap = [(lambda b, k=k: k(bytearray(b)) if k is memoryview else k(b)) for k in kinds]
    results = [exchange(vm, pathid, wrap[0](b"request"), wrap[1](bytes(12)),
                        wrap[2](bytes(16)), wrap[3](b"a reply longer than 12")) for _ in range(2)]
    assert results[0][1:] == results[1][1:]
    cc_send, cc_receive, got, residual, cc_reply, itype, audit, bf2len, answer = results[0]
    assert (cc_send, cc_receive, got, residual) == (0, 0, b"request", 9)
    assert cc_reply == 1 and audit == iucv.IPADRPLE  # truncated to the answer area
    assert itype == iucv.IPTYPE_NONPRIORITY_MESSAGE_COMPLETE and answer == b"a reply long"


def test_the_answer_area_cannot_be_resized_while_the_reply_is_due(path):
    vm, pathid = path
    answer = bytearray(4)
    assert iucv.send(MsgPlist(pathid=pathid, bf1=b"q", bf2=answer)) == 0
    with pytest.raises(BufferError):
        answer.extend(b"more")
    ev = vm.wait()
    ev.flags1, ev.bf1 = FG, bytearray(4)
    assert iucv.receive(ev) == 0
    ev.flags1, ev.bf2 = 0, b"ok!!"
    assert iucv.reply(ev) == 0
    with pytest.raises(BufferError):  # the reply is written when the 07 is taken
        answer.extend(b"more")
    vm.wait()
    answer.extend(b"more")
    assert answer == b"ok!!more"


def test_what_c_leaves_to_python_keeps_its_messages(path):
    vm, pathid = path
    with pytest.raises(ProgramCheck, match="bf1 has 2 bytes, its length says 5"):
        iucv.send(MsgPlist(pathid=pathid, flags1=iucv.IPNORPY, bf1=b"ab", bf1len=5))
    with pytest.raises(ProgramCheck, match="bf2 .*is read-only"):
        iucv.send(MsgPlist(pathid=pathid, bf1=b"ab", bf2=b"read-only"))
    with pytest.raises(TypeError, match="takes a PathPlist, MsgPlist or CompPlist"):
        iucv.send(b"not a plist")
    assert iucv.send(MsgPlist(pathid=pathid, flags1=iucv.IPNORPY, bf1=b"data")) == 0
    ev = vm.wait()
    ev.flags1, ev.bf1 = FG, b"read-only"
    with pytest.raises(ProgramCheck, match="bf1 is read-only"):
        iucv.receive(ev)
    ev.bf1 = bytearray(2)
    ev.bf1len = 4
    with pytest.raises(ProgramCheck, match="bf1 has 2 bytes, its length says 4"):
        iucv.receive(ev)
    ev.bf1 = None
    ev.bf1len = 4
    with pytest.raises(ProgramCheck, match="bf1 is None but its length is 4"):
        iucv.receive(ev)
    ev.bf1 = bytearray(8)
    assert iucv.receive(ev) == 0 and ev.bf1len == 4
    vm.wait()  # the one-way message's completion


def test_not_logged_on_is_said_before_c_is_asked(system):
    with pytest.raises(shmcp.NotLoggedOn, match="IUCV"):
        iucv.send(MsgPlist(bf1=b"x"))
    with pytest.raises(shmcp.NotLoggedOn, match="IUCV"):
        iucv.receive(MsgPlist(bf1=bytearray(1)))


def test_other_threads_run_while_wait_sleeps(path):
    """wait() lets the GIL go while the core waits: a thread of the same
    process can SEND the message it is waiting for."""
    vm, pathid = path
    sent = threading.Event()

    def sender():
        time.sleep(0.2)  # after the main thread has gone to sleep in wait()
        assert iucv.send(MsgPlist(pathid=pathid, flags1=iucv.IPNORPY, bf1=b"from a thread")) == 0
        sent.set()

    t = threading.Thread(target=sender)
    t.start()
    ev = vm.wait(timeout=10)  # holding the GIL, it would time out: None
    t.join()
    assert sent.is_set() and ev is not None and ev.type == iucv.IPTYPE_NONPRIORITY_MESSAGE_PENDING
    ev.flags1, ev.bf1 = FG, bytearray(32)
    assert iucv.receive(ev) == 0 and bytes(ev.bf1[:13]) == b"from a thread"
    assert vm.wait().type == iucv.IPTYPE_NONPRIORITY_MESSAGE_COMPLETE


@pytest.mark.parametrize("call, plist", [
    (iucv.send, lambda p: MsgPlist(pathid=p, flags1=iucv.IPNORPY, bf1=b"x")),
    (iucv.receive, lambda p: MsgPlist(pathid=p, bf1=bytearray(8))),
    (iucv.reply, lambda p: MsgPlist(pathid=p, bf2=b"x")),
])
def test_a_core_error_in_c_raises_as_in_python(path, call, plist):
    """The core's answer for a VM forced off meanwhile comes out of the C
    call as the Python path's exception."""
    vm, pathid = path
    from shmcp.cli import main
    assert main(["force", "A", "--system", vm.system]) == 0
    with pytest.raises(shmcp.NotLoggedOn, match="forced"):
        call(plist(pathid))


def test_the_calls_take_their_plist_by_position_or_keyword(path):
    """send, receive and reply are C functions; they take the parameter list
    as the Python functions did, and say what is wrong otherwise."""
    vm, pathid = path
    assert iucv.send(plist=MsgPlist(pathid=pathid, flags1=iucv.IPNORPY, bf1=b"kw")) == 0
    ev = vm.wait()
    ev.flags1, ev.bf1 = FG, bytearray(4)
    assert iucv.receive(plist=ev) == 0 and bytes(ev.bf1[:2]) == b"kw"
    assert vm.wait().type == iucv.IPTYPE_NONPRIORITY_MESSAGE_COMPLETE
    for call in (iucv.send, iucv.receive, iucv.reply):
        name = call.__name__
        with pytest.raises(TypeError, match=rf"{name}\(\) takes a parameter list"):
            call()
        with pytest.raises(TypeError, match=rf"{name}\(\) takes at most 1 argument \(2 given\)"):
            call(MsgPlist(), MsgPlist())
        with pytest.raises(TypeError, match=rf"{name}\(\) got an unexpected keyword argument 'parm'"):
            call(parm=MsgPlist())
        assert list(inspect.signature(call).parameters) == ["plist"]
        assert call.__doc__ and name.upper() in call.__doc__
