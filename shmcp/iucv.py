"""IUCV, the faithful layer: one function per IUCV function (IUCV.md).

Each takes a parameter list (PathPlist, MsgPlist or CompPlist: views of the
same 40 bytes), fills its outputs in place and returns the condition code;
with CC1 the IPRCODE is in ``plist.rcode``.  What VM reports as a program
check raises ProgramCheck.  Every constant of IUCV.md is an attribute here,
spelled as there (IPRMDATA, IPTYPE_PENDING_CONNECTION, IPADSVRD, IPSNDN ...),
read from the C core.
"""
from __future__ import annotations

import collections
from typing import Any

from . import interrupt as _interrupt
from . import signals as _signals
from ._native import ffi, lib
from .errors import NotLoggedOn, ProgramCheck, core_error
from .interrupt import IUCV, Interrupt
from .machine import VirtualMachine, current
from .plist import CompPlist, Iparml, MsgPlist, PathPlist, for_interrupt, u32

# Every IUCV constant, once, from the core: SHMCP_IPRMDATA -> IPRMDATA ...
for _name in dir(lib):
    if _name.startswith(("SHMCP_IP", "SHMCP_IUCV_")):
        globals()[_name[len("SHMCP_"):]] = getattr(lib, _name)
BUFFER_SIZE = lib.SHMCP_IUCV_BUFFER_SIZE
MSGLIM_DEFAULT = lib.SHMCP_MSGLIM_DEFAULT
MSGLIM_MAX = lib.SHMCP_MSGLIM_MAX
_FUNCTION = {getattr(lib, n): n[len("SHMCP_IUCV_"):].replace("_", " ")
             for n in dir(lib) if n.startswith("SHMCP_IUCV_") and n[11:].isalpha()}
_HINT = slice(36, 40)  # reserved word: the core's MSGBLOK hint, never shown
_PROGRAM_CHECKS = {lib.SHMCP_E_PCSPEC: "specification", lib.SHMCP_E_PCOPER: "operation"}
_router: Any = None  # the SAS/C layer's routing of pending connections (sasc.py)
_MASK_CLASS = {9: lib.SHMCP_IPSNDN, 8: lib.SHMCP_IPSNDP, 7: lib.SHMCP_IPRPYN, 6: lib.SHMCP_IPRPYP}


class _State:
    """What IUCV keeps in the VM's own process: the declared interrupt
    buffer, the masks, interrupts held while masked, and the answer areas of
    two-way messages in flight (the reply is written there before the
    message-complete interrupt is presented)."""

    def __init__(self) -> None:
        self.buffer: memoryview | None = None
        self.mask = lib.SHMCP_IUCV_MASK_DEFAULT
        self.cmask = lib.SHMCP_IUCV_MASK_DEFAULT
        self.held: collections.deque[Interrupt] = collections.deque()
        self.answers: dict[int, memoryview] = {}

    def enabled(self, itype: int) -> bool:
        if itype in _MASK_CLASS:
            return bool(self.mask & _MASK_CLASS[itype])
        return bool(self.mask & lib.SHMCP_IPCTRL) and bool(self.cmask & (0x80 >> (itype - 1)))


def _state(vm: VirtualMachine) -> _State:
    st = vm.facility_state.get(IUCV)
    if st is None:
        st = vm.facility_state[IUCV] = _State()
    return st


def _vm() -> VirtualMachine:
    vm = current()
    if vm is None:
        raise NotLoggedOn("IUCV: this process is not logged on as a virtual machine")
    return vm


def _check_plist(plist: Any, fn: str) -> Iparml:
    if not isinstance(plist, Iparml):
        raise TypeError(f"iucv.{fn}() takes a PathPlist, MsgPlist or CompPlist, "
                        f"not {type(plist).__name__}")
    return plist


