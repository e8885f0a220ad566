"""Virtual machines: this OS process is logged on to a system with a userid.

One VM per process.  LOGOFF happens on ``logoff()``, on leaving the ``with``
block, at interpreter exit (also after an uncaught exception), and -- when
the process is killed -- by the watchdog of any other VM within a second.
LOGON itself is shmcp.session's (it binds the signals too).

The runtime's internal API, for the facilities (iucv, vmcf, msgservice), the
signal delivery (signals.py) and the Pythonic layer; nothing else of a VM is
theirs to touch:

* ids: ``vm.handle`` (the system's handle for the core's calls; NotLoggedOn
  once the VM is off), ``vm.slot``, ``vm.gen``, ``vm.logged_on``,
  ``vm.attached`` (the System), ``vm.facility_state`` (a dict per facility,
  process-local), ``vm.present_types`` and ``vm.iucv_answers`` /
  ``vm.iucv_buffer`` (IUCV's, read by the C message calls).  All of them
  live in the C base (csrc/pyext/machine.c) except the handle and System.
  ``vm.answer_done(msgid)``: an IUCV answer area the core will not write
  any more (completion taken, purged, withdrawn); ``vm.send_begun(area)``
  / ``vm.send_ended(area, msgid)`` around a SEND that records its answer
  area after the call (its message id is the call's): the area is kept
  throughout, and a completion taken in between leaves no record.
  ``vm.spin_ns``: how long a wait spins before it sleeps.
* take and sleep: ``vm.wait(timeout)`` / ``vm.events(timeout)`` (the
  program's), ``vm.wait_from(got, timeout)`` (wait() going on from what a
  C-base core wait returned for Python: a record's bytes, or an outcome), ``vm.pop(fmask, timeout_ns=0)`` (the next interrupt to
  present; ``timeout_ns`` -1: waiting for one), ``vm.pop_shown(fmask,
  timeout_ns=0, got=None)`` (the same, as (facility, what siginfo() shows);
  ``got``: a take_shown result to go on from), ``vm.sleep(fmask,
  timeout_ns)`` (one core wait, nothing taken),
  ``vm.stash(fmask)``, ``vm.release(interrupt)`` (present it before the
  ring), ``vm.pending(facility)``.  The process's threads may all wait at
  once (``vm.wait(timeout)`` in each): the core lets one take at a time,
  each core wait has its own record and lets the GIL go, and ``timeout``
  bounds it; each interrupt goes to exactly one of them.
* endings: ``vm.lost(rc)`` -- the exception for a core call that says the
  VM ended (it is forgotten here); ``vm.failed(rc, context)`` -- that, or
  the funnel's exception (errors.core_error) for any other core error.
* deliver: ``shmcp.signals.deliver(facility)`` runs the program's handler
  for what is queued (when one is established and unblocked).
* presentation: each facility's ``present(vm, interrupt)`` and
  ``view(interrupt)`` are in interrupt.FACILITIES, filled by shmcp/__init__.
"""
from __future__ import annotations

import atexit
import collections
import os
import re
import struct
import time
from collections.abc import Callable, Iterator
from typing import Any

from . import _native
from ._native import ffi, lib, timeout_ns
from .errors import NotLoggedOn, ShmcpError, SystemDown, check, core_error
from .interrupt import FACILITIES, IUCV, VMCF, Interrupt, facility_of, view
from .system import System

_USERID_CHARS = re.compile(r"[A-Z0-9@#$]+")
ALL_FACILITIES = (1 << IUCV) | (1 << VMCF)


def userid_bytes(userid: str | bytes) -> bytes:
    """A userid as CP keeps it: 1-8 of ``A-Z 0-9 @ # $``, folded to upper case,
    blank-padded to 8 bytes.  Raises TypeError / ValueError saying what is wrong."""
    if isinstance(userid, (bytes, bytearray, memoryview)):
        raw = bytes(userid)
        try:
            userid = raw.decode("ascii")
        except UnicodeDecodeError:
            raise ValueError(f"userid {raw!r} is not ASCII") from None
    if not isinstance(userid, str):
        raise TypeError(f"userid must be str or bytes, not {type(userid).__name__}")
    text = userid.rstrip(" ").upper()
    if not text:
        raise ValueError("userid is empty")
    if len(text) > 8:
        raise ValueError(f"userid {userid!r} is longer than 8 characters")
    if not _USERID_CHARS.fullmatch(text):
        bad = "".join(sorted({c for c in text if not _USERID_CHARS.fullmatch(c)}))
        raise ValueError(f"userid {userid!r} has characters {bad!r}; allowed are A-Z 0-9 @ # $")
    return text.encode("ascii").ljust(8)


