"""Virtual machines: this OS process logs on to a system with a userid.

One VM per process.  LOGOFF happens on ``logoff()``, on leaving the ``with``
block, at interpreter exit (also after an uncaught exception), and -- when
the process is killed -- by the watchdog of any other VM within a second.
"""
from __future__ import annotations

import atexit
import collections
import math
import os
import re
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import posix_ipc

from . import signals
from ._iparml import Machine
from ._iparml import _current as _set_current
from ._iparml import next as _next_shown
from ._native import ffi, lib
from .errors import NotLoggedOn, ShmcpError, SystemDown, SystemNotUp, check, core_error
from .interrupt import IUCV, VMCF, Interrupt, facility_of, presenters, view
from .system import WATCHDOG_MS, System, create, make_limits, system_name

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


def _timeout_ns(timeout: float | None) -> int:
    if timeout is None:
        return -1
    if not isinstance(timeout, (int, float)) or math.isnan(timeout) or timeout < 0:
        raise ValueError(f"timeout must be None or a number >= 0, not {timeout!r}")
    return int(timeout * 1e9)


# the hot path of every interrupt (wait, siginfo): bound once
_core_next = lib.shmcp_next
_READY, _PRESENTED = lib.SHMCP_WAIT_READY, lib.SHMCP_WAIT_PRESENTED
_record_head = struct.Struct("=iiII").unpack_from  # struct shmcp_record: facility .. presented

_current: "VirtualMachine | None" = None
# What the layers above do just before a VM's LOGOFF, each called with the
# VM (the Pythonic layer: its thread leaves the core's wait)
before_logoff: "list[Callable[[VirtualMachine], None]]" = []
_pid = os.getpid()  # this process (os.getpid() is a system call; forks update it)
_logon_lock = threading.Lock()


