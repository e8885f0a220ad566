"""This process's logon session: LOGON (attach or IPL, the VM, its signals)
and SHUTDOWN (logging this process's VM off first).

The top of the runtime: it ties the system (system.py), the VM
(machine.py) and the signal delivery (signals.py) together, so none of
those needs the others above it.
"""
from __future__ import annotations

import os
import threading
import time
from typing import TypeVar

import posix_ipc

from . import signals
from ._native import ffi, lib
from .errors import ShmcpError, SystemNotUp, check
from .machine import VirtualMachine, current, make_current, userid_bytes
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
            raise ShmcpError(f"this process is already logged on as {held.userid} "
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


__all__ = ["logon", "logon_as", "shutdown"]
