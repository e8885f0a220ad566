"""SIGIUCV / SIGVMCF semantics: SAS/C's mask functions, siginfo, nesting,
other signals unaffected, EINTR never visible, handler-free waiting."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import shmcp
from script_child import line, serving

IUCV_BIT = shmcp.sigmask(shmcp.SIGIUCV)


@pytest.fixture
def vm(system):
    saved = {s: signal.getsignal(s) for s in (shmcp.SIGIUCV, shmcp.SIGVMCF)}
    old_mask = shmcp.sigsetmask(0)
    with shmcp.logon("me") as machine:
        yield machine
    shmcp.sigsetmask(old_mask)
    for s, h in saved.items():
        signal.signal(s, h)


def rec(n: int) -> bytes:
    """A record of no facility's interrupt type (byte 3 zero), carrying n."""
    return bytes(4) + n.to_bytes(4, "big") + bytes(32)


def num(info: shmcp.Interrupt) -> int:
    return int.from_bytes(info.raw[4:8], "big")


def test_constants():
    assert shmcp.SIGIUCV == signal.SIGUSR1 and shmcp.SIGVMCF == signal.SIGUSR2
    assert shmcp.sigmask(shmcp.SIGIUCV) == 1 << (signal.SIGUSR1 - 1)
    with pytest.raises(ValueError):
        shmcp.sigmask(0)


def test_signal_signal_and_getsignal_see_the_programs_handler(vm):
    def h(s, f):
        pass
    signal.signal(shmcp.SIGIUCV, h)
    assert signal.getsignal(shmcp.SIGIUCV) is h
    assert signal.signal(shmcp.SIGIUCV, signal.SIG_DFL) is h
    with pytest.raises(TypeError):
        signal.signal(shmcp.SIGIUCV, 42)


def test_block_provoke_pause_loses_no_wakeup(vm):
    seen = []
    signal.signal(shmcp.SIGIUCV, lambda s, f: seen.append(num(shmcp.siginfo())))
    shmcp.sigblock(IUCV_BIT)
    vm.queue_interrupt("me", rec(1))   # provoke: it arrives before the pause
    vm.queue_interrupt("me", rec(2))
    assert seen == []
    shmcp.sigpause(0)                  # returns at once, one handled
    assert seen == [1]
    assert shmcp.sigblock(0) & IUCV_BIT, "sigpause restores the mask"
    shmcp.sigpause(0)
    assert seen == [1, 2]
    assert shmcp.siginfo() is None


def test_sigblock_and_sigsetmask_return_the_previous_mask(vm):
    assert shmcp.sigblock(0) & IUCV_BIT == 0
    assert shmcp.sigblock(IUCV_BIT) & IUCV_BIT == 0
    assert shmcp.sigblock(0) & IUCV_BIT
    alrm = shmcp.sigmask(signal.SIGALRM)
    prev = shmcp.sigsetmask(alrm)
    assert prev & IUCV_BIT
    assert signal.SIGALRM in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    assert shmcp.sigsetmask(0) == alrm
    assert signal.SIGALRM not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    with pytest.raises(TypeError):
        shmcp.sigblock("all")
    with pytest.raises(ValueError):
        shmcp.sigblock(-1)


def test_blocking_sigiucv_never_blocks_other_signals(vm):
    shmcp.sigblock(IUCV_BIT)
    assert signal.SIGUSR1 not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)


def test_ctrl_c_interrupts_sigpause(vm):
    signal.signal(shmcp.SIGIUCV, lambda s, f: None)
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        shmcp.sigpause(0)
    timer.join()
    assert shmcp.sigblock(0) & IUCV_BIT == 0, "the mask is restored"