def _bytes_like(value: Any, name: str) -> bytes:
    """``value``'s bytes; a str or an int (which bytes() would take) is a
    TypeError naming the argument."""
    if type(value) is bytes:  # the common case, no copy
        return value
    try:
        return memoryview(value).tobytes()
    except TypeError:
        raise TypeError(f"{name} must be a bytes-like object, not {type(value).__name__}") from None


_TIMEOUT = lib.SHMCP_WAIT_TIMEOUT
_SLICE = lib.SHMCP_WAIT_SLICE  # a main thread's sleep slice ended: Python's handlers ran
# struct shmcp_record, as the C base's take() returns it: facility, priority,
# ext_len, presented, ext_off, then the 40-byte image
_RECORD_HEAD = struct.Struct("=iiIIQ")
if (_RECORD_HEAD.size != ffi.offsetof("struct shmcp_record", "data")
        or ffi.sizeof("struct shmcp_record") != _RECORD_HEAD.size + lib.SHMCP_RECORD_LEN):
    raise ImportError("shmcp's record layout is not the one machine.py reads")
_record_head = _RECORD_HEAD.unpack_from
_IMAGE = slice(_RECORD_HEAD.size, None)
# What the layers above do just before a VM's LOGOFF, each called with the
# VM (the Pythonic layer: its thread leaves the core's wait)
before_logoff: "list[Callable[[VirtualMachine], None]]" = []


