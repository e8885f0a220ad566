"""SIGIUCV and SIGVMCF: real signals, one handler call per external interrupt.

The program establishes its handler with Python's own
``signal.signal(shmcp.SIGIUCV, handler)``.  Signals coalesce, so shmcp keeps
the handler itself and installs a dispatcher in its place: on each doorbell
the dispatcher takes interrupts off the VM's queue one by one and calls the
program's handler once for each, ``siginfo()`` returning that interrupt.
To do that, importing shmcp wraps ``signal.signal`` and ``signal.getsignal``
for these two signals (every other signal passes straight through).

``sigblock``, ``sigsetmask`` and ``sigpause`` keep SAS/C's semantics.  For
SIGIUCV and SIGVMCF the blocked set is the library's own (interrupts stay on
the queue; the OS mask is untouched, so nothing else is held up); bits of
other signals go to the thread's OS signal mask.

``sigpause`` and ``siginfo`` are C (csrc/pyext/sigpause.c: the seed
programs pause once per message); they share this module's state -- the
handlers, the library mask, siginfo()'s stack, the delivery loops running
-- and leave every case but the common one to ``_sigpause`` here.
"""
from __future__ import annotations

import _thread
from _signal import pthread_sigmask as _sigmask
from _signal import sigpending as _sigpending
import signal as _signal_module
import sys
import threading
from typing import Any

from . import _native
from ._native import lib
from .errors import ShmcpError
from .interrupt import IUCV, VMCF
from .machine import VirtualMachine, current

SIGIUCV = _signal_module.SIGUSR1
SIGVMCF = _signal_module.SIGUSR2
_FACILITY = {int(SIGIUCV): IUCV, int(SIGVMCF): VMCF}
_SIGNAL = {IUCV: SIGIUCV, VMCF: SIGVMCF}

_os_signal = _signal_module.signal
_os_getsignal = _signal_module.getsignal

_handler: dict[int, Any] = {int(SIGIUCV): _signal_module.SIG_DFL, int(SIGVMCF): _signal_module.SIG_DFL}
_established: set[int] = set()   # signals that ever had a handler (SAS/C's rc -1 rule)
_blocked = 0                     # library mask: bits of SIGIUCV / SIGVMCF
_OURS = (1 << (SIGIUCV - 1)) | (1 << (SIGVMCF - 1))
# interrupts being handled (as viewed), innermost last, above a None: what
# siginfo() answers outside any handler (a list that empties frees its
# storage, and the next handler's append allocates it again)
_info: list[Any] = [None]
_active: set[int] = set()        # signals whose delivery loop is running


def sigmask(sig: int) -> int:
    """The mask bit of signal ``sig``: ``1 << (sig - 1)``."""
    if isinstance(sig, bool) or not isinstance(sig, int):  # (a signal.Signals is an int)
        raise TypeError(f"sigmask() takes a signal number, not {type(sig).__name__}")
    sig = int(sig)
    if not 1 <= sig < _signal_module.NSIG:
        raise ValueError(f"signal number {sig} is out of range 1..{_signal_module.NSIG - 1}")
    return 1 << (sig - 1)


def handler_established(sig: int) -> bool:
    """Whether a handler was ever established for ``sig`` (SIGIUCV/SIGVMCF)."""
    return int(sig) in _established


def unhandled_facilities() -> int:
    """Facility mask of the facilities whose signal has no handler (kept
    in the extension, where wait()'s C part reads it)."""
    return _native.unhandled()


def _note_handlers() -> None:
    _native.set_unhandled(sum(1 << f for f, s in _SIGNAL.items() if not callable(_handler[int(s)])))


# -- the wrapped signal.signal / signal.getsignal ---------------------------

def _wrapped_signal(signalnum: Any, handler: Any) -> Any:
    num = int(signalnum)
    if num not in _handler:
        return _os_signal(signalnum, handler)
    if not (callable(handler) or handler in (_signal_module.SIG_DFL, _signal_module.SIG_IGN)):
        raise TypeError("signal handler must be signal.SIG_IGN, signal.SIG_DFL, or a callable object")
    if threading.current_thread() is not threading.main_thread():
        raise ValueError("signal only works in main thread of the main interpreter")
    _os_signal(signalnum, _dispatch)
    old = _handler[num]
    _handler[num] = handler
    _note_handlers()
    _sync_async()
    if callable(handler):
        _established.add(num)
        _deliver(num, sys._getframe(1))  # interrupts that waited for a handler
    return old


def _wrapped_getsignal(signalnum: Any) -> Any:
    num = int(signalnum)
    if num in _handler:
        return _handler[num]
    return _os_getsignal(signalnum)


def _adopt() -> None:
    """Install the dispatcher; adopt a handler established before shmcp's
    wrapper was in place (e.g. through a ``from signal import signal``)."""
    for num in _handler:
        cur = _os_getsignal(num)
        if cur is not _dispatch:
            if callable(cur):
                _handler[num] = cur
                _established.add(num)
            _os_signal(num, _dispatch)
    _note_handlers()


