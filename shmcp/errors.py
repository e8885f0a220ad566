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
    """An IUCV function ended with condition code 1; ``rc`` is the IPRCODE
    (None where no return code stands behind the error, e.g. an audit bit)."""

    def __init__(self, rc: int | None, message: str = "") -> None:
        super().__init__(message or f"IUCV return code {rc}", rc)
        self.rc = rc


class NotLoggedOn(IUCVError):
    """The target, or this process's VM, is not logged on: IUCV's CONNECT
    return code 11 (``rc``); ``code`` is the core's return code, if any."""

    def __init__(self, message: str = "", code: int | None = None) -> None:
        ShmcpError.__init__(self, message or "not logged on", code)
        self.rc = 11


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


# -- the Pythonic layer's errors (docs/pythonic.md): each an IUCVError with
# the IPRCODE behind it, or None where an audit bit or interrupt stands
# behind it instead

class PathSevered(IUCVError):
    """The path is severed: its partner severed it or logged off (or this
    end did).  Raised by send, receive and result on that path; ``rc`` is
    the IPRCODE of the call that found it (1, invalid path) or None."""

    def __init__(self, message: str = "the path is severed", rc: int | None = None) -> None:
        super().__init__(rc, message)


class PathQuiesced(IUCVError):
    """SEND with block=False on a path its partner quiesced (IPRCODE 2)."""

    def __init__(self, message: str = "the partner quiesced the path") -> None:
        super().__init__(2, message)


class MessageLimitExceeded(IUCVError):
    """SEND with block=False on a path at its message limit (IPRCODE 3)."""

    def __init__(self, message: str = "the path is at its message limit") -> None:
        super().__init__(3, message)


class NotAuthorized(IUCVError):
    """The directory forbids the CONNECT (IPRCODE 15)."""

    def __init__(self, message: str = "the directory does not authorize this connection") -> None:
        super().__init__(15, message)


class MessageRejected(IUCVError):
    """The target rejected the message (audit IPADRJCT; ``rc`` None)."""

    def __init__(self, message: str = "the target rejected the message") -> None:
        super().__init__(None, message)


class ReplyTruncated(IUCVError):
    """The reply was longer than the answer area (audit IPADRPLE): ``data``
    is what arrived (the answer area full), ``missing`` the bytes cut."""

    def __init__(self, data: bytes, missing: int) -> None:
        super().__init__(None, f"the reply is {missing} bytes longer than the answer area "
                               f"of {len(data)} bytes (reply_size)")
        self.data = data
        self.missing = missing


class ConnectionRefused(IUCVError):
    """The target severed the pending connection instead of accepting it
    (``rc`` None), or CONNECT failed for a reason of the target's: no
    DECLARE BUFFER (12), its maximum connections (14), this VM's (13)."""

    def __init__(self, message: str = "the target refused the connection",
                 rc: int | None = None) -> None:
        super().__init__(rc, message)