def _buffer(buf: Any, length: int, field: str, writable: bool) -> Any:
    """The core's view of ``buf`` (at least ``length`` bytes; writable for
    data coming in), or NULL for no buffer.  A length of 2**31 or more is a
    negative IPBFLNxF: the core answers it with IPRCODE 10."""
    if buf is None:
        if length and length < 0x80000000:
            raise ProgramCheck("addressing", f"{field} is None but its length is {length}")
        return ffi.NULL
    try:
        view = memoryview(buf)
    except TypeError:
        kind = "a writable buffer" if writable else "a bytes-like object"
        raise TypeError(f"{field} must be {kind}, not {type(buf).__name__}") from None
    if writable and view.readonly:
        raise ProgramCheck("protection", f"{field} is read-only ({type(buf).__name__})")
    if length < 0x80000000 and length > view.nbytes:
        raise ProgramCheck("addressing", f"{field} has {view.nbytes} bytes, its length says {length}")
    return ffi.from_buffer("uint8_t[]", buf, require_writable=writable)


def _out_buffer(buf: Any, length: int, field: str) -> Any:
    return _buffer(buf, length, field, True)


def _in_buffer(buf: Any, length: int, field: str) -> Any:
    return _buffer(buf, length, field, False)


def _call(vm: VirtualMachine, func: int, plist: Iparml, inbuf: Any = ffi.NULL,
          outbuf: Any = ffi.NULL) -> int:
    cc = ffi.new("int32_t *")
    cb = plist._cb
    if cb is None:
        cb = plist._cb = ffi.from_buffer("uint8_t[]", plist._b)
    rc = lib.shmcp_iucv_call(vm._handle(), vm._slot, vm._gen, func, cb, inbuf, outbuf, cc)
    if rc < 0:
        name = _FUNCTION.get(func, str(func))
        if rc in _PROGRAM_CHECKS:
            raise ProgramCheck(_PROGRAM_CHECKS[rc], f"IUCV {name} by {vm.userid}")
        if rc == lib.SHMCP_E_NOTLOGGED:
            raise vm._lost(rc)
        raise core_error(rc, f"IUCV {name} by {vm.userid}")
    return cc[0]


# -- the 18 functions ----------------------------------------------------------

def query(plist: Iparml | None = None) -> tuple[int, int, int]:
    """QUERY: (cc, interrupt buffer size, maxconn)."""
    vm = _vm()
    maxconn = lib.shmcp_iucv_maxconn(vm._handle(), vm._slot, vm._gen)
    if maxconn < 0:
        raise core_error(maxconn, "IUCV QUERY")
    return 0, BUFFER_SIZE, maxconn


def dclbfr(plist: Iparml) -> int:
    """DECLARE BUFFER: ``plist.bf1`` may be a writable buffer of at least 40
    bytes into which each interrupt's image is also written; CC1 rc 19 if
    already declared."""
    vm = _vm()
    _check_plist(plist, "dclbfr")
    buffer = None
    if plist.bf1 is not None:
        _out_buffer(plist.bf1, BUFFER_SIZE, "bf1 (the interrupt buffer)")
        buffer = memoryview(plist.bf1).cast("B")
    cc = _call(vm, lib.SHMCP_IUCV_DCLBFR, plist)
    if cc == 0:
        st = vm.facility_state[IUCV] = _State()
        st.buffer = buffer
    return cc


def rtrvbfr(plist: Iparml | None = None) -> int:
    """RETRIEVE BUFFER: end every path and message, end IUCV for the VM."""
    vm = _vm()
    cc = _call(vm, lib.SHMCP_IUCV_RTRVBFR, plist if plist is not None else PathPlist())
    vm.facility_state.pop(IUCV, None)
    return cc


def connect(plist: Iparml) -> int:
    """CONNECT to ``vmid``: CC0 with the path id in ``pathid`` (usable after
    ACCEPT; connection complete comes as a type 02 interrupt)."""
    return _call(_vm(), lib.SHMCP_IUCV_CONNECT, _check_plist(plist, "connect"))


def accept(plist: Iparml) -> int:
    """ACCEPT the pending connection ``pathid``."""
    return _call(_vm(), lib.SHMCP_IUCV_ACCEPT, _check_plist(plist, "accept"))


def sever(plist: Iparml) -> int:
    """SEVER ``pathid`` (or every path with IPALL), IPUSER shown to the partner."""
    return _call(_vm(), lib.SHMCP_IUCV_SEVER, _check_plist(plist, "sever"))


