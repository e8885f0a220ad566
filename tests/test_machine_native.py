"""VirtualMachine's C base (csrc/pyext/machine.c): wait()'s common case in C
hands everything else to VirtualMachine._wait with its arguments and checks
intact; the ids it keeps are dropped at LOGOFF and in a fork's child, so
neither a stale VM nor the child of one reaches the core through it."""
from __future__ import annotations

import inspect
import os
import signal
import threading
import time

import pytest

import shmcp
from shmcp import MsgPlist, PathPlist, iucv


@pytest.fixture
def vm(system):
    with shmcp.logon("A", system=system) as vm:
        assert iucv.dclbfr(PathPlist()) == 0
        yield vm


def test_wait_takes_its_timeout_as_the_python_method_did(vm):
    assert vm.wait(0) is None
    assert vm.wait(timeout=0) is None
    assert list(inspect.signature(vm.wait).parameters) == ["timeout"]
    with pytest.raises(TypeError, match="at most 1 argument"):
        vm.wait(1, 2)
    with pytest.raises(TypeError, match="unexpected keyword argument 'tmo'"):
        vm.wait(tmo=1)
    with pytest.raises(ValueError, match="timeout must be None or a number >= 0"):
        vm.wait(-1)
    assert "external interrupt" in shmcp.VirtualMachine.wait.__doc__


def test_wait_after_logoff_says_not_logged_on(vm):
    vm.logoff()
    with pytest.raises(shmcp.NotLoggedOn, match="A is not logged on"):
        vm.wait()


def test_wait_with_every_facility_handled_says_so(vm):
    for sig in (shmcp.SIGIUCV, shmcp.SIGVMCF):
        signal.signal(sig, lambda signum, frame: None)
    try:
        with pytest.raises(shmcp.ShmcpError, match="use sigpause"):
            vm.wait()
    finally:
        for sig in (shmcp.SIGIUCV, shmcp.SIGVMCF):
            signal.signal(sig, signal.SIG_DFL)


def test_an_interrupt_not_presented_by_the_core_comes_through_python(vm):
    """A pending connection (type 01) is presented in Python; the message
    interrupts after it by the core, in order."""
    c = PathPlist(vmid="A", msglim=4)
    assert iucv.connect(c) == 0
    pending = vm.wait()
    assert pending.type == iucv.IPTYPE_PENDING_CONNECTION
    assert iucv.accept(PathPlist(pathid=pending.pathid)) == 0
    assert vm.wait().type == iucv.IPTYPE_CONNECTION_COMPLETE
    for n in range(3):
        assert iucv.send(MsgPlist(pathid=c.pathid, flags1=iucv.IPNORPY, bf1=bytes([n]))) == 0
    got = [vm.wait() for _ in range(3)]
    assert [ev.type for ev in got] == [iucv.IPTYPE_NONPRIORITY_MESSAGE_PENDING] * 3
    assert [ev.msgid for ev in got] == sorted(ev.msgid for ev in got)


def test_a_bounded_wait_returns_what_came_or_none(vm):
    """wait(timeout) with a float or int timeout (its own case in C): None
    once the timeout passed; an interrupt presented in Python (a pending
    connection) and the message interrupts the core presents, in order;
    a bad timeout still says what is wrong."""
    assert vm.wait(0.01) is None
    assert vm.wait(0) is None
    c = PathPlist(vmid="A", msglim=4)
    assert iucv.connect(c) == 0
    pending = vm.wait(5.0)
    assert pending.type == iucv.IPTYPE_PENDING_CONNECTION
    assert iucv.accept(PathPlist(pathid=pending.pathid)) == 0
    assert vm.wait(5).type == iucv.IPTYPE_CONNECTION_COMPLETE
    for n in range(3):
        assert iucv.send(MsgPlist(pathid=c.pathid, flags1=iucv.IPNORPY, bf1=bytes([n]))) == 0
    got = [vm.wait(timeout=5.0) for _ in range(3)]
    assert [ev.type for ev in got] == [iucv.IPTYPE_NONPRIORITY_MESSAGE_PENDING] * 3
    assert [ev.msgid for ev in got] == sorted(ev.msgid for ev in got)
    assert vm.wait(0.001) is None
    for bad in (-0.5, -1, float("nan"), float("-inf")):
        with pytest.raises(ValueError, match="timeout must be None or a number >= 0"):
            vm.wait(bad)
    with pytest.raises(ValueError, match="timeout must be None or a number >= 0"):
        vm.wait("1")


