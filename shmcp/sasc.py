"""The SAS/C interface to IUCV: iucvset ... iucvclr, one to one.

Programs register names with ``iucvset``; as CMS does, a pending connection
is routed to the program whose name equals the first 8 bytes of the
originator's IPUSER (``pgm``), and one for no registered name is severed
with IPUSER = 16 x X'FF'.  The direct functions (iucvsend ...) return the
condition code; the CMS ones return SAS/C's codes: negative for a library
precondition, a CMS reason code, or 1 with IPRCODE in the plist (iucvclr:
1000 + IPRCODE); docs/reference.md, "6. The SAS/C interface", lists them.
"""
from __future__ import annotations

from typing import Any

from . import iucv
from ._native import lib
from .errors import NotLoggedOn
from .machine import current
from .plist import CompPlist, Iparml, MsgPlist, PathPlist
from .signals import SIGIUCV, handler_established, siginfo, sigblock, sigmask, sigpause, sigsetmask

# SAS/C's own preconditions, and CMS HNDIUCV/CMSIUCV reason codes
NO_HANDLER = -1
DUPLICATE_NAME = -2
CMS_NAME_ALREADY_SET = 4
CMS_NOT_SET = 8
CMS_NOT_OWNER = 12
CMS_NAME_MISSING = 16
CMS_IPALL_NOT_ALLOWED = 28
CLR_IUCV_ERROR = 1000
ROUTING_SEVER_USER = b"\xff" * 16

_names: dict[bytes, None] = {}      # registered program names, in order
_owner: dict[int, bytes] = {}       # path id -> the program that owns it
_for_vm: Any = None                 # the logon these belong to


def _current_names() -> None:
    """Names and paths belong to one logon: a new logon starts afresh."""
    global _for_vm
    vm = current()
    if vm is not _for_vm:
        _names.clear()
        _owner.clear()
        _for_vm = vm


def _name8(name: Any) -> bytes | None:
    if isinstance(name, str):
        name = name.encode("ascii", "strict")
    if not isinstance(name, (bytes, bytearray)) or not name:
        return None
    return bytes(name[:8]).ljust(8, b" ")  # SAS/C: blank-padded, truncated


def _check(name: Any) -> tuple[int, bytes]:
    _current_names()
    if not handler_established(SIGIUCV):
        return NO_HANDLER, b""
    n = _name8(name)
    if n is None:
        return CMS_NAME_MISSING, b""
    if n not in _names:
        return CMS_NOT_SET, b""
    return 0, n


def _typed(plist: Any, cls: type, fn: str) -> Any:
    if not isinstance(plist, cls):
        raise TypeError(f"{fn}() takes a {cls.__name__}, not {type(plist).__name__}")
    return plist


def iucvset(name: str | bytes) -> tuple[int, int]:
    """Identify this program to CMS as ``name``: (rc, maxconns)."""
    _current_names()
    if not handler_established(SIGIUCV):
        return NO_HANDLER, 0
    n = _name8(name)
    if n is None:
        return CMS_NAME_MISSING, 0
    if n in _names:
        return DUPLICATE_NAME, 0
    if current() is None:
        raise NotLoggedOn("iucvset: this process is not logged on as a virtual machine")
    if not _names:
        iucv.dclbfr(PathPlist())  # HNDIUCV SET's DECLARE BUFFER (rc 19 if done: fine)
        iucv.set_connection_router(_route)  # CMS routes pending connections from now on
    _names[n] = None
    return 0, iucv.query()[2]


def iucvclr(name: str | bytes) -> int:
    """End IUCV for ``name``: its paths are severed; the last name ends
    IUCV for the VM (RETRIEVE BUFFER)."""
    rc, n = _check(name)
    if rc:
        return rc
    for pathid in [p for p, owner in _owner.items() if owner == n]:
        plist = PathPlist(pathid=pathid)
        if iucv.sever(plist) == 1:
            return CLR_IUCV_ERROR + plist.rcode
        del _owner[pathid]
    del _names[n]
    if not _names:
        iucv.rtrvbfr()
        _owner.clear()
    return 0