def quiesce(plist: Iparml) -> int:
    """QUIESCE: the partner may not SEND on ``pathid`` (or every path, IPALL)."""
    return _call(_vm(), lib.SHMCP_IUCV_QUIESCE, _check_plist(plist, "quiesce"))


def resume(plist: Iparml) -> int:
    """RESUME what QUIESCE stopped."""
    return _call(_vm(), lib.SHMCP_IUCV_RESUME, _check_plist(plist, "resume"))


def send(plist: Iparml) -> int:
    """SEND ``bf1`` (or the 8 bytes of ``data`` with IPRMDATA) on ``pathid``;
    two-way unless IPNORPY, the reply landing in ``bf2``."""
    vm = _vm()
    _check_plist(plist, "send")
    flags = plist.flags1
    inbuf = ffi.NULL
    if not flags & lib.SHMCP_IPRMDATA:
        inbuf = _in_buffer(plist.bf1, plist._u32(lib.SHMCP_IP_BFLN1F), "bf1")
    answer = None
    if not flags & lib.SHMCP_IPNORPY:
        length = plist._u32(lib.SHMCP_IP_BFLN2F)
        _out_buffer(plist.bf2, length, "bf2 (the answer area)")
        if plist.bf2 is not None and length < 0x80000000:
            answer = memoryview(plist.bf2).cast("B")[:length]
    cc = _call(vm, lib.SHMCP_IUCV_SEND, plist, inbuf)
    if cc == 0 and answer is not None:
        _state(vm).answers[plist._u32(lib.SHMCP_IP_MSGID)] = answer
    return cc


def receive(plist: Iparml) -> int:
    """RECEIVE into ``bf1`` the message the selectors name (IPFGPID,
    IPFGMID, IPFGMCL) or the first one; the residual goes to ``bf1len``."""
    vm = _vm()
    _check_plist(plist, "receive")
    out = _out_buffer(plist.bf1, plist._u32(lib.SHMCP_IP_BFLN1F), "bf1")
    return _call(vm, lib.SHMCP_IUCV_RECEIVE, plist, ffi.NULL, out)


def reply(plist: Iparml) -> int:
    """REPLY to message ``msgid`` (with ``pathid`` and ``trgcls``): the
    reply is ``bf2`` (``bf2len`` bytes) or ``data`` with IPRMDATA."""
    vm = _vm()
    _check_plist(plist, "reply")
    inbuf = ffi.NULL
    if not plist.flags1 & lib.SHMCP_IPRMDATA:
        inbuf = _in_buffer(plist.bf2, plist._u32(lib.SHMCP_IP_BFLN2F), "bf2")
    return _call(vm, lib.SHMCP_IUCV_REPLY, plist, inbuf)


def reject(plist: Iparml) -> int:
    """REJECT message ``msgid`` (with ``pathid`` and ``trgcls``)."""
    return _call(_vm(), lib.SHMCP_IUCV_REJECT, _check_plist(plist, "reject"))


def purge(plist: Iparml) -> int:
    """PURGE a message this VM sent, wherever it is; no interrupt."""
    vm = _vm()
    cc = _call(vm, lib.SHMCP_IUCV_PURGE, _check_plist(plist, "purge"))
    if cc == 0:
        _state(vm).answers.pop(plist._u32(lib.SHMCP_IP_MSGID), None)
    return cc


def testcmpl(plist: Iparml) -> int:
    """TEST COMPLETION: take a completed message off the reply queue (the
    reply written into the SEND's ``bf2``); CC3 when its audit is nonzero."""
    vm = _vm()
    cc = _call(vm, lib.SHMCP_IUCV_TESTCMPL, _check_plist(plist, "testcmpl"))
    if cc in (0, 3):
        _take_reply(vm, plist._b)
        plist._b[_HINT] = bytes(4)
    return cc


def describe(plist: Iparml) -> int:
    """DESCRIBE the first message on the send queue; CC2 if there is none."""
    return _call(_vm(), lib.SHMCP_IUCV_DESCRIBE, _check_plist(plist, "describe"))


