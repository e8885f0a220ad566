"""Exceptions: one base, ShmcpError, and one class per condition users handle."""
from __future__ import annotations

from ._native import ffi, lib


class ShmcpError(Exception):
    """Base of every shmcp error.  ``code`` is the core's return code, if any."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class SystemNotUp(ShmcpError):
    """The named system is not IPLed."""


class SystemDown(ShmcpError):
    """The system was shut down while this process used it."""


class AlreadyLoggedOn(ShmcpError):
    """The userid is logged on by a live process (or this process already has a VM)."""


class NotLoggedOn(ShmcpError):
    """The target, or this process's VM, is not logged on."""


class QueueFull(ShmcpError):
    """The target VM's interrupt queue is full; nothing was queued."""


class StorageExhausted(ShmcpError):
    """Not enough free storage in the system for the data; nothing was queued."""


class CorruptSegment(ShmcpError):
    """The system segment fails a consistency check; it was not changed."""


class ProgramCheck(ShmcpError):
    """What VM reports as a program check: ``exception`` names it
    (e.g. "specification", "operation")."""

    def __init__(self, exception: str, message: str = "") -> None:
        super().__init__(f"{exception} exception" + (f": {message}" if message else ""))
        self.exception = exception


class IUCVError(ShmcpError):
    """An IUCV function ended with condition code 1; ``rc`` is the IPRCODE."""

    def __init__(self, rc: int, message: str = "") -> None:
        super().__init__(message or f"IUCV return code {rc}", rc)
        self.rc = rc


class VMCFError(ShmcpError):
    """A VMCF subfunction ended with a nonzero return code ``rc``."""

    def __init__(self, rc: int, message: str = "") -> None:
        super().__init__(message or f"VMCF return code {rc}", rc)
        self.rc = rc


class NotReceiving(VMCFError):
    """SMSG or MSG: the target is logged on but does not take the message
    (SMSG: not authorized with the SMSG option, quiesced, or its interrupt
    buffer is too small for the text; MSG: no path to *MSG, or that path
    quiesced); ``rc`` is the VMCF return code behind it (5 not receiving,
    9 quiesced, 7 buffer too small)."""


_BY_CODE: dict[int, type[ShmcpError]] = {
    lib.SHMCP_E_CORRUPT: CorruptSegment,
    lib.SHMCP_E_QFULL: QueueFull,
    lib.SHMCP_E_NOTLOGGED: NotLoggedOn,
    lib.SHMCP_E_ALREADY: AlreadyLoggedOn,
    lib.SHMCP_E_NOSTORAGE: StorageExhausted,
    lib.SHMCP_E_DOWN: SystemDown,
    lib.SHMCP_E_STALE: NotLoggedOn,
}


def core_error(rc: int, context: str) -> ShmcpError:
    """The exception for core return code ``rc``; ``context`` says what was
    being done and to what (a system, a userid)."""
    text = ffi.string(lib.shmcp_strerror(rc)).decode()
    if rc == lib.SHMCP_E_SYS:
        err = ffi.errno
        import os

        text = f"{text}: {os.strerror(err)}"
    return _BY_CODE.get(rc, ShmcpError)(f"{context}: {text}", rc)


def check(rc: int, context: str) -> int:
    """Raise the matching exception for a negative core return code."""
    if rc < 0:
        raise core_error(rc, context)
    return rc
