"""Virtual machines for the tests, each run as a real child process.

``python tests/children.py ROLE ARGS...`` logs on (system from
$SHMCP_SYSTEM), prints ``READY`` once it can take interrupts, does its
role, and prints one JSON line with its findings (shmcp.testing's protocol).
"""
from __future__ import annotations

import signal
import struct
import sys
import time

import shmcp
from shmcp.testing import say


def record(sender: int, seq: int) -> bytes:
    """A 40-byte interrupt image carrying the sender's number and a sequence
    (type byte 3 zero: no facility's interrupt type, so it stays raw)."""
    return struct.pack(">4xII", sender, seq).ljust(40, b"\0")


def unpack(raw: bytes) -> tuple[int, int]:
    return struct.unpack(">II", raw[4:12])


def queue_retrying(vm: shmcp.VirtualMachine, target: str, image: bytes, priority: bool = False) -> int:
    """Queue ``image`` for ``target``, retrying while its queue is full;
    how many times it was full."""
    full = 0
    while True:
        try:
            vm.queue_interrupt(target, image, priority=priority)
            return full
        except shmcp.QueueFull:
            full += 1
            time.sleep(0.0005)


def send(me: str, target: str, sender: int, count: int, priority: str = "no") -> None:
    """Queue ``count`` interrupts for ``target``, retrying while its queue is full."""
    vm = shmcp.logon(me)
    say("READY")
    sys.stdin.readline()  # go
    full = sum(queue_retrying(vm, target, record(sender, seq), priority == "yes")
               for seq in range(count))
    say({"sent": count, "full": full})
    sys.stdin.readline()  # stay logged on until told
    vm.logoff()


def send_bursts(me: str, target: str, count: int, burst: int) -> None:
    """Queue ``count`` interrupts for ``target`` in bursts of 1..``burst``,
    pausing between them long enough (up to 3 ms) for the target to fall
    asleep at times and to find the next burst awake at others."""
    import random
    vm = shmcp.logon(me)
    say("READY")
    sys.stdin.readline()  # go
    rng = random.Random(count * 1000 + burst)
    seq = 0
    while seq < count:
        for _ in range(min(rng.randint(1, burst), count - seq)):
            queue_retrying(vm, target, record(0, seq))
            seq += 1
        time.sleep(rng.choice((0, 0, 0.00002, 0.0002, 0.003)))
    say({"sent": count, "full": 0})
    sys.stdin.readline()  # stay logged on until told
    vm.logoff()


class Counter:
    """A SIGIUCV handler that checks every sender's sequence."""

    def __init__(self, senders: int) -> None:
        self.next = [0] * senders
        self.calls = 0
        self.errors: list[str] = []

    def __call__(self, signum: int, frame: object) -> None:
        info = shmcp.siginfo()
        self.calls += 1
        if info is None:
            self.errors.append("siginfo() is None inside the handler")
            return
        sender, seq = unpack(info.raw)
        if seq != self.next[sender]:
            if len(self.errors) < 5:
                self.errors.append(f"sender {sender}: got {seq}, expected {self.next[sender]}")
        self.next[sender] = seq + 1

    def result(self) -> dict:
        return {"calls": self.calls, "next": self.next, "errors": self.errors}


def receive(me: str, senders: int, total: int, mode: str) -> None:
    """Count ``total`` interrupts in a SIGIUCV handler.  mode "sigpause": the
    SAS/C way, blocked except in sigpause(0); mode "async": unblocked, the
    handler runs whenever a doorbell interrupts the main line."""
    counter = Counter(senders)
    signal.signal(shmcp.SIGIUCV, counter)
    if mode == "sigpause":
        shmcp.sigblock(shmcp.sigmask(shmcp.SIGIUCV))
    vm = shmcp.logon(me)
    say("READY")
    if mode == "sigpause":
        while counter.calls < total:
            shmcp.sigpause(0)
    else:
        spins = 0
        while counter.calls < total:
            spins += 1  # plain Python work, interrupted by the doorbell
            if spins % 1000 == 0:
                time.sleep(0.0001)
    extra = vm.wait(timeout=0.2)  # nothing may be left over or doubled
    out = counter.result()
    out["outside"] = shmcp.siginfo() is None
    out["left"] = extra is not None
    say(out)
    vm.logoff()