def testmsg(plist: Iparml | None = None) -> int:
    """TEST MESSAGE: CC1 messages waiting, CC2 completions waiting, CC3
    both; with neither, wait (taking external interrupts) and test again."""
    vm = _vm()
    scratch = PathPlist()
    while True:
        cc = _call(vm, lib.SHMCP_IUCV_TESTMSG, scratch)
        if cc:
            return cc
        if _signals.unhandled_facilities() & (1 << IUCV):
            vm._stash(1 << IUCV)  # no handler: keep them for wait(), sleep for new ones
        else:
            _signals._deliver(int(_signals.SIGIUCV), None)
            if vm.pending(IUCV):
                continue
        vm._sleep(1 << IUCV, -1)


def setmask(plist: Iparml) -> int:
    """SET MASK: byte 0 enables IPSNDN, IPSNDP, IPRPYN, IPRPYP, IPCTRL."""
    return _set_mask(plist, lib.SHMCP_IUCV_SETMASK, "mask")


def setcmask(plist: Iparml) -> int:
    """SET CONTROL MASK: byte 0 enables IPCLPC, IPCLCC, IPCLPS, IPCLPQ, IPCLPR."""
    return _set_mask(plist, lib.SHMCP_IUCV_SETCMASK, "cmask")


def _set_mask(plist: Iparml, func: int, which: str) -> int:
    vm = _vm()
    cc = _call(vm, func, _check_plist(plist, "set" + which))
    st = _state(vm)
    setattr(st, which, plist._b[lib.SHMCP_IP_MASK])
    # interrupts held while masked and now enabled go out first, in order
    still: collections.deque[Interrupt] = collections.deque()
    for held in st.held:
        (vm._released if st.enabled(held.raw[3]) else still).append(held)
    st.held = still
    _signals._deliver(int(_signals.SIGIUCV), None)
    return cc


# -- presenting IUCV interrupts --------------------------------------------------

def _take_reply(vm: VirtualMachine, image: Any) -> bool:
    """Write the reply of the completed message named by ``image`` into its
    answer area and destroy the message; False if it is already gone."""
    st = _state(vm)
    msgid = u32(image, lib.SHMCP_IP_MSGID)
    answer = st.answers.pop(msgid, None)
    buf = ffi.from_buffer("uint8_t[]", answer) if answer is not None else ffi.NULL
    size = answer.nbytes if answer is not None else 0
    rc = lib.shmcp_iucv_take_reply(vm._handle(), vm._slot, vm._gen,
                                   ffi.from_buffer("uint8_t[]", image), buf, size)
    return rc >= 0


def _present(vm: VirtualMachine, it: Interrupt) -> Interrupt | None:
    itype = it.raw[lib.SHMCP_IP_RCODE]
    if not 1 <= itype <= 9:
        return it  # not an IUCV interrupt type: a core-level record
    st = _state(vm)
    if not st.enabled(itype):
        st.held.append(it)
        return None
    if itype == lib.SHMCP_IPTYPE_PENDING_CONNECTION and _router is not None \
            and not _router(vm, it.raw):
        return None  # CMS severed it: no program by that name
    if itype >= 8 and not lib.shmcp_iucv_present(vm._handle(), vm._slot, vm._gen, it.raw):
        return None  # received or purged meanwhile: withdrawn
    if itype in (6, 7) and not _take_reply(vm, it.raw):
        return None  # TEST COMPLETION or PURGE took it
    raw = it.raw[:36] + bytes(4)
    if st.buffer is not None:
        st.buffer[:BUFFER_SIZE] = raw
    return Interrupt(IUCV, it.priority, raw)


def _view(it: Interrupt) -> Any:
    shown = for_interrupt(it.raw)
    return it if shown is None else shown


_interrupt.register_presenter(IUCV, _present)
_interrupt.register_view(IUCV, _view)

__all__ = ["PathPlist", "MsgPlist", "CompPlist", "query", "testmsg", "rtrvbfr", "describe",
           "send", "receive", "reply", "testcmpl", "reject", "purge", "accept", "connect",
           "dclbfr", "quiesce", "resume", "sever", "setmask", "setcmask"]
