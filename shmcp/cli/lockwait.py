"""Commands that must take the control lock (force, smsg, msg, the trace's
attach and detach) without letting a frozen system -- a process stopped
while it holds the lock -- hang the operator's terminal too.

The core's call runs in a daemon thread; the command waits for it in the
main thread, where Ctrl-C (and SIGTERM where ``end_as_ctrl_c`` is in force)
lands.  Past ``--wait`` seconds with the lock held by another process, or
on Ctrl-C meanwhile, ``ControlLockHeld`` names the holder as the queries
do.  The call is left in its thread, blocked on the robust mutex: it holds
nothing there, and ends with the process; the system it was given stays
mapped until then (``attached``), so the thread never wakes in memory
unmapped under it."""
from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

from ..snapshot import ControlLockHeld, LockHolder, lock_holder
from ..system import System

T = TypeVar("T")

# how often the waiting main thread looks: a signal the kernel gave the
# call's thread is run by the main thread at its next look
_LOOK = 0.05
_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
# systems a call was left inside: never detached by this process
_left_inside: list[System] = []


@contextmanager
def attached(system: str | None) -> Iterator[System]:
    """``System.attach(system)`` for ``bounded`` calls, detached at the end
    unless one of them was left waiting inside it."""
    s = System.attach(system)
    try:
        yield s
    finally:
        if not any(s is left for left in _left_inside):
            s.detach()


def holder_text(h: LockHolder) -> str:
    """One line naming the control lock's holder (``kill -CONT`` if stopped)."""
    who = f"PID {h.pid}" + (f" ({h.userid})" if h.userid else "") + \
        (f" thread {h.tid}" if h.tid != h.pid else "")
    if h.process in ("stopped", "traced"):
        return (f"the control lock is held by {who}, which is {h.process}: the system waits "
                f"until it continues (kill -CONT {h.pid}) or ends")
    return f"the control lock is held by {who} ({h.process})"


def _other_holder(s: System) -> LockHolder | None:
    h = lock_holder(s)
    return h if h is not None and h.pid != os.getpid() else None


class HeldAtCtrlC(ControlLockHeld):
    """ControlLockHeld raised by ``bounded`` on Ctrl-C (not past its wait):
    the command ends, it does not show what it can read without the lock."""


def _held(h: LockHolder, kind: type[ControlLockHeld] = ControlLockHeld) -> ControlLockHeld:
    return kind(holder_text(h), h)


def bounded(s: System, wait: float, call: Callable[[], T]) -> T:
    """``call()``, a core call that takes ``s``'s control lock, waited for
    as long as it runs, but at most ``wait`` seconds while another process
    holds the lock: then ControlLockHeld naming the holder, or on Ctrl-C
    while another process holds it HeldAtCtrlC.  A Ctrl-C while nobody else holds
    it is KeyboardInterrupt, as ever.  ``s`` comes from ``attached``."""
    box: dict[str, Any] = {}

    def run() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)  # for the main thread
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the main thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="shmcp-control-lock", daemon=True)
    end = time.monotonic() + wait
    try:
        thread.start()
        while thread.is_alive():
            thread.join(_LOOK)
            if thread.is_alive() and time.monotonic() >= end:
                holder = _other_holder(s)
                if holder is not None:
                    raise _held(holder)
    except KeyboardInterrupt:
        holder = _other_holder(s)
        if holder is not None:
            raise _held(holder, HeldAtCtrlC) from None
        raise
    finally:
        if not box:  # not finished (is_alive is False until start() saw it run)
            _left_inside.append(s)
    if "error" in box:
        raise box["error"]
    return box["value"]