class VirtualMachine(Machine):
    """A logged-on virtual machine: this process, as ``userid`` on ``system``.

    Its C base (csrc/pyext/machine.c) keeps what the message calls read on
    every message -- the core's ids, ``present_types``, ``_released``, IUCV's
    answer areas and buffer -- and runs wait()'s common case; ``_wait`` is
    the rest of it."""

    def __init__(self, system: System, userid8: bytes, slot: int, gen: int) -> None:
        self._sys = system
        self.userid8 = userid8
        self.userid = userid8.decode().rstrip()
        self.system = system.name
        self._slot = slot
        self._gen = gen
        self._pid = _pid
        # the system's handle and spin, for the hot paths: valid while logged
        # on, which every caller checks first (_slot, _pid)
        self._h = system.handle
        self._spin_ns = system.spin_ns
        self._rec = ffi.new("struct shmcp_record *")
        # the same for the C base, until _logged_off()
        self._logged_on(int(ffi.cast("uintptr_t", self._h)), slot, gen,
                        int(ffi.cast("uintptr_t", self._rec)), self._spin_ns)
        self._recbuf = ffi.buffer(self._rec.data)  # its 40-byte image, copied out by [:]
        self._rechead = ffi.buffer(self._rec)       # its first four words, read by one unpack
        self._targets: dict[Any, tuple[bytes, int, int]] = {}  # userid -> (uid8, slot, gen)
        # interrupts taken off the ring but not presented yet (released by
        # SET MASK, or stashed by TEST MESSAGE): they go before the ring
        self._released: collections.deque[Interrupt] = collections.deque()
        self.present_types = 0  # IUCV types shmcp_next presents (bit n: type n)
        self.facility_state: dict[int, Any] = {}  # per facility, process-local
        # a layer above that takes this VM's interrupts itself (the Pythonic
        # layer) shows them through events() with this: timeout -> iterator
        self.events_source: Callable[[float | None], Iterator[Any]] | None = None

    # -- lifecycle ---------------------------------------------------------

    @property
    def logged_on(self) -> bool:
        return self._slot >= 0 and self._pid == _pid

    def _handle(self) -> "ffi.CData":
        if self._slot < 0 or self._pid != _pid:
            raise NotLoggedOn(f"{self.userid} is not logged on to system {self.system}")
        return self._sys.handle

    def logoff(self) -> None:
        """LOGOFF: the logoff hook runs, the slot and storage are freed, the
        userid can log on again at once.  Idempotent."""
        if not self.logged_on:
            return
        for hook in before_logoff:  # e.g. a layer's thread leaves the core's wait
            hook(self)
        lib.shmcp_logoff(self._sys.handle, self._slot, self._gen)  # stale: already off
        self._forget()

    def _forget(self) -> None:
        self._slot = -1
        self._logged_off()
        signals._unbind(self)
        self._sys.detach()
        if _current is self:
            _make_current(None)

    def _lost(self, rc: int) -> NotLoggedOn | SystemDown:
        """The core says this VM ended (forced off, or the system went down)."""
        down = lib.shmcp_is_down(self._sys.handle)
        self._forget()
        if down:
            return SystemDown(f"system {self.system} was shut down; {self.userid} is logged off")
        return NotLoggedOn(f"{self.userid} was logged off (forced) on system {self.system}")

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
        if lib.shmcp_find(self._handle(), uid, slot, gen) < 0:
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
        rec = bytes(record)
        if len(rec) != lib.SHMCP_RECORD_LEN:
            raise ValueError(f"record must be {lib.SHMCP_RECORD_LEN} bytes, not {len(rec)}")
        ext = bytes(data)
        if len(ext) > 0xFFFFFFFF:
            raise ValueError("trailing data is longer than 4 GiB")
        for fresh in (False, True):  # a cached target may have logged off or on again
            uid, slot, gen = self._target(userid, fresh)
            rc = lib.shmcp_post(self._handle(), slot, gen, fac, int(bool(priority)),
                                int(bool(must)), rec, ext, len(ext))
            if rc != lib.SHMCP_E_NOTLOGGED:
                break
        if rc < 0:
            if rc == lib.SHMCP_E_DOWN:
                raise self._lost(rc)
            raise core_error(rc, f"queueing an interrupt for {uid.decode().rstrip()}")

    def _take(self, fmask: int, timeout_ns: int = 0, present: int | None = None) -> int:
        """One core call: the next record on this VM's interrupt queue into
        ``self._rec`` -- message interrupts of the types in ``present``
        (default: the ones its facility lets the core present) already
        presented -- waiting up to ``timeout_ns``.  Returns SHMCP_WAIT_READY
        (SHMCP_WAIT_PRESENTED: an IUCV message interrupt the core presented),
        or when none came SHMCP_WAIT_TIMEOUT / SHMCP_WAIT_INTR; raises if the
        VM ended."""
        if self._slot < 0 or self._pid != _pid:
            self._handle()  # raises NotLoggedOn
        return self._waited(_core_next(self._h, self._slot, self._gen, fmask,
                                       self.present_types if present is None else present,
                                       timeout_ns, self._spin_ns, self._rec))

    def _waited(self, rc: int) -> int:
        """shmcp_next's outcome: raises if the VM ended or the core failed."""
        if rc == lib.SHMCP_WAIT_DOWN:
            raise self._lost(rc)
        return rc if rc == _READY or rc == _PRESENTED else check(rc, f"{self.userid}: wait")

    def _taken(self) -> Interrupt:
        """The record _take() got, as an Interrupt (with its trailing data)."""
        facility, priority, ext_len, presented = _record_head(self._rechead)
        if not ext_len:
            return Interrupt(facility, priority != 0, self._recbuf[:], b"", presented != 0)
        out = bytearray(ext_len)
        check(lib.shmcp_take_ext(self._h, self._slot, self._rec.ext_off, ext_len,
                                 ffi.from_buffer("uint8_t[]", out)), f"{self.userid}: interrupt data")
        return Interrupt(facility, priority != 0, self._recbuf[:], bytes(out), presented != 0)

    def _next(self, fmask: int, timeout_ns: int = 0, present: int | None = None) -> Interrupt | int:
        """_take() and _taken(): the next interrupt, or the wait's outcome."""
        rc = self._take(fmask, timeout_ns, present)
        return self._taken() if rc == _READY or rc == _PRESENTED else rc

    def _pop_released(self, fmask: int) -> Interrupt | None:
        for i, got in enumerate(self._released):
            if fmask & (1 << got.facility):
                del self._released[i]
                return got
        return None

    def _pop(self, fmask: int) -> Interrupt | None:
        """The next interrupt to present, after its facility's last word
        (without waiting)."""
        while True:
            got = self._pop_released(fmask) if self._released else None
            if got is None:
                taken = self._next(fmask)
                if isinstance(taken, int):
                    return None
                got = taken
            shown = self._present(got)
            if shown is not None:
                return shown

    def _present(self, got: Interrupt) -> Interrupt | None:
        present = presenters.get(got.facility)
        return got if present is None else present(self, got)

    def _stash(self, fmask: int) -> None:
        """Move what the ring holds into the process-local queue, in order
        (for a wait that must block until something new arrives)."""
        while not isinstance(got := self._next(fmask, 0, 0), int):
            self._released.append(got)

    def _sleep(self, fmask: int, timeout_ns: int) -> int:
        """One core wait; returns READY / TIMEOUT / INTR, raises if the VM ended."""
        rc = lib.shmcp_wait(self._handle(), self._slot, self._gen, fmask, timeout_ns,
                            self._spin_ns)
        if rc == lib.SHMCP_WAIT_DOWN:
            raise self._lost(rc)
        return check(rc, f"{self.userid}: wait")

    def pending(self, facility: int | str | None = None) -> int:
        """How many interrupts are queued for this VM (of one facility, or all)."""
        fmask = ALL_FACILITIES if facility is None else 1 << facility_of(facility)
        local = sum(1 for i in self._released if fmask & (1 << i.facility))
        return local + check(lib.shmcp_pending(self._handle(), self._slot, fmask), self.userid)

    # wait(timeout=None): the C base's, which calls _wait for all but its
    # common case (csrc/pyext/machine.c has its doc)

    def _wait(self, timeout: float | None = None, got: Any = None) -> Any:
        """wait(), all of it; ``got``: the outcome of a core call the C base
        already made (no timeout, facilities without a handler, nothing
        released)."""
        fmask = signals.unhandled_facilities()
        if not fmask:
            raise ShmcpError("SIGIUCV and SIGVMCF both have handlers: interrupts go to them, "
                             "not to wait(); use sigpause()")
        left = -1 if timeout is None else _timeout_ns(timeout)
        deadline = None if left < 0 else time.monotonic_ns() + left
        while True:
            if got is None:
                if self._released and (shown := self._pop(fmask)) is not None:
                    return view(shown)
                if self._slot < 0 or self._pid != _pid:
                    self._handle()  # raises NotLoggedOn
                # the core's call from C, which shows an IUCV message interrupt
                # the core presented (the common case) as its parameter list
                got = _next_shown(self, fmask, left)
                if got.__class__ is not int:
                    return got
            rc = self._waited(got)
            got = None
            if rc == _READY or rc == _PRESENTED:
                if (shown := self._present(self._taken())) is not None:
                    return view(shown)
            elif rc == lib.SHMCP_WAIT_TIMEOUT:
                return None
            # withdrawn, held, or another signal's handler ran: wait on
            if deadline is not None:
                left = max(0, deadline - time.monotonic_ns())

    def events(self, timeout: float | None = None) -> Iterator[Any]:
        """Iterate over external interrupts; stops when none came for ``timeout``
        seconds (None: never stops).  Once the Pythonic layer is in use on
        this VM, they are its Events (docs/pythonic.md)."""
        if self.events_source is not None:
            yield from self.events_source(timeout)
            return
        while True:
            got = self.wait(timeout)
            if got is None:
                return
            yield got