_signal_module.signal = _wrapped_signal
_signal_module.getsignal = _wrapped_getsignal


# -- delivery ----------------------------------------------------------------

def _dispatch(signum: int, frame: Any) -> None:
    """The real Python handler of SIGUSR1/SIGUSR2: a doorbell rang."""
    vm = current()
    if vm is None:
        return
    lib.shmcp_bell_clear(vm.handle, vm.slot, _FACILITY[signum])
    _deliver(signum, frame)


def _call(signum: int, frame: Any, shown: Any) -> None:
    """The handler of ``signum``, once, for an interrupt ``shown`` as its
    facility shows it (what siginfo() answers inside)."""
    _info.append(shown)
    try:
        _handler[signum](signum, frame)
    finally:
        _info.pop()


def _deliver(signum: int, frame: Any) -> None:
    """Call the handler of ``signum`` once per queued interrupt while it is
    unblocked.  As with a POSIX handler, a signal is not nested into its own
    handler: a doorbell that rings meanwhile is left to the running loop,
    which looks at the queue once more after it ends so nothing is stranded.
    (Handlers of the other signal may nest.)"""
    if signum in _active or _native.pausing():  # its loop, or a C pause's, is running
        return
    fac = _FACILITY[signum]

    def eligible() -> VirtualMachine | None:
        vm = current()
        return vm if vm is not None and _takes(signum) else None

    while eligible():
        _active.add(signum)
        done = False
        try:
            while (vm := eligible()) is not None:
                got = vm.pop_shown(1 << fac)  # shown in C in the common case
                if got is None:
                    break
                _call(signum, frame, got[1])
            done = True
        finally:
            _active.discard(signum)
            if not done:
                _cut_short((signum,))
        vm = eligible()
        if vm is None or not vm.pending(fac):
            return


def _cut_short(signals: Any) -> None:
    """A delivery ended in an exception (a handler raised, or Ctrl-C): the
    exception goes on to the program, and the interrupts still due are
    handled at Python's next check for signals, as CPython does with the
    signals behind a handler that raised (it trips them again).  Tripping
    the signal itself is that: ``_dispatch`` runs there, in the main thread,
    nothing new needed.  Called with the loops marked inactive."""
    vm = current()
    if vm is None:
        return
    for sig in signals:
        try:
            due = _takes(sig) and vm.pending(_FACILITY[sig])
        except ShmcpError:
            return  # the VM has ended: nothing is due, the exception goes on
        if due:
            _thread.interrupt_main(sig)


def _takes(sig: int) -> bool:
    """Whether ``sig``'s handler takes interrupts now: established and not
    blocked by the library mask."""
    return callable(_handler[int(sig)]) and not _blocked & (1 << (int(sig) - 1))


def _sync_async() -> None:
    """Tell the core which facilities must be interrupted wherever this VM
    is (an unblocked handler): only those get a doorbell for every record;
    the others only while they sleep."""
    vm = current()
    if vm is None:
        return
    for fac, sig in _SIGNAL.items():
        lib.shmcp_set_async(vm.handle, vm.slot, fac, int(_takes(sig)))


def _deliver_all(frame: Any) -> None:
    for sig in _SIGNAL.values():
        _deliver(int(sig), frame)


def deliver(facility: int) -> None:
    """Run the program's handler of ``facility``'s signal once per queued
    interrupt, if one is established and unblocked (a facility calls this
    when it releases interrupts it held)."""
    _deliver(int(_SIGNAL[facility]), None)


def after_logon() -> None:
    """This process has just logged on (shmcp.session): the dispatcher in
    place, the core told which facilities interrupt anywhere, and what
    waited for a handler handled."""
    _adopt()
    _sync_async()
    _deliver_all(None)


# -- SAS/C's mask functions ----------------------------------------------------

def _os_mask() -> int:
    # the thread's OS mask, read only if a signal may be blocked there:
    # reading it is a system call and a set, ~1 us of each sigpause.
    if not _os_may_block:
        return 0
    # signal.pthread_sigmask's own C function: its wrapper in signal.py
    # makes an enum of each signal
    blocked = _sigmask(_signal_module.SIG_BLOCK, ())
    return sum(1 << (int(s) - 1) for s in blocked)


# Whether any thread's OS signal mask may hold a signal: true if the
# importing thread started with one blocked (inherited), and from the first
# signal.pthread_sigmask that blocks or sets a mask on (shmcp's own
# sigblock goes through it too).  Never cleared: masks are per thread.
_os_may_block = bool(_sigmask(_signal_module.SIG_BLOCK, ()))
_os_pthread_sigmask = _signal_module.pthread_sigmask


def _wrapped_pthread_sigmask(how: Any, mask: Any) -> Any:
    global _os_may_block
    if how != _signal_module.SIG_UNBLOCK:
        _os_may_block = True  # before the call: a signal may arrive in between
    return _os_pthread_sigmask(how, mask)


_wrapped_pthread_sigmask.__doc__ = _os_pthread_sigmask.__doc__
_signal_module.pthread_sigmask = _wrapped_pthread_sigmask