def test_a_fork_child_is_not_the_vm(vm):
    """The child of a fork has the parent's memory, ids included; it must
    not use them: every call says it is not logged on, nothing is taken off
    the parent's queue, and the parent's VM goes on as before."""
    c = PathPlist(vmid="A")
    assert iucv.connect(c) == 0  # the pending connection waits on A's queue
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what each call did, never return to pytest
        outcome = []
        for call in (lambda: iucv.send(MsgPlist(pathid=1, flags1=iucv.IPNORPY, bf1=b"x")),
                     lambda: iucv.receive(MsgPlist(bf1=bytearray(1))),
                     lambda: iucv.reply(MsgPlist(bf2=b"x")),
                     lambda: vm.wait(),
                     lambda: vm.wait(0)):
            try:
                outcome.append(f"returned {call()!r}")
            except shmcp.NotLoggedOn:
                outcome.append("NotLoggedOn")
            except BaseException as e:  # noqa: BLE001 - reported to the parent
                outcome.append(f"{type(e).__name__}: {e}")
        outcome.append(str(shmcp.current()))
        os.write(w, "|".join(outcome).encode())
        os._exit(0)
    os.close(w)
    got = b""
    while chunk := os.read(r, 4096):
        got += chunk
    os.close(r)
    assert os.waitpid(pid, 0)[1] == 0
    assert got.decode().split("|") == ["NotLoggedOn"] * 5 + ["None"]
    assert vm.logged_on and shmcp.current() is vm
    assert vm.wait(0).type == iucv.IPTYPE_PENDING_CONNECTION


def test_a_queued_interrupt_is_taken_at_once_and_an_empty_wait_lets_threads_run(vm):
    """wait() takes what is queued already without letting the GIL go, and
    lets it go only when it must wait: then another thread of the process
    runs meanwhile and SENDs the very message the wait is for."""
    c = PathPlist(vmid="A", msglim=255)
    assert iucv.connect(c) == 0
    assert iucv.accept(PathPlist(pathid=vm.wait().pathid)) == 0
    assert vm.wait().type == iucv.IPTYPE_CONNECTION_COMPLETE
    for n in range(100):  # queued: each wait takes the next, in order
        assert iucv.send(MsgPlist(pathid=c.pathid, flags1=iucv.IPNORPY, bf1=bytes([n]))) == 0
    got = [vm.wait() for _ in range(100)]
    assert [ev.type for ev in got] == [iucv.IPTYPE_NONPRIORITY_MESSAGE_PENDING] * 100
    assert [ev.msgid for ev in got] == sorted(ev.msgid for ev in got)
    assert len({ev.msgid for ev in got}) == 100
    assert vm.wait(0) is None
    sent = threading.Event()

    def sender() -> None:  # runs only while the main thread's wait lets the GIL go
        time.sleep(0.05)
        assert iucv.send(MsgPlist(pathid=c.pathid, flags1=iucv.IPNORPY, bf1=b"late")) == 0
        sent.set()
    t = threading.Thread(target=sender)
    t.start()
    late = vm.wait(30)
    t.join(30)
    assert sent.is_set()
    assert late is not None and late.type == iucv.IPTYPE_NONPRIORITY_MESSAGE_PENDING
    assert late.msgid > got[-1].msgid
