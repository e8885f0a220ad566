"""Exceptions: one base, ShmcpError, and one class per condition users handle.

The one funnel from return codes to exceptions: ``core_error`` for the
core's (negative) return codes, whichever facility's call gave them --
program checks and the message service's answers included; ``iucv_error``
for an IPRCODE, ``vmcf_error`` for a DIAGNOSE X'68' return code.  Every
layer above (the facilities, the Pythonic layer) raises through these.
"""
from __future__ import annotations

import os

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


# core return code -> (class, how its message reads); {c}: the caller's
# context (what was being done, to what), {t}: the core's text for the code
_BY_CODE: dict[int, tuple[type[ShmcpError], str]] = {
    lib.SHMCP_E_CORRUPT: (CorruptSegment, "{c}: {t}"),
    lib.SHMCP_E_QFULL: (QueueFull, "{c}: {t}"),
    lib.SHMCP_E_NOTLOGGED: (NotLoggedOn, "{c}: {t}"),
    lib.SHMCP_E_ALREADY: (AlreadyLoggedOn, "{c}: {t}"),
    lib.SHMCP_E_NOSTORAGE: (StorageExhausted, "{c}: {t}"),
    lib.SHMCP_E_DOWN: (SystemDown, "{c}: {t}"),
    lib.SHMCP_E_STALE: (NotLoggedOn, "{c}: {t}"),
}
_PROGRAM_CHECKS = {lib.SHMCP_E_PCSPEC: "specification", lib.SHMCP_E_PCOPER: "operation"}
# the message service's refusals: the VMCF return code each stands for, and why
_NOT_RECEIVING = {
    lib.SHMCP_E_NOMSGPATH: (lib.SHMCP_VMCF_RC_USER_NOT_AVAILABLE, "no path to *MSG"),
    lib.SHMCP_E_MSGQUIESCED: (lib.SHMCP_VMCF_RC_QUIESCED, "its *MSG path is quiesced"),
}
# VMCF return codes that mean the target does not take the message
_VMCF_NOT_RECEIVING = {
    lib.SHMCP_VMCF_RC_USER_NOT_AVAILABLE: "not authorized for special messages",
    lib.SHMCP_VMCF_RC_QUIESCED: "VMCF quiesced",
    lib.SHMCP_VMCF_RC_SENDX_TOO_LARGE: "interrupt buffer too small for the text",
}


def core_error(rc: int, context: str) -> ShmcpError:
    """The exception for core return code ``rc``; ``context`` says what was
    being done and to what (a system, a userid; for the message service's
    refusals: "MSG: TARGET")."""
    if rc in _PROGRAM_CHECKS:
        return ProgramCheck(_PROGRAM_CHECKS[rc], context)
    if rc in _NOT_RECEIVING:
        vmcf_rc, why = _NOT_RECEIVING[rc]
        return NotReceiving(vmcf_rc, f"{context} not receiving ({why})")
    text = ffi.string(lib.shmcp_strerror(rc)).decode()
    if rc == lib.SHMCP_E_SYS:
        text = f"{text}: {os.strerror(ffi.errno)}"
    cls, form = _BY_CODE.get(rc, (ShmcpError, "{c}: {t}"))
    return cls(form.format(c=context, t=text), rc)


def vmcf_error(rc: int, context: str) -> VMCFError:
    """The exception for DIAGNOSE X'68' return code ``rc`` (nonzero):
    NotReceiving when the target does not take the message, else VMCFError."""
    if rc in _VMCF_NOT_RECEIVING:
        return NotReceiving(rc, f"{context} not receiving ({_VMCF_NOT_RECEIVING[rc]})")
    return VMCFError(rc, f"{context}: VMCF return code {rc}")


def iucv_error(rc: int, context: str) -> IUCVError:
    """The exception for IUCV return code (IPRCODE) ``rc`` after CC1."""
    return IUCVError(rc, f"{context}: IUCV return code {rc}")


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
    end did).  Raised by send, receive and result on that path, and by a
    message's reply or reject once its sender purged it; ``rc`` is the
    IPRCODE of the call that found it (1, invalid path; 9, the message was
    purged) or None."""

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