def _set_os_mask(mask: int) -> None:
    # the set bits one by one (a sigpause under a mask sets it twice)
    global _os_may_block
    mask &= _OS_SETTABLE
    sigs = []
    while mask:
        low = mask & -mask
        sigs.append(low.bit_length())
        mask ^= low
    _os_may_block = True
    _sigmask(_signal_module.SIG_SETMASK, sigs)


_OS_SETTABLE = ~(_OURS | (1 << (_signal_module.SIGKILL - 1)) | (1 << (_signal_module.SIGSTOP - 1)))


def _current_mask() -> int:
    return _blocked | (_os_mask() & ~_OURS)


def _check_mask(mask: int) -> int:
    if not isinstance(mask, int) or isinstance(mask, bool):
        raise TypeError(f"signal mask must be an int, not {type(mask).__name__}")
    if mask < 0 or mask >> (_signal_module.NSIG - 1):
        raise ValueError(f"signal mask {mask:#x} has bits outside signals 1..{_signal_module.NSIG - 1}")
    return mask


def sigblock(mask: int) -> int:
    """Add ``mask`` to the blocked set; return the previous set.
    ``sigblock(0)`` only asks."""
    global _blocked
    old = _current_mask()
    mask = _check_mask(mask)
    _blocked |= mask & _OURS
    if mask & ~_OURS:
        _set_os_mask(old | mask)
    _sync_async()
    return old


def sigsetmask(mask: int) -> int:
    """Replace the blocked set with ``mask``; return the previous one.
    Interrupts that waited while blocked are handled at once, one handler
    call each."""
    global _blocked
    old = _current_mask()
    mask = _check_mask(mask)
    _blocked = mask & _OURS
    if (old ^ mask) & ~_OURS:
        _set_os_mask(mask)
    _sync_async()
    _deliver_all(sys._getframe(1))
    return old


def _sigpause(mask: int = 0) -> None:
    """sigpause() in Python: every case its C part (sigpause.c, the common
    one) leaves to it -- another signal in ``mask`` or blocked in the OS, a
    delivery loop running, interrupts released ahead of the ring, no
    handler to wait for.  The same pause: one core wait, spinning first
    (an interrupt that comes then needs no signal and goes to the handler
    from here), then asleep until the doorbell, which the wait takes."""
    global _blocked
    mask = _check_mask(mask)
    vm = current()
    if vm is None:
        raise ShmcpError("sigpause: this process is not logged on as a virtual machine")
    frame = sys._getframe(1)
    # The pause delivers by itself: a doorbell handled meanwhile must not
    # slip the next interrupt in ahead of the one the pause took.
    added = _BOTH - _active
    _active.update(added)
    done = False
    try:
        # the wait under ``mask``; the previous mask is back after it
        old_lib = _blocked
        old_os = _os_mask()
        _blocked = mask & _OURS
        os_changed = (old_os ^ mask) & ~_OURS
        due = False
        if os_changed:
            # a signal pending while blocked that the mask lets through is
            # delivered as it is set: its handler, not a wait, ends the pause
            freed = old_os & ~mask & ~_OURS
            due = bool(freed) and any(freed >> (int(s) - 1) & 1 for s in _sigpending())
            _set_os_mask(mask)
        try:
            fmask = 0
            for fac, sig in _SIGNAL_OF.items():
                if _takes(sig):
                    fmask |= 1 << fac
            got = None
            if due:
                pass  # its handler runs as Python next looks (the loop above at the latest)
            elif fmask:
                got = vm.pop_shown(fmask, -1)  # None: another signal's handler runs as we return
            else:
                _signal_module.pause()  # only other signals can end this pause
        finally:
            _blocked = old_lib
            if os_changed:
                _set_os_mask(old_os)
        if got is not None:
            _call(_SIGNAL_OF[got[0]], frame, got[1])
        done = True
    finally:
        _active.difference_update(added)
        if not done:
            _cut_short(added)
    for sig in _SIGNAL_OF.values():
        if sig in added and _takes(sig):
            _deliver(sig, frame)  # what the restored mask lets through


_BOTH = frozenset(int(s) for s in _SIGNAL.values())
_SIGNAL_OF = {fac: int(sig) for fac, sig in _SIGNAL.items()}
_sigpause.__qualname__ = _sigpause.__name__ = "sigpause"  # its messages name the public call

# sigpause and siginfo are C (sigpause.c), sharing this module's state:
# the handlers, siginfo()'s stack, the delivery loops, the library mask
_native.bind_signals(_handler, _info, _active, globals(), _sigpause, _deliver, _cut_short,
                     tuple(int(_SIGNAL[f]) for f in range(len(_SIGNAL))))
sigpause = _native.sigpause
siginfo = _native.siginfo


__all__ = ["SIGIUCV", "SIGVMCF", "sigmask", "siginfo", "sigblock", "sigsetmask", "sigpause",
           "handler_established", "unhandled_facilities", "deliver", "after_logon"]