def _make_current(vm: VirtualMachine | None) -> None:
    """This process's VM, here and for the C calls that find it themselves."""
    global _current
    _current = vm
    _set_current(vm)


def current() -> VirtualMachine | None:
    """The VM this process is logged on as, or None."""
    vm = _current
    return vm if vm is not None and vm.logged_on else None


def required(what: str) -> VirtualMachine:
    """The VM this process is logged on as; NotLoggedOn naming ``what`` (the
    facility asked for) if there is none.  Every IUCV and VMCF call asks."""
    vm = _current  # current(), spelled out: this is on every call's path
    if vm is None or vm._slot < 0 or vm._pid != _pid:
        raise NotLoggedOn(f"{what}: this process is not logged on as a virtual machine")
    return vm


def logon(userid: str | bytes, *, system: str | None = None) -> VirtualMachine:
    """This process becomes virtual machine ``userid``.  IPLs the system with
    the default directory when it is not up (the embedded default).  Raises
    AlreadyLoggedOn if a live process holds the userid or this process is
    already logged on."""
    uid = userid_bytes(userid)
    name = system_name(system)
    with _logon_lock:
        held = current()
        if held is not None:
            raise ShmcpError(f"this process is already logged on as {held.userid} "
                             f"to system {held.system}; one VM per process")
        sysobj = _attach_or_ipl(name)
        try:
            slot = ffi.new("int32_t *")
            gen = ffi.new("uint32_t *")
            start = lib.shmcp_proc_starttime(_pid)
            rc = lib.shmcp_logon(sysobj.handle, uid, _pid, start, slot, gen)
            check(rc, f"logon {uid.decode().rstrip()} to system {name}")
            lib.shmcp_reap(sysobj.handle)  # recover VMs that died unnoticed
            check(lib.shmcp_watchdog_start(sysobj.handle, WATCHDOG_MS), f"system {name}")
        except BaseException:
            sysobj.detach()
            raise
        vm = VirtualMachine(sysobj, uid, slot[0], gen[0])
        _make_current(vm)
        signals._bind(vm)
        return vm


def _attach_or_ipl(name: str) -> System:
    """The embedded default: attach, or IPL with the default directory.
    Never replaces an existing segment (that is ipl()'s recovery): a system
    another process has just IPLed has no VMs yet, and is not stale."""
    for _ in range(50):
        try:
            sysobj = System.attach(name)
        except SystemNotUp:
            try:
                create(name, make_limits({}))
            except posix_ipc.ExistentialError:
                pass  # another process IPLed it first: attach to that
            continue
        if not sysobj.down:
            return sysobj
        sysobj.detach()  # shut down but not yet removed: wait for it to go
        time.sleep(0.01)
    raise SystemNotUp(f"system {name} could not be attached or IPLed")


def _system_going_down(name: str) -> None:
    vm = current()
    if vm is not None and vm.system == name:
        vm.logoff()


@atexit.register
def _logoff_at_exit() -> None:
    vm = current()
    if vm is not None:
        vm.logoff()


def _forget_in_child() -> None:
    # the child of a fork is another process: it is not the VM
    global _pid
    if _current is not None:
        _current._logged_off()
    _make_current(None)
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forget_in_child)
