"""The futex doorbell of a main thread that waits handler-free.

Each child's sleep slices last ten minutes (SHMCP_WAIT_SLICE_MS), so only
the doorbell, or a signal, can end a wait in time.  Where the child sleeps
is read from /proc/PID/syscall: the futex, or rt_sigtimedwait for a wait
whose facility has an unblocked handler.
"""
from __future__ import annotations

import os
import platform
import select
import signal
import subprocess
import time

import pytest

import script_child
import shmcp
from script_child import finish, line, serving

# system call numbers: (futex, rt_sigtimedwait)
_SYSCALLS = {"x86_64": (202, 128), "aarch64": (98, 137)}
pytestmark = pytest.mark.skipif(platform.machine() not in _SYSCALLS,
                                reason="system call numbers known for x86_64 and aarch64 only")
FUTEX, SIGTIMEDWAIT = _SYSCALLS.get(platform.machine(), (None, None))


LONG_SLICES = {"SHMCP_WAIT_SLICE_MS": "600000"}


def child(code: str) -> subprocess.Popen:
    return script_child.child(code, **LONG_SLICES)


def asleep_in(proc: subprocess.Popen, call: int) -> bool:
    """Wait (up to 30 s: a bound for a hung test, not a timing) until the
    child's main thread is blocked in system call ``call``."""
    for _ in range(3000):
        try:
            with open(f"/proc/{proc.pid}/syscall") as f:
                if f.read().split()[0] == str(call):
                    return True
        except (OSError, IndexError):
            pass
        time.sleep(0.01)
    return False


def record(n: int) -> bytes:
    return bytes(4) + n.to_bytes(4, "big") + bytes(32)


def ring_each(proc: subprocess.Popen, vm: shmcp.VirtualMachine, numbers: range,
              says: str) -> None:
    """For each n: once the child sleeps on the futex, queue interrupt n
    for it; its next line must be ``says`` with n (8 hex digits) after."""
    for n in numbers:
        assert asleep_in(proc, FUTEX), f"round {n}: the wait is not on the futex"
        vm.queue_interrupt("sleeper", record(n))
        assert line(proc) == f"{says} {n:08x}", f"interrupt {n}: no {says!r} line"


def test_a_main_thread_sleeps_on_the_futex_and_its_doorbell_wakes_it(system):
    """A handler-free wait() in the main thread sleeps on the futex (no
    signal), and each interrupt wakes it, each of five times."""
    with serving("""
        import shmcp
        vm = shmcp.logon("sleeper")
        print("READY", flush=True)
        for _ in range(5):
            got = vm.wait()
            print("WOKE", got.raw[4:8].hex(), flush=True)
        """, **LONG_SLICES) as proc:
        with shmcp.logon("poker") as vm:
            ring_each(proc, vm, range(5), "WOKE")
        proc.wait(timeout=30)
        assert proc.returncode == 0


def test_ctrl_c_interrupts_the_futex_sleep(system):
    """A SIGINT that lands while the main thread sleeps on the futex
    raises KeyboardInterrupt at once, not at the slice's end."""
    proc = child(script_child.WAITS_FOR_CTRL_C)
    try:
        for n in range(5):
            assert line(proc) == "WAITING"
            assert asleep_in(proc, FUTEX), f"round {n}: the wait is not on the futex"
            os.kill(proc.pid, signal.SIGINT)
            assert line(proc) == "KI", f"SIGINT {n} did not interrupt the futex sleep"
    finally:
        finish(proc)