def blocked(me: str, count: int) -> None:
    """Block SIGIUCV, let ``count`` interrupts queue, then one sigsetmask(0)."""
    counter = Counter(1)
    signal.signal(shmcp.SIGIUCV, counter)
    shmcp.sigblock(shmcp.sigmask(shmcp.SIGIUCV))
    vm = shmcp.logon(me)
    say("READY")
    sys.stdin.readline()  # the sender has queued everything
    before = counter.calls
    queued = vm.pending()
    shmcp.sigsetmask(0)
    say({"before": before, "queued": queued, **counter.result()})
    vm.logoff()


def raising(me: str, count: int) -> None:
    """Blocked while ``count`` interrupts queue; sigsetmask(0) releases them
    and the handler raises on its first call.  The program catches the
    exception and carries on with plain Python work (no shmcp call, nothing
    new arriving): report what the handler saw."""
    seen: list[int] = []

    def handler(signum: int, frame: object) -> None:
        seen.append(unpack(shmcp.siginfo().raw)[1])
        if len(seen) == 1:
            raise LookupError(f"handler refused interrupt {seen[0]}")

    signal.signal(shmcp.SIGIUCV, handler)
    shmcp.sigblock(shmcp.sigmask(shmcp.SIGIUCV))
    vm = shmcp.logon(me)
    say("READY")
    sys.stdin.readline()  # the sender has queued everything
    caught = None
    try:
        shmcp.sigsetmask(0)
    except LookupError as e:
        caught = str(e)
    deadline = time.monotonic() + 5
    while len(seen) < count and time.monotonic() < deadline:
        sum(range(100))  # the main line goes on; nothing new arrives
    say({"caught": caught, "seen": seen, "left": vm.pending()})
    vm.logoff()


def order(me: str) -> None:
    """Blocked; report the order in which queued interrupts are handled."""
    seen: list[list] = []
    signal.signal(shmcp.SIGIUCV,
                  lambda s, f: seen.append([shmcp.siginfo().priority, *unpack(shmcp.siginfo().raw)]))
    shmcp.sigblock(shmcp.sigmask(shmcp.SIGIUCV))
    vm = shmcp.logon(me)
    say("READY")
    sys.stdin.readline()
    shmcp.sigsetmask(0)
    say({"seen": seen})
    vm.logoff()


def idle(me: str, how: str = "logoff") -> None:
    """Log on, say READY, wait for a line, then end as ``how`` says:
    logoff, exit (normal exit, atexit), raise (uncaught exception),
    hang (wait to be killed)."""
    vm = shmcp.logon(me)
    say("READY")
    sys.stdin.readline()
    if how == "logoff":
        vm.logoff()
        say("DONE")
    elif how == "exit":
        say("DONE")
        sys.exit(0)
    elif how == "raise":
        say("DONE")
        raise RuntimeError("uncaught, on purpose")
    elif how == "hang":
        while True:
            time.sleep(1)


def lockspin(me: str) -> None:
    """Take and release the control lock without end (each storage_free()
    takes it), so that a SIGSTOP may land inside it."""
    shmcp.logon(me)
    s = shmcp.System.attach()
    say("READY")
    while True:
        s.storage_free()


def fault(me: str, target: str, point: str) -> None:
    """Die by SIGKILL at fault-injection point ``point`` (SHMCP_FAULT is set
    by the parent): post -> inside the lock with a claimed queue slot;
    logoff -> inside the lock in the logoff hook; logon -> inside the lock
    while taking a VM slot."""
    if point == "logon":
        shmcp.logon(me)  # dies in here
    vm = shmcp.logon(me)
    say("READY")
    sys.stdin.readline()
    if point == "post":
        vm.queue_interrupt(target, record(9, 9))
    elif point == "logoff":
        vm.logoff()
    say("SURVIVED")  # must not be reached


if __name__ == "__main__":
    role, *args = sys.argv[1:]
    globals()[role](*[int(a) if a.isdigit() else a for a in args])