class VirtualMachine(_native.Machine):
    """A logged-on virtual machine: this process, as ``userid`` on ``system``.

    Its C base (csrc/pyext/machine.c) keeps what the message calls read on
    every message -- the core's ids, ``present_types``, the interrupts
    released ahead of the ring, IUCV's answer areas and buffer -- and runs
    wait()'s common case; ``_wait`` is the rest of it.  The module
    docstring lists what facilities may use."""

    def __init__(self, system: System, userid8: bytes, slot: int, gen: int) -> None:
        self.attached = system
        self.userid8 = userid8
        self.userid = userid8.decode().rstrip()
        self.system = system.name
        self.spin_ns = system.spin_ns
        # the core's ids go to the C base, their one owner, until _logged_off()
        self._logged_on(int(ffi.cast("uintptr_t", system.handle)), slot, gen, self.spin_ns)
        self._targets: dict[Any, tuple[bytes, int, int]] = {}  # userid -> (uid8, slot, gen)
        # interrupts taken off the ring but not presented yet (released by
        # SET MASK, or stashed by TEST MESSAGE): they go before the ring
        self._released = collections.deque()
        self.present_types = 0  # IUCV types the core presents (bit n: type n)
        self.facility_state: dict[int, Any] = {}  # per facility, process-local
        # a layer above that takes this VM's interrupts itself (the Pythonic
        # layer) shows them through events() with this: timeout -> iterator
        self.events_source: Callable[[float | None], Iterator[Any]] | None = None

    # -- lifecycle ---------------------------------------------------------

    @property
    def handle(self) -> "ffi.CData":
        """The system's handle for the core's calls; NotLoggedOn once off."""
        if not self.logged_on:
            raise NotLoggedOn(f"{self.userid} is not logged on to system {self.system}")
        return self.attached.handle

    def logoff(self) -> None:
        """LOGOFF: the logoff hook runs, the slot and storage are freed, the
        userid can log on again at once.  Idempotent."""
        if not self.logged_on:
            return
        for hook in before_logoff:  # e.g. a layer's thread leaves the core's wait
            hook(self)
        handle = self.attached.handle
        # off in this process first: the process's other threads in a wait
        # of this VM come out of the core (NotLoggedOn), and none starts a
        # call, before CP's LOGOFF and the unmapping.  False: another
        # thread logged it off meanwhile
        if not self._leave():
            return
        lib.shmcp_logoff(handle, self.slot, self.gen)  # stale: already off
        self._forget()

    def _forget(self) -> None:
        self._leave()  # (no thread is inside the core's wait after it)
        self.attached.detach()
        if _native.current() is self:
            _native.set_current(None)

    def lost(self, rc: int) -> NotLoggedOn | SystemDown:
        """The exception for a core call that says this VM ended (forced off,
        or the system went down); the VM is forgotten in this process."""
        if not self.logged_on:  # another of its threads logged it off
            return NotLoggedOn(f"{self.userid} was logged off on system {self.system}")
        down = lib.shmcp_is_down(self.attached.handle)
        self._forget()
        if down:
            return SystemDown(f"system {self.system} was shut down; {self.userid} is logged off")
        return NotLoggedOn(f"{self.userid} was logged off (forced) on system {self.system}")

    def failed(self, rc: int, context: str) -> Exception:
        """The exception for core return code ``rc`` of a call for this VM:
        lost() when the VM ended, else the funnel's (errors.core_error)."""
        if rc in (lib.SHMCP_E_DOWN, lib.SHMCP_E_STALE, lib.SHMCP_E_NOTLOGGED):
            return self.lost(rc)
        return core_error(rc, context)

    def __enter__(self) -> "VirtualMachine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.logoff()

    def __repr__(self) -> str:
        state = "logged on" if self.logged_on else "logged off"
        return f"<VirtualMachine {self.userid} on {self.system}, {state}>"

    # -- interrupts --------------------------------------------------------

    def _target(self, userid: str | bytes, fresh: bool = False) -> tuple[bytes, int, int]:
        """(userid8, slot, generation) of a logged-on VM; cached, since a
        stale entry is caught by the core (the generation changes)."""
        key = userid if isinstance(userid, (str, bytes)) else None
        got = None if fresh or key is None else self._targets.get(key)
        if got is not None:
            return got
        uid = userid_bytes(userid)
        slot = ffi.new("int32_t *")
        gen = ffi.new("uint32_t *")
        if lib.shmcp_find(self.handle, uid, slot, gen) < 0:
            self._targets.pop(key, None)
            raise NotLoggedOn(f"{uid.decode().rstrip()} is not logged on to system {self.system}")
        got = (uid, slot[0], gen[0])
        if key is not None:
            if len(self._targets) > 1024:
                self._targets.clear()
            self._targets[key] = got
        return got

    def queue_interrupt(self, userid: str | bytes, record: bytes, *, facility: int | str = IUCV,
                        priority: bool = False, data: bytes = b"", must: bool = False) -> None:
        """Queue one external interrupt for VM ``userid`` -- CP's own queueing
        call, on which IUCV and VMCF are built.  ``record`` is the 40-byte
        image, ``data`` trailing bytes (VMCF), ``priority`` puts it ahead of
        non-priority interrupts.  Raises QueueFull / StorageExhausted (nothing
        queued) or NotLoggedOn."""
        fac = facility_of(facility)
        rec, ext = _bytes_like(record, "record"), _bytes_like(data, "data")
        if len(rec) != lib.SHMCP_RECORD_LEN:
            raise ValueError(f"record must be {lib.SHMCP_RECORD_LEN} bytes, not {len(rec)}")
        if len(ext) > 0xFFFFFFFF:
            raise ValueError("trailing data is longer than 4 GiB")
        for fresh in (False, True):  # a cached target may have logged off or on again
            uid, slot, gen = self._target(userid, fresh)
            rc = lib.shmcp_post(self.handle, slot, gen, fac, int(bool(priority)),
                                int(bool(must)), rec, ext, len(ext))
            if rc != lib.SHMCP_E_NOTLOGGED:
                break
        if rc < 0:
            if rc == lib.SHMCP_E_DOWN:
                raise self.lost(rc)
            raise core_error(rc, f"queueing an interrupt for {uid.decode().rstrip()}")

    def _waited(self, rc: int) -> int:
        """A core wait's outcome: raises if the VM ended or the core failed."""
        if rc == lib.SHMCP_WAIT_DOWN:
            raise self.lost(rc)
        if rc == lib.SHMCP_E_NOTLOGGED and not self.logged_on:
            self.handle  # raises NotLoggedOn  # noqa: B018
        return check(rc, f"{self.userid}: wait")

    def _taken(self, record: bytes) -> Interrupt:
        """A record take() returned, as an Interrupt (with its trailing data)."""
        facility, priority, ext_len, presented, ext_off = _record_head(record)
        if not ext_len:  # ext_off: the facility's word, if any
            return Interrupt(facility, priority != 0, record[_IMAGE], b"", presented != 0, ext_off)
        out = bytearray(ext_len)
        check(lib.shmcp_take_ext(self.attached.handle, self.slot, ext_off, ext_len,
                                 ffi.from_buffer("uint8_t[]", out)), f"{self.userid}: interrupt data")
        return Interrupt(facility, priority != 0, record[_IMAGE], bytes(out), presented != 0)

    def _next(self, fmask: int, timeout_ns: int = 0, present: int = -1) -> Interrupt | int:
        """One core wait (the C base's take()): the next interrupt, or the
        wait's outcome."""
        got = self.take(fmask, timeout_ns, present)
        return self._taken(got) if isinstance(got, bytes) else self._waited(got)

    def _pop_released(self, fmask: int) -> Interrupt | None:
        for i, got in enumerate(self._released):
            if fmask & (1 << got.facility):
                del self._released[i]
                return got
        return None

    def pop(self, fmask: int, timeout_ns: int = 0) -> Interrupt | None:
        """The next interrupt of the facilities in ``fmask`` to present,
        after its facility's last word; None if none.  ``timeout_ns``: 0
        (do not wait) or -1 (wait, spinning first as every core wait does,
        until one comes or another signal's handler runs)."""
        while True:
            got = self._pop_released(fmask) if self._released else None
            if got is None:
                taken = self._next(fmask, timeout_ns)
                if isinstance(taken, int):
                    if taken == _SLICE:
                        continue  # pending Python handlers ran: wait on
                    return None
                got = taken
            shown = self._present(got)
            if shown is not None:
                return shown

    def pop_shown(self, fmask: int, timeout_ns: int = 0, got: Any = None) -> tuple[int, Any] | None:
        """pop(), the interrupt as its facility shows it (what siginfo()
        gives): (facility, shown), or None.  An IUCV message interrupt the
        core presented comes from C as its parameter list, as in wait().
        ``got``: what a take_shown(fmask, timeout_ns) already returned for
        Python (a record's bytes or an outcome: sigpause's C part), gone
        on from first."""
        while True:
            if got is None:
                if self._released:
                    popped = self.pop(fmask, timeout_ns)
                    return None if popped is None else (popped.facility, view(popped))
                got = self.take_shown(fmask, timeout_ns)
            if got.__class__ is bytes:  # a record for Python to present
                shown = self._present(self._taken(got))
                got = None
                if shown is not None:
                    return shown.facility, view(shown)
                continue  # withdrawn or held: wait on
            if got.__class__ is int:
                rc, got = got, None
                if self._waited(rc) == _SLICE:  # raises if the VM ended
                    continue  # pending Python handlers ran: wait on
                return None
            return (IUCV if isinstance(got, _native.Image) else VMCF), got  # a Vmcmhdr: VMCF

    def _present(self, got: Interrupt) -> Interrupt | None:
        facility = FACILITIES.get(got.facility)
        return got if facility is None else facility.present(self, got)

    def release(self, interrupt: Interrupt) -> None:
        """Present ``interrupt`` (taken earlier, held by its facility) before
        whatever the ring holds, after those released before it."""
        self._released.append(interrupt)

    def stash(self, fmask: int) -> None:
        """Move what the ring holds into the process-local queue, in order
        (for a wait that must block until something new arrives)."""
        while not isinstance(got := self._next(fmask, 0, 0), int):
            self._released.append(got)

    def sleep(self, fmask: int, timeout_ns: int) -> int:
        """One core wait that takes nothing; returns READY / TIMEOUT / INTR,
        raises if the VM ended."""
        rc = self._sleep_core(fmask, timeout_ns)  # (counted: LOGOFF waits for it to end)
        if rc == lib.SHMCP_WAIT_DOWN or rc == lib.SHMCP_E_NOTLOGGED and not self.logged_on:
            raise self.lost(rc)
        return check(rc, f"{self.userid}: wait")

    def pending(self, facility: int | str | None = None) -> int:
        """How many interrupts are queued for this VM (of one facility, or all)."""
        fmask = ALL_FACILITIES if facility is None else 1 << facility_of(facility)
        local = sum(1 for i in self._released if fmask & (1 << i.facility))
        return local + check(lib.shmcp_pending(self.handle, self.slot, fmask), self.userid)

    # wait(timeout=None): the C base's, which calls _wait for all but its
    # common case (csrc/pyext/machine.c has its doc)

    def _wait(self, timeout: float | None = None, got: Any = None) -> Any:
        """wait(), all of it; ``got``: what a core wait the C base already
        made returned (a record, or its outcome) when it had facilities
        without a handler and nothing released (``timeout`` is then what
        is left of the caller's)."""
        fmask = _native.unhandled()
        if not fmask:
            raise ShmcpError("SIGIUCV and SIGVMCF both have handlers: interrupts go to them, "
                             "not to wait(); use sigpause()")
        left = timeout_ns(timeout)
        deadline = None if left < 0 else time.monotonic_ns() + left
        while True:
            if got is None:
                if self._released and (shown := self.pop(fmask)) is not None:
                    return view(shown)
                if not self.logged_on:
                    self.handle  # raises NotLoggedOn  # noqa: B018
                # the core's wait, from C: an IUCV message interrupt the core
                # presented (the common case) comes back as its parameter list
                got = self.take_shown(fmask, left)
                if got.__class__ is not int and got.__class__ is not bytes:
                    return got
            if got.__class__ is bytes:  # a record for Python to present
                if (shown := self._present(self._taken(got))) is not None:
                    return view(shown)
            elif self._waited(got) == _TIMEOUT:
                return None
            got = None
            # withdrawn, held, or another signal's handler ran: wait on
            if deadline is not None:
                left = max(0, deadline - time.monotonic_ns())

    def wait_from(self, got: bytes | int, timeout: float | None) -> Any:
        """wait(), going on from ``got``: what a core wait of the C base
        (take_shown, the Pythonic layer's take_batch) returned for Python
        to present (a record's bytes) or judge (the wait's outcome)."""
        return self._wait(timeout, got)

    def events(self, timeout: float | None = None) -> Iterator[Any]:
        """Iterate over external interrupts; stops when none came for ``timeout``
        seconds (None: never stops).  Once the Pythonic layer is in use on
        this VM, they are its Events (docs/pythonic.md), recorded from this
        call on."""
        if self.events_source is not None:
            return self.events_source(timeout)
        return self._interrupts(timeout)

    def _interrupts(self, timeout: float | None) -> Iterator[Any]:
        if self.events_source is not None:  # the layer came into use since the call
            yield from self.events_source(timeout)
            return
        while True:
            got = self.wait(timeout)
            if got is None:
                return
            yield got


def current() -> VirtualMachine | None:
    """The VM this process is logged on as, or None."""
    vm = _native.current()
    return vm if vm is not None and vm.logged_on else None


def required(what: str) -> VirtualMachine:
    """The VM this process is logged on as; NotLoggedOn naming ``what`` (the
    facility asked for) if there is none.  Every IUCV and VMCF call asks."""
    vm = _native.current()
    if vm is None or not vm.logged_on:
        raise NotLoggedOn(f"{what}: this process is not logged on as a virtual machine")
    return vm


def make_current(vm: VirtualMachine) -> None:
    """``vm`` is this process's VM from now on (shmcp.session's LOGON)."""
    _native.set_current(vm)


@atexit.register
def _logoff_at_exit() -> None:
    vm = current()
    if vm is not None:
        vm.logoff()


def _forget_in_child() -> None:
    # the child of a fork is another process: it is not the VM
    vm = _native.current()
    if vm is not None:
        vm._logged_off()
    _native.set_current(None)


os.register_at_fork(after_in_child=_forget_in_child)