def test_sigterm_still_terminates_a_vm_with_sigiucv_blocked(system):
    code = ("import shmcp, signal, sys\n"
            "signal.signal(shmcp.SIGIUCV, lambda s, f: None)\n"
            "shmcp.sigblock(shmcp.sigmask(shmcp.SIGIUCV))\n"
            "vm = shmcp.logon('term')\n"
            "print('READY', flush=True)\n"
            "shmcp.sigpause(shmcp.sigmask(shmcp.SIGIUCV))\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "READY"
    p.send_signal(signal.SIGTERM)
    assert p.wait(30) == -signal.SIGTERM


def test_sigpause_returns_after_another_signal_was_handled(vm):
    alarms = []
    old = signal.signal(signal.SIGALRM, lambda s, f: alarms.append(s))
    try:
        signal.signal(shmcp.SIGIUCV, lambda s, f: None)
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        shmcp.sigpause(0)
        assert alarms == [signal.SIGALRM]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_sigpause_lets_a_blocked_signal_through_and_blocks_it_again(vm):
    # the pause installs its mask in the OS and restores the old one after
    alarms = []
    old = signal.signal(signal.SIGALRM, lambda s, f: alarms.append(s))
    alrm = shmcp.sigmask(signal.SIGALRM)
    try:
        signal.signal(shmcp.SIGIUCV, lambda s, f: None)
        shmcp.sigblock(alrm)
        signal.setitimer(signal.ITIMER_REAL, 0.01)
        time.sleep(0.1)
        assert alarms == [] and signal.SIGALRM in signal.sigpending()
        shmcp.sigpause(0)
        assert alarms == [signal.SIGALRM]
        assert shmcp.sigblock(0) & alrm
        assert signal.SIGALRM in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        shmcp.sigsetmask(shmcp.sigblock(0) & ~alrm)
        signal.signal(signal.SIGALRM, old)


def test_eintr_is_never_visible_and_the_deadline_holds(vm):
    alarms = []
    old = signal.signal(signal.SIGALRM, lambda s, f: alarms.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)
        t0 = time.monotonic()
        assert vm.wait(timeout=0.3) is None
        assert time.monotonic() - t0 >= 0.3
        threading.Timer(0.1, vm.queue_interrupt, ("me", rec(7))).start()
        got = vm.wait(timeout=30)
        assert got is not None and num(got) == 7
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert len(alarms) >= 5


def test_handlers_of_the_two_signals_nest_and_siginfo_follows(vm):
    trace = []

    def on_vmcf(s, f):
        trace.append(("vmcf", shmcp.siginfo().facility, num(shmcp.siginfo())))

    def on_iucv(s, f):
        trace.append(("iucv in", num(shmcp.siginfo())))
        vm.queue_interrupt("me", rec(2), facility="VMCF")  # its doorbell interrupts us
        for _ in range(100000):
            if len(trace) > 1:
                break
        trace.append(("iucv out", num(shmcp.siginfo())))

    signal.signal(shmcp.SIGVMCF, on_vmcf)
    signal.signal(shmcp.SIGIUCV, on_iucv)
    vm.queue_interrupt("me", rec(1))
    for _ in range(100000):
        if len(trace) == 3:
            break
    assert trace == [("iucv in", 1), ("vmcf", shmcp.VMCF, 2), ("iucv out", 1)]
    assert shmcp.siginfo() is None


def test_a_doorbell_inside_a_handler_sigpause_called_waits_for_it_to_return(vm):
    """sigpause's C pause counts as a running delivery loop of both signals
    (a count, not signals._active) until its handler returns: the doorbell
    of an interrupt queued inside the handler, SIGIUCV unblocked, does not
    nest the next handler call into it; the pause hands that one over after."""
    trace = []

    def on_iucv(s, f):
        n = num(shmcp.siginfo())
        trace.append(("in", n))
        if n == 1:
            vm.queue_interrupt("me", rec(2))  # its doorbell rings in this handler
            for _ in range(100000):  # Python looks at the signal meanwhile
                if len(trace) > 1:
                    break
        trace.append(("out", n))

    signal.signal(shmcp.SIGIUCV, on_iucv)
    assert not shmcp.sigblock(0) & IUCV_BIT
    provoke = threading.Timer(0.05, vm.queue_interrupt, ("me", rec(1)))
    provoke.start()
    assert not shmcp._native.pausing()
    shmcp.sigpause(0)  # waits: the one from the thread comes while it does
    provoke.join()
    assert not shmcp._native.pausing()
    assert trace == [("in", 1), ("out", 1), ("in", 2), ("out", 2)]
    assert shmcp.siginfo() is None


def test_interrupts_queued_before_the_handler_reach_it_once_established(vm):
    vm.queue_interrupt("me", rec(5))
    vm.queue_interrupt("me", rec(6))
    seen = []
    signal.signal(shmcp.SIGIUCV, lambda s, f: seen.append(num(shmcp.siginfo())))
    assert seen == [5, 6]


def test_handler_free_wait_and_events(vm):
    assert vm.wait(timeout=0) is None
    for i in range(3):
        vm.queue_interrupt("me", rec(i))
    vm.queue_interrupt("me", rec(9), facility="VMCF", priority=True, data=b"smsg text")
    got = list(vm.events(timeout=0.05))
    assert [(g.facility, num(g)) for g in got] == [(shmcp.VMCF, 9), (shmcp.IUCV, 0),
                                                    (shmcp.IUCV, 1), (shmcp.IUCV, 2)]
    assert got[0].priority and got[0].buf == b"smsg text"


def test_wait_refuses_when_every_signal_has_a_handler(vm):
    signal.signal(shmcp.SIGIUCV, lambda s, f: None)
    signal.signal(shmcp.SIGVMCF, lambda s, f: None)
    with pytest.raises(shmcp.ShmcpError, match="handlers"):
        vm.wait(0)


def test_wait_skips_the_facility_that_has_a_handler(vm):
    seen = []
    signal.signal(shmcp.SIGIUCV, lambda s, f: seen.append(num(shmcp.siginfo())))
    vm.queue_interrupt("me", rec(1), facility="VMCF")
    vm.queue_interrupt("me", rec(2))
    got = vm.wait(timeout=5)
    assert got.facility == shmcp.VMCF and num(got) == 1
    time.sleep(0.05)
    assert seen == [2]


def test_sigpause_outside_a_vm_is_an_error():
    with pytest.raises(shmcp.ShmcpError, match="not logged on"):
        shmcp.sigpause(0)


def test_sigpause_sleeps_on_through_its_sleep_slices(system):
    """The main thread's core wait comes back to Python at the end of each
    sleep slice (1 ms here); sigpause waits on until an interrupt comes."""
    from script_child import child, finish, line
    proc = child("""
        import signal, shmcp
        seen = []
        signal.signal(shmcp.SIGIUCV, lambda s, f: seen.append(shmcp.siginfo().raw[7]))
        vm = shmcp.logon("pauser")
        print("PAUSING", flush=True)
        shmcp.sigpause(0)
        print("RETURNED", seen, flush=True)
        input()
        """, SHMCP_WAIT_SLICE_MS="1")
    try:
        assert line(proc) == "PAUSING"
        assert line(proc, within=0.3) == "", "sigpause returned with nothing handled"
        with shmcp.logon("poker") as vm:
            vm.queue_interrupt("pauser", rec(7))
            assert line(proc) == "RETURNED [7]"
    finally:
        finish(proc)


_MASK_PROBE = """
import signal, sys
import shmcp
alrm, hup = shmcp.sigmask(signal.SIGALRM), shmcp.sigmask(signal.SIGHUP)
print(int(bool(shmcp.sigblock(0) & alrm)))    # inherited from the parent
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGHUP])
print(int(bool(shmcp.sigblock(0) & hup)))     # blocked after the import
"""


@pytest.mark.parametrize("inherited", [False, True])
def test_the_mask_shows_signals_blocked_outside_shmcp(inherited):
    # sigpause reads the OS mask only if a signal may be blocked there:
    # inherited at start, or blocked later through signal.pthread_sigmask
    def block_alrm() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
    out = subprocess.run([sys.executable, "-c", _MASK_PROBE], capture_output=True, text=True,
                         timeout=60, check=True, preexec_fn=block_alrm if inherited else None)
    assert out.stdout.split() == [str(int(inherited)), "1"]


_IUCV_PAUSER = """
    import signal, shmcp
    from shmcp import MsgPlist, PathPlist, iucv
    got = []
    signal.signal(shmcp.SIGIUCV, lambda s, f: got.append(shmcp.siginfo()))
    shmcp.sigblock(shmcp.sigmask(shmcp.SIGIUCV))
    vm = shmcp.logon("pauser")
    iucv.dclbfr(PathPlist())
    print("READY", flush=True)

    def take():
        while not got:
            shmcp.sigpause(0)
        return got.pop(0)

    pend = take()
    assert iucv.accept(PathPlist(pathid=pend.pathid)) == 0
    seqs, kinds, buf = [], set(), bytearray(4)
    while (ev := take()).type != iucv.IPTYPE_PATH_SEVERED:
        kinds.add((type(ev).__name__, ev.type))
        ev.flags1 = iucv.IPFGPID | iucv.IPFGMID | iucv.IPFGMCL
        ev.bf1 = buf
        assert iucv.receive(ev) == 0
        seqs.append(int.from_bytes(buf, "big"))
    print(len(seqs), int(seqs == list(range(len(seqs)))), sorted(kinds),
          shmcp.siginfo() is None, shmcp.sigblock(0) & shmcp.sigmask(shmcp.SIGIUCV) != 0, flush=True)
    input()
"""


def test_sigpause_hands_iucv_messages_over_once_in_order_awake_or_asleep(system):
    """One-way IUCV messages in bursts with gaps: those that come while
    sigpause spins are shown and handed to the handler by the pause itself,
    those that wake it from its sleep come by the doorbell the wait takes;
    the handler sees each once, in order, siginfo() its MsgPlist; the
    connection and SEVER around them (presented in Python) too."""
    total, burst = 3000, 40
    with serving(_IUCV_PAUSER) as proc, shmcp.logon("poker") as vm:
        shmcp.iucv.dclbfr(shmcp.PathPlist())
        c = shmcp.PathPlist(vmid="pauser", msglim=255)
        assert shmcp.iucv.connect(c) == 0
        assert vm.wait(timeout=30).type == shmcp.iucv.IPTYPE_CONNECTION_COMPLETE
        done = 0
        for seq in range(total):
            if seq % burst == 0:
                time.sleep(0.002)  # the pause goes to sleep
            op = shmcp.MsgPlist(pathid=c.pathid, flags1=shmcp.iucv.IPNORPY,
                                bf1=seq.to_bytes(4, "big"))
            while shmcp.iucv.send(op) == 1:  # the message limit: take a completion
                assert op.rcode == shmcp.iucv.IPRC_MSGLIM_EXCEEDED
                assert vm.wait(timeout=30).audit == 0
                done += 1
                op.flags1 = shmcp.iucv.IPNORPY
        while done < total:
            assert vm.wait(timeout=30).audit == 0
            done += 1
        assert shmcp.iucv.sever(shmcp.PathPlist(pathid=c.pathid)) == 0
        assert line(proc) == f"{total} 1 [('MsgPlist', 9)] True True"
