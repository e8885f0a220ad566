"""The runtime's stated API for facilities and the Pythonic layer
(shmcp/machine.py's docstring): several threads taking interrupts with a
timeout, the VM's ids, deliver; and the one binding of the extension."""
from __future__ import annotations

import signal
import struct
import threading

import pytest

import shmcp
from shmcp import signals

COUNT = 3000
THREADS = 4


def record(seq: int) -> bytes:
    """A raw IUCV-facility record (type byte 0: shown as the Interrupt itself)."""
    return struct.pack(">4xI", seq).ljust(40, b"\0")


def test_threads_waiting_at_once_each_get_distinct_interrupts_none_lost(system):
    """Four threads wait with a timeout while this process queues interrupts
    for itself: every interrupt is taken exactly once, by one of them."""
    with shmcp.logon("A") as vm:
        got: list[list[int]] = [[] for _ in range(THREADS)]
        done = threading.Event()

        def taker(mine: list[int]) -> None:
            while True:
                ev = vm.wait(0.05)
                if ev is None:
                    if done.is_set():
                        return
                    continue
                mine.append(struct.unpack(">I", ev.raw[4:8])[0])

        threads = [threading.Thread(target=taker, args=(got[i],)) for i in range(THREADS)]
        for t in threads:
            t.start()
        for seq in range(COUNT):
            while True:
                try:
                    vm.queue_interrupt("A", record(seq))
                    break
                except shmcp.QueueFull:
                    threading.Event().wait(0.001)
        done.set()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads)
        taken = [seq for mine in got for seq in mine]
        assert sorted(taken) == list(range(COUNT))  # none lost, none twice
        for mine in got:
            assert mine == sorted(mine)  # each thread sees them in queue order


def test_the_vm_states_its_ids_and_they_end_with_the_logon(system):
    with shmcp.logon("A") as vm:
        assert vm.logged_on and vm.slot >= 0 and vm.handle is vm.attached.handle
        assert shmcp.current() is vm
    assert not vm.logged_on and shmcp.current() is None
    try:
        vm.handle
    except shmcp.NotLoggedOn as e:
        assert "A is not logged on" in str(e)
    else:
        raise AssertionError("a logged-off VM gave its handle")


def test_deliver_runs_the_handler_once_per_queued_interrupt(system):
    seen = []
    signal.signal(shmcp.SIGIUCV, lambda signum, frame: seen.append(shmcp.siginfo().raw[4:8]))
    try:
        old = shmcp.sigblock(shmcp.sigmask(shmcp.SIGIUCV))
        with shmcp.logon("A") as vm:
            for seq in range(3):
                vm.queue_interrupt("A", record(seq))
            signals.deliver(shmcp.IUCV)  # blocked: nothing yet
            assert seen == []
            shmcp.sigsetmask(old)  # unblocked: one call each, in order
            assert seen == [struct.pack(">I", n) for n in range(3)]
            signals.deliver(shmcp.IUCV)  # nothing queued: no call
            assert len(seen) == 3
    finally:
        signal.signal(shmcp.SIGIUCV, signal.SIG_DFL)


def test_the_extension_is_stamped_and_bound_once_by_keyword():
    """shmcp/_native.py checked the extension's version stamp and gave it
    the core's calls; nobody binds them again, and never by position."""
    from shmcp import _iparml

    assert _iparml.__version__ == shmcp.__version__
    with pytest.raises(RuntimeError, match="already bound"):
        _iparml.bind_core(iucv_call=1, next=1)
    with pytest.raises(RuntimeError, match="already bound"):
        _iparml.bind_iucv(classes=(), failed=print, send=print, receive=print, reply=print)
    with pytest.raises(TypeError):
        _iparml.bind_core(1, 2)


def test_a_layer_above_logs_on_as_its_own_subclass(system):
    """session.logon_as: the VM made as a subclass the runtime never imports."""
    from shmcp.session import logon_as

    class Mine(shmcp.VirtualMachine):
        def hello(self) -> str:
            return f"hello from {self.userid}"

    with logon_as(Mine, "A") as vm:
        assert type(vm) is Mine and shmcp.current() is vm and vm.hello() == "hello from A"
    with pytest.raises(TypeError, match="VirtualMachine subclass"):
        logon_as(object, "A")
