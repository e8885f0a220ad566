"""This process's logon session: LOGON (attach or IPL, the VM, its signals),
SHUTDOWN (logging this process's VM off first), and IPL as a program's
own system (an OwnedSystem: ``with shmcp.ipl() as system:``).

The top of the runtime: it ties the system (system.py), the VM
(machine.py) and the signal delivery (signals.py) together, so none of
those needs the others above it.
"""
from __future__ import annotations

import itertools
import os
import threading
import time
from typing import TypeVar

import posix_ipc

from . import signals
from ._native import ffi, lib
from .errors import AlreadyLoggedOn, ShmcpError, SystemNotUp, check
from .machine import VirtualMachine, current, make_current, userid_bytes
from . import system as _system
from .system import WATCHDOG_MS, System, create, make_limits, remove, system_name

_logon_lock = threading.Lock()
VM = TypeVar("VM", bound=VirtualMachine)


def logon(userid: str | bytes, *, system: str | None = None) -> VirtualMachine:
    """This process becomes virtual machine ``userid``.  IPLs the system with
    the default directory when it is not up (the embedded default).  Raises
    AlreadyLoggedOn if a live process holds the userid or this process is
    already logged on."""
    return logon_as(VirtualMachine, userid, system=system)


def logon_as(kind: type[VM], userid: str | bytes, *, system: str | None = None) -> VM:
    """logon(), the VM made as ``kind`` (a subclass of VirtualMachine that
    a layer above adds its methods to): the runtime never imports it."""
    if not (isinstance(kind, type) and issubclass(kind, VirtualMachine)):
        raise TypeError(f"logon_as() takes a VirtualMachine subclass, not {kind!r}")
    uid = userid_bytes(userid)
    name = system_name(system)
    with _logon_lock:
        held = current()
        if held is not None:
            raise AlreadyLoggedOn(f"this process is already logged on as {held.userid} "
                                  f"to system {held.system}; one VM per process")
        sysobj = _attach_or_ipl(name)
        try:
            slot = ffi.new("int32_t *")
            gen = ffi.new("uint32_t *")
            pid = os.getpid()
            rc = lib.shmcp_logon(sysobj.handle, uid, pid, lib.shmcp_proc_starttime(pid), slot, gen)
            check(rc, f"logon {uid.decode().rstrip()} to system {name}")
            lib.shmcp_reap(sysobj.handle)  # recover VMs that died unnoticed
            check(lib.shmcp_watchdog_start(sysobj.handle, WATCHDOG_MS), f"system {name}")
        except BaseException:
            sysobj.detach()
            raise
        vm = kind(sysobj, uid, slot[0], gen[0])
        make_current(vm)
        signals.after_logon()
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


def shutdown(system: str | None = None) -> bool:
    """End a system: mark it down (every waiting VM wakes and is logged off),
    remove the segment.  Returns False if it was not up.  A corrupt segment is
    refused (CorruptSegment) and left as it is."""
    name = system_name(system)
    try:
        sysobj = System.attach(name)
    except SystemNotUp:
        return False
    try:
        vm = current()  # this process's VM goes first, if it is on this system
        if vm is not None and vm.system == name:
            vm.logoff()
        check(lib.shmcp_mark_down(sysobj.handle), f"system {name}: shutdown")
        remove(name)
    finally:
        sysobj.detach()
    return True


_unique = itertools.count()


class OwnedSystem:
    """A system this process IPLed (what ``ipl()`` returns): its ``name``,
    and its lifetime as a context manager.  Inside ``with``, the system is
    the default (``$SHMCP_SYSTEM``) of this process and of the processes it
    starts, so ``logon(userid)`` needs no ``system=``; leaving it, even by
    an exception, restores the previous default and shuts the system down.
    The plain statement ``shmcp.ipl(...)`` leaves the system up, as ever."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._entered: list[tuple[int, str | None]] = []  # (pid, previous default) per with

    def shutdown(self) -> bool:
        """``shmcp.shutdown(self.name)``: False if it was not up."""
        return shutdown(self.name)

    def __enter__(self) -> "OwnedSystem":
        self._entered.append((os.getpid(), os.environ.get("SHMCP_SYSTEM")))
        os.environ["SHMCP_SYSTEM"] = self.name
        return self

    def __exit__(self, *exc: object) -> None:
        pid, previous = self._entered.pop()
        if previous is None:
            os.environ.pop("SHMCP_SYSTEM", None)
        else:
            os.environ["SHMCP_SYSTEM"] = previous
        if pid == os.getpid():  # a forked child leaving the block is not the owner
            self.shutdown()

    def __repr__(self) -> str:
        return f"OwnedSystem({self.name!r})"


def ipl(system: str | None = None, *, directory: str | os.PathLike[str] | None = None,
        unique: bool = False, **limits: int) -> OwnedSystem:
    """IPL a system (shmcp.system.ipl: ``directory``, ``limits``, a stale
    segment recovered) and return it as an OwnedSystem.  ``unique=True``
    makes the name one no other system has: ``NAME-PID-N``, NAME being what
    ``system`` would have named (a program's own system, so that two runs
    side by side never meet)."""
    if not isinstance(unique, bool):
        raise TypeError(f"unique must be True or False, not {type(unique).__name__}")
    name = system_name(system)
    if unique:
        name = _unused_name(name)
    _system.ipl(name, directory=directory, **limits)
    return OwnedSystem(name)


def _unused_name(base: str) -> str:
    """``BASE-PID-N`` for the first N that names no segment.  Unique among
    live processes by the pid; a dead process's leftover is passed over,
    not replaced (it is not this program's to recover)."""
    while True:
        name = system_name(f"{base}-{os.getpid()}-{next(_unique)}")
        try:
            System.attach(name).detach()
        except SystemNotUp:
            return name
        except ShmcpError:
            pass  # there, if unreadable: taken all the same


__all__ = ["OwnedSystem", "ipl", "logon", "logon_as", "shutdown"]