def iucvconn(name: str | bytes, plist: PathPlist) -> int:
    """CONNECT on behalf of ``name``; the path id lands in ``plist.pathid``."""
    rc, n = _check(name)
    if rc:
        return rc
    if iucv.connect(_typed(plist, PathPlist, "iucvconn")) == 1:
        return 1
    _owner[plist.pathid] = n
    return 0


def iucvacc(name: str | bytes, plist: PathPlist) -> int:
    """ACCEPT a pending connection routed to ``name``."""
    rc, n = _check(name)
    if rc:
        return rc
    _typed(plist, PathPlist, "iucvacc")
    if _owner.get(plist.pathid, n) != n:
        return CMS_NOT_OWNER
    if iucv.accept(plist) == 1:
        return 1
    _owner[plist.pathid] = n
    return 0


def iucvsevr(name: str | bytes, plist: PathPlist, code: str = "ONE") -> int:
    """SEVER the path in ``plist`` (code "ONE") or every path ``name`` owns
    ("ALL"); any other code means "ONE"."""
    rc, n = _check(name)
    if rc:
        return rc
    _typed(plist, PathPlist, "iucvsevr")
    if plist.flags1 & lib.SHMCP_IPALL:
        return CMS_IPALL_NOT_ALLOWED
    if code == "ALL":
        for pathid in [p for p, owner in _owner.items() if owner == n]:
            one = PathPlist(pathid=pathid, pgm=plist.pgm, user=plist.user)
            if iucv.sever(one) == 1:
                plist.rcode = one.rcode
                return 1
            del _owner[pathid]
        return 0
    if _owner.get(plist.pathid) != n:
        return CMS_NOT_OWNER
    if iucv.sever(plist) == 1:
        return 1
    del _owner[plist.pathid]
    return 0


def iucvsend(plist: MsgPlist) -> int:
    """IUCV SEND; returns the condition code."""
    return iucv.send(_typed(plist, MsgPlist, "iucvsend"))


def iucvrecv(plist: MsgPlist) -> int:
    """IUCV RECEIVE; returns the condition code."""
    return iucv.receive(_typed(plist, MsgPlist, "iucvrecv"))


def iucvrply(plist: MsgPlist) -> int:
    """IUCV REPLY; returns the condition code."""
    return iucv.reply(_typed(plist, MsgPlist, "iucvrply"))


def iucvrej(plist: MsgPlist) -> int:
    """IUCV REJECT; returns the condition code."""
    return iucv.reject(_typed(plist, MsgPlist, "iucvrej"))


def iucvpurg(plist: CompPlist) -> int:
    """IUCV PURGE; returns the condition code."""
    return iucv.purge(_typed(plist, CompPlist, "iucvpurg"))


def iucvtcmp(plist: CompPlist) -> int:
    """IUCV TEST COMPLETION; returns the condition code."""
    return iucv.testcmpl(_typed(plist, CompPlist, "iucvtcmp"))


def iucvqs(plist: PathPlist) -> int:
    """IUCV QUIESCE; returns the condition code."""
    return iucv.quiesce(_typed(plist, PathPlist, "iucvqs"))


def iucvresm(plist: PathPlist) -> int:
    """IUCV RESUME; returns the condition code."""
    return iucv.resume(_typed(plist, PathPlist, "iucvresm"))


def _route(vm: Any, image: bytes) -> bool:
    """CMS's routing of a pending connection: to the
    program named by the originator's ``pgm``; none -> severed with X'FF's.
    Returns whether the interrupt is presented."""
    _current_names()
    if not _names:
        return True  # no CMS IUCV programs: the faithful layer sees everything
    pathid = int.from_bytes(image[0:2], "big")
    pgm = bytes(image[16:24])
    if pgm in _names:
        _owner[pathid] = pgm
        return True
    iucv.sever(PathPlist(pathid=pathid, pgm=ROUTING_SEVER_USER[:8], user=ROUTING_SEVER_USER[8:]))
    return False



__all__ = ["iucvset", "iucvclr", "iucvconn", "iucvacc", "iucvsevr", "iucvsend", "iucvrecv",
           "iucvrply", "iucvrej", "iucvpurg", "iucvtcmp", "iucvqs", "iucvresm",
           "siginfo", "sigblock", "sigmask", "sigpause", "sigsetmask", "SIGIUCV",
           "PathPlist", "MsgPlist", "CompPlist", "Iparml"]