def test_a_vm_with_a_handler_waits_for_the_other_facility_in_sigtimedwait(system):
    """With a SIGIUCV handler, wait() waits for VMCF only, and in
    rt_sigtimedwait, not on the futex: a handler's signal would come just
    as the VM waits again, in the window FUTEX_WAIT leaves between the look
    and the sleep.  IUCV interrupts queued during the wait, in a burst,
    each get one handler call, in order; the VMCF interrupt ends the wait."""
    with serving("""
        import signal, shmcp
        signal.signal(shmcp.SIGIUCV,
                      lambda s, f: print("H", shmcp.siginfo().raw[4:8].hex(), flush=True))
        vm = shmcp.logon("sleeper")
        print("READY", flush=True)
        for _ in range(2):
            print("WOKE", vm.wait().raw[4:8].hex(), flush=True)
        """, **LONG_SLICES) as proc:
        with shmcp.logon("poker") as vm:
            for rounds in (range(0, 5), range(5, 10)):
                assert asleep_in(proc, SIGTIMEDWAIT), "the wait is not in rt_sigtimedwait"
                for n in rounds:
                    vm.queue_interrupt("sleeper", record(n))
                vm.queue_interrupt("sleeper", record(100 + rounds[0]), facility="VMCF")
                said = [line(proc) for _ in range(6)]
                assert [s for s in said if s.startswith("H ")] == [f"H {n:08x}" for n in rounds]
                assert f"WOKE {100 + rounds[0]:08x}" in said
        proc.wait(timeout=30)
        assert proc.returncode == 0


def test_the_sleep_follows_the_handler_as_it_comes_and_goes(system):
    """The want word's transitions in one VM: a futex sleep; then a
    handler established, and sigpause() sleeps in rt_sigtimedwait with
    every interrupt going to the handler once, in order; then the handler
    removed, and the next wait() is on the futex again and is woken."""
    proc = child("""
        import signal, sys, shmcp
        vm = shmcp.logon("sleeper")
        print("WOKE", vm.wait().raw[4:8].hex(), flush=True)
        got = []
        signal.signal(shmcp.SIGIUCV, lambda s, f: got.append(shmcp.siginfo().raw[4:8].hex()))
        print("HANDLER", flush=True)
        handled = 0
        while handled < 5:
            shmcp.sigpause(0)
            while got:
                print("H", got.pop(0), flush=True)
                handled += 1
        signal.signal(shmcp.SIGIUCV, signal.SIG_DFL)
        print("NO HANDLER", flush=True)
        print("WOKE", vm.wait().raw[4:8].hex(), flush=True)
        """)
    try:
        with shmcp.logon("poker") as vm:
            assert asleep_in(proc, FUTEX)
            vm.queue_interrupt("sleeper", record(0))
            assert line(proc) == "WOKE 00000000"
            assert line(proc) == "HANDLER"
            seen = []
            for n in range(1, 6):
                assert asleep_in(proc, SIGTIMEDWAIT), f"interrupt {n}: sigpause not in sigtimedwait"
                vm.queue_interrupt("sleeper", record(n))
                seen.append(line(proc))
            assert seen == [f"H {n:08x}" for n in range(1, 6)]
            assert line(proc) == "NO HANDLER"
            assert asleep_in(proc, FUTEX), "the wait after the handler went is not on the futex"
            vm.queue_interrupt("sleeper", record(6))
            assert line(proc) == "WOKE 00000006"
        proc.wait(timeout=30)
        assert proc.returncode == 0
    finally:
        finish(proc)


def test_a_vm_killed_on_the_futex_is_logged_off(system):
    """A VM whose process is killed while its main thread sleeps on the
    futex is logged off (its userid free again), and a sender is told."""
    with serving("""
        import shmcp
        vm = shmcp.logon("sleeper")
        print("READY", flush=True)
        vm.wait()
        """, **LONG_SLICES) as proc:
        assert asleep_in(proc, FUTEX)
        proc.kill()
        proc.wait()
        with shmcp.logon("poker") as vm:
            with pytest.raises(shmcp.NotLoggedOn):
                for _ in range(3000):  # the watchdog or the next LOGON reaps it
                    vm.queue_interrupt("sleeper", record(0))
                    select.select([], [], [], 0.01)
        with shmcp.logon("sleeper"):
            pass


def test_a_handler_unblocked_by_another_thread_interrupts_the_futex_sleep(system):
    """SIGIUCV's handler is blocked (library mask) while the main thread
    waits for VMCF on the futex: IUCV interrupts stay queued, nothing
    rings.  Another thread unblocks it (sigsetmask: the queued one goes to
    the handler there); the next IUCV interrupt's signal interrupts the
    main thread's futex sleep and the handler runs there.  The wait goes on
    in rt_sigtimedwait, as any wait of a VM with an unblocked handler, and
    the IUCV interrupts queued then get their handler calls, once each and
    in order, when the VMCF interrupt ends the wait."""
    with serving("""
        import signal, sys, threading, shmcp
        signal.signal(shmcp.SIGIUCV, lambda s, f: print(
            "H", shmcp.siginfo().raw[4:8].hex(),
            "main" if threading.current_thread() is threading.main_thread() else "other",
            flush=True))
        shmcp.sigblock(shmcp.sigmask(shmcp.SIGIUCV))
        vm = shmcp.logon("sleeper")
        def unblocks():
            sys.stdin.readline()
            shmcp.sigsetmask(0)
            print("UNBLOCKED", flush=True)
        threading.Thread(target=unblocks).start()
        print("READY", flush=True)
        print("WOKE", vm.wait().raw[4:8].hex(), flush=True)
        """, **LONG_SLICES) as proc:
        with shmcp.logon("poker") as vm:
            assert asleep_in(proc, FUTEX)
            vm.queue_interrupt("sleeper", record(0))
            script_child.tell(proc, "unblock")
            # taken by the unblocking thread: not by the main one before
            assert line(proc) == "H 00000000 other"
            assert line(proc) == "UNBLOCKED"
            assert asleep_in(proc, FUTEX), "the wait is not on the futex"
            vm.queue_interrupt("sleeper", record(1))
            assert line(proc) == "H 00000001 main", "no handler call in the wait"
            assert asleep_in(proc, SIGTIMEDWAIT), "the wait did not go on in rt_sigtimedwait"
            for n in (2, 3):
                vm.queue_interrupt("sleeper", record(n))
            vm.queue_interrupt("sleeper", record(99), facility="VMCF")
            said = [line(proc) for _ in range(3)]
            assert [s for s in said if s.startswith("H ")] == ["H 00000002 main", "H 00000003 main"]
            assert "WOKE 00000063" in said
        proc.wait(timeout=30)
        assert proc.returncode == 0



@pytest.mark.parametrize("handler, call, facility", [
    ("", FUTEX, "IUCV"),
    ("signal.signal(shmcp.SIGIUCV, lambda s, f: None)", SIGTIMEDWAIT, "VMCF"),
], ids=["futex", "sigtimedwait"])
def test_a_forced_vms_sleeper_leaves_its_slots_next_vm_its_doorbell(system, handler, call,
                                                                     facility):
    """VM "sleeper" is forced off while its main thread sleeps (on the
    futex; with a SIGIUCV handler, in rt_sigtimedwait for VMCF); "next"
    logs on in the freed slot and sleeps the same way.  When the forced
    VM's wait ends (Ctrl-C), it must not take away the new VM's count on
    the futex or its "asleep" mark: an interrupt for "next" still wakes
    it."""
    from shmcp.cli import main
    code = """
        import signal, shmcp
        {}
        vm = shmcp.logon("{}")
        print("READY", flush=True)
        try:
            print("WOKE", vm.wait().raw[4:8].hex(), flush=True)
        except KeyboardInterrupt:
            print("KI", flush=True)
        """
    forced = child(code.format(handler, "sleeper"))
    nxt = None
    try:
        with shmcp.logon("poker") as vm:
            assert line(forced) == "READY"
            assert asleep_in(forced, call)
            assert main(["force", "sleeper", "--system", system]) == 0
            nxt = child(code.format(handler, "next"))
            assert line(nxt) == "READY"
            assert asleep_in(nxt, call), "the new VM does not sleep as the forced one did"
            assert asleep_in(forced, call), "the forced VM's wait ended early"
            os.kill(forced.pid, signal.SIGINT)
            assert line(forced) == "KI"
            vm.queue_interrupt("next", record(7), facility=facility)
            assert line(nxt) == "WOKE 00000007", "the slot's new VM was not woken"
    finally:
        finish(forced)
        if nxt is not None:
            finish(nxt)
