"""IUCV, the faithful layer: one function per IUCV function.

Each takes a parameter list (PathPlist, MsgPlist or CompPlist: views of the
same 40 bytes), fills its outputs in place and returns the condition code;
with CC1 the IPRCODE is in ``plist.rcode``.  What VM reports as a program
check raises ProgramCheck.  Every constant of docs/reference.md, "4. IUCV,
faithful", is an attribute here (IPRMDATA, IPTYPE_PENDING_CONNECTION,
IPADSVRD, IPSNDN ...), read from the C core.

Where each function is: SEND, RECEIVE and REPLY are C functions of the
extension (csrc/pyext/iucvcall.c: iucv_send, iucv_receive, iucv_reply),
which hand what they do not take (no VM, a memoryview, a short buffer, an
IUCV state not made yet) to their Python paths here (``_send``,
``_receive``, ``_reply``).  Every other function is Python, below, calling
the core through cffi (csrc/: shmcp_iucv_call).  wait() presents the
message interrupts the core presented in C (csrc/pyext/iucvcall.c
core_wait, note_presented); the others in ``present`` below.  Tests by
function: tests/test_iucv_messages.py (SEND, RECEIVE, REPLY, REJECT,
PURGE, TEST COMPLETION, DESCRIBE), test_iucv_paths.py (CONNECT ... SEVER,
QUIESCE, RESUME), test_iucv_calls_native.py (the C calls' own cases),
test_iucv_bad_input.py, test_iucv_storage.py, test_iucv_stateful.py.
"""
from __future__ import annotations

import collections
import struct
from typing import Any

from . import _native, signals
from ._native import ffi, lib
from .errors import ProgramCheck, core_error
from .interrupt import IUCV, Facility, Interrupt
from .machine import VirtualMachine, required
from .plist import (CLASS_OF_TYPE, CompPlist, Iparml, MsgPlist, PathPlist, buffers_of,
                    core_image_of, for_interrupt, image_of)

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
_router: Any = None  # who routes pending connections (set_connection_router)
# the offsets, flags and functions of the hot paths, looked up once
_FLAGS1, _RCODE, _MSGID = lib.SHMCP_IP_FLAGS1, lib.SHMCP_IP_RCODE, lib.SHMCP_IP_MSGID
_BFLN1F, _BFLN2F = lib.SHMCP_IP_BFLN1F, lib.SHMCP_IP_BFLN2F
_IPRMDATA, _IPNORPY = lib.SHMCP_IPRMDATA, lib.SHMCP_IPNORPY
_SEND, _RECEIVE, _REPLY = lib.SHMCP_IUCV_SEND, lib.SHMCP_IUCV_RECEIVE, lib.SHMCP_IUCV_REPLY
_PENDING_CONNECTION = lib.SHMCP_IPTYPE_PENDING_CONNECTION
_NO_HINT = bytes(4)
_word = struct.Struct(">I").unpack_from  # (fullword,) at an offset of an image
_BYTES = ffi.typeof("uint8_t[]")
_from_buffer = ffi.from_buffer
_core_call = lib.shmcp_iucv_call
_MESSAGE_TYPES = 0xF << lib.SHMCP_IPTYPE_PRIORITY_MESSAGE_COMPLETE  # 06-09, bit n: type n
_MASK_CLASS = {9: lib.SHMCP_IPSNDN, 8: lib.SHMCP_IPSNDP, 7: lib.SHMCP_IPRPYN, 6: lib.SHMCP_IPRPYP}


class _State:
    """What IUCV keeps in the VM's own process: the masks and interrupts
    held while masked.  The declared interrupt buffer and the answer areas
    of two-way messages in flight (msgid -> the core's view of it, kept
    alive until the core has written the reply there) are the VM's C
    base's, which the C calls read: ``vm.iucv_buffer``, ``vm.iucv_answers``."""

    def __init__(self) -> None:
        self.held: collections.deque[Interrupt] = collections.deque()
        self.set_masks(lib.SHMCP_IUCV_MASK_DEFAULT, lib.SHMCP_IUCV_MASK_DEFAULT)

    def set_masks(self, mask: int, cmask: int) -> None:
        self.mask, self.cmask = mask, cmask
        # bit n: interrupt type n is enabled (one test per presented interrupt)
        self.enabled_types = sum(1 << t for t in range(1, 10) if self._enabled(t))

    def _enabled(self, itype: int) -> bool:
        if itype in _MASK_CLASS:
            return bool(self.mask & _MASK_CLASS[itype])
        return bool(self.mask & lib.SHMCP_IPCTRL) and bool(self.cmask & (0x80 >> (itype - 1)))

    def enabled(self, itype: int) -> bool:
        return bool(self.enabled_types >> itype & 1)


def _state(vm: VirtualMachine) -> _State:
    st = vm.facility_state.get(IUCV)
    if st is None:
        st = _new_state(vm)
    return st


def _new_state(vm: VirtualMachine, buffer: memoryview | None = None) -> _State:
    st = vm.facility_state[IUCV] = _State()
    vm.iucv_answers, vm.iucv_buffer = {}, buffer
    _masks_changed(vm, st)
    return st


def _masks_changed(vm: VirtualMachine, st: _State) -> None:
    # the enabled message interrupts (06-09) are presented by the core,
    # in the same call that takes them off the queue (csrc/present.c)
    vm.present_types = st.enabled_types & _MESSAGE_TYPES


def _check_plist(plist: Any, fn: str) -> Iparml:
    if not isinstance(plist, Iparml):
        raise TypeError(f"iucv.{fn}() takes a PathPlist, MsgPlist or CompPlist, "
                        f"not {type(plist).__name__}")
    return plist


def _buffer(buf: Any, length: int, field: str, writable: bool) -> Any:
    """The core's view of ``buf`` (at least ``length`` bytes; writable for
    data coming in), or NULL for no buffer.  A length of 2**31 or more is a
    negative IPBFLNxF: the core answers it with IPRCODE 10."""
    kind = type(buf)
    if kind is bytes and not writable:  # cffi passes a bytes object's own storage
        if length > len(buf) and length < 0x80000000:
            _too_short(field, len(buf), length)
        return buf
    if kind is bytearray:  # the other common case, quickly
        if length > len(buf) and length < 0x80000000:
            _too_short(field, len(buf), length)
        return _from_buffer(_BYTES, buf)
    if buf is None:
        if length and length < 0x80000000:
            raise ProgramCheck("addressing", f"{field} is None but its length is {length}")
        return ffi.NULL
    try:
        view = memoryview(buf)
    except TypeError:
        want = "a writable buffer" if writable else "a bytes-like object"
        raise TypeError(f"{field} must be {want}, not {kind.__name__}") from None
    if writable and view.readonly:
        raise ProgramCheck("protection", f"{field} is read-only ({kind.__name__})")
    if length > view.nbytes and length < 0x80000000:
        _too_short(field, view.nbytes, length)
    return _from_buffer(_BYTES, buf, writable)


def _too_short(field: str, size: int, length: int) -> None:
    raise ProgramCheck("addressing", f"{field} has {size} bytes, its length says {length}")


def _call(vm: VirtualMachine, func: int, plist: Iparml, inbuf: Any = ffi.NULL,
          outbuf: Any = ffi.NULL) -> int:
    cc = _core_call(vm.handle, vm.slot, vm.gen, func, core_image_of(plist), inbuf, outbuf)
    if cc < 0:
        _failed(vm, func, cc)
    return cc


def _failed(vm: VirtualMachine, func: int, rc: int) -> None:
    """Raises the exception for the core's error ``rc`` of IUCV function
    ``func`` (the C calls' too)."""
    raise vm.failed(rc, f"IUCV {_FUNCTION.get(func, str(func))} by {vm.userid}")


# -- the 18 functions ----------------------------------------------------------

def query(plist: Iparml | None = None) -> tuple[int, int, int]:
    """QUERY: (cc, interrupt buffer size, maxconn)."""
    vm = required("IUCV")
    maxconn = lib.shmcp_iucv_maxconn(vm.handle, vm.slot, vm.gen)
    if maxconn < 0:
        raise core_error(maxconn, "IUCV QUERY")
    return 0, BUFFER_SIZE, maxconn


def dclbfr(plist: Iparml) -> int:
    """DECLARE BUFFER: ``plist.bf1`` may be a writable buffer of at least 40
    bytes into which each interrupt's image is also written; CC1 rc 19 if
    already declared."""
    vm = required("IUCV")
    _check_plist(plist, "dclbfr")
    buffer = None
    if plist.bf1 is not None:
        _buffer(plist.bf1, BUFFER_SIZE, "bf1 (the interrupt buffer)", True)
        buffer = memoryview(plist.bf1).cast("B")
    cc = _call(vm, lib.SHMCP_IUCV_DCLBFR, plist)
    if cc == 0:
        _new_state(vm, buffer)
    return cc


def rtrvbfr(plist: Iparml | None = None) -> int:
    """RETRIEVE BUFFER: end every path and message, end IUCV for the VM."""
    vm = required("IUCV")
    cc = _call(vm, lib.SHMCP_IUCV_RTRVBFR, plist if plist is not None else PathPlist())
    vm.facility_state.pop(IUCV, None)
    vm.iucv_answers = vm.iucv_buffer = None
    vm.present_types = 0
    return cc


def connect(plist: Iparml) -> int:
    """CONNECT to ``vmid``: CC0 with the path id in ``pathid`` (usable after
    ACCEPT; connection complete comes as a type 02 interrupt)."""
    return _call(required("IUCV"), lib.SHMCP_IUCV_CONNECT, _check_plist(plist, "connect"))


def accept(plist: Iparml) -> int:
    """ACCEPT the pending connection ``pathid``."""
    return _call(required("IUCV"), lib.SHMCP_IUCV_ACCEPT, _check_plist(plist, "accept"))


def sever(plist: Iparml) -> int:
    """SEVER ``pathid`` (or every path with IPALL), IPUSER shown to the partner."""
    return _call(required("IUCV"), lib.SHMCP_IUCV_SEVER, _check_plist(plist, "sever"))


def quiesce(plist: Iparml) -> int:
    """QUIESCE: the partner may not SEND on ``pathid`` (or every path, IPALL)."""
    return _call(required("IUCV"), lib.SHMCP_IUCV_QUIESCE, _check_plist(plist, "quiesce"))


def resume(plist: Iparml) -> int:
    """RESUME what QUIESCE stopped."""
    return _call(required("IUCV"), lib.SHMCP_IUCV_RESUME, _check_plist(plist, "resume"))


# SEND, RECEIVE and REPLY are C: csrc/pyext/iucvcall.c (iucv_send,
# iucv_receive, iucv_reply).  They find the VM and call the core themselves
# in the common case and leave the rest to their Python paths below.
send = _native.iucv_send
receive = _native.iucv_receive
reply = _native.iucv_reply

# What the C calls leave to Python: no VM, other buffer types, short
# buffers, a first SEND before IUCV's state exists, and every error message.

def _send(plist: Iparml) -> int:
    vm = required("IUCV")
    image = image_of(_check_plist(plist, "send"))
    bf1, bf2 = buffers_of(plist)
    flags = image[_FLAGS1]
    inbuf = ffi.NULL
    if not flags & _IPRMDATA:
        inbuf = _buffer(bf1, _word(image, _BFLN1F)[0], "bf1", False)
    if flags & _IPNORPY:
        answer = ffi.NULL
    else:
        answer = _buffer(bf2, _word(image, _BFLN2F)[0], "bf2 (the answer area)", True)
    if answer is ffi.NULL:
        return _call(vm, _SEND, plist, inbuf, answer)
    _state(vm)  # IUCV's state, with its answer areas
    # The message id is the call's, and cffi lets the GIL go during it: the
    # area is kept from before the call, and a completion another thread or
    # a handler takes before the record leaves a note, so none goes stale.
    vm.send_begun(answer)
    msgid = None
    try:
        cc = _call(vm, _SEND, plist, inbuf, answer)
        if cc == 0:
            msgid = _word(image, _MSGID)[0]
    finally:
        vm.send_ended(answer, msgid)
    return cc


def _receive(plist: Iparml) -> int:
    vm = required("IUCV")
    bf1, _ = buffers_of(_check_plist(plist, "receive"))
    out = _buffer(bf1, _word(image_of(plist), _BFLN1F)[0], "bf1", True)
    return _call(vm, _RECEIVE, plist, ffi.NULL, out)


def _reply(plist: Iparml) -> int:
    vm = required("IUCV")
    image = image_of(_check_plist(plist, "reply"))
    inbuf = ffi.NULL
    if not image[_FLAGS1] & _IPRMDATA:
        inbuf = _buffer(buffers_of(plist)[1], _word(image, _BFLN2F)[0], "bf2", False)
    return _call(vm, _REPLY, plist, inbuf, ffi.NULL)


# what the C calls need of this module: how wait() shows a message interrupt
# the core presented, what raises a core error, the Python path of each call
_native.bind_iucv(classes=CLASS_OF_TYPE, failed=_failed, send=_send, receive=_receive,
                  reply=_reply)


def reject(plist: Iparml) -> int:
    """REJECT message ``msgid`` (with ``pathid`` and ``trgcls``)."""
    return _call(required("IUCV"), lib.SHMCP_IUCV_REJECT, _check_plist(plist, "reject"))


def purge(plist: Iparml) -> int:
    """PURGE a message this VM sent, wherever it is; no interrupt."""
    vm = required("IUCV")
    cc = _call(vm, lib.SHMCP_IUCV_PURGE, _check_plist(plist, "purge"))
    if cc == 0:
        vm.answer_done(_word(image_of(plist), _MSGID)[0])
    return cc


def testcmpl(plist: Iparml) -> int:
    """TEST COMPLETION: take a completed message off the reply queue (the
    reply written into the SEND's ``bf2``); CC3 when its audit is nonzero."""
    vm = required("IUCV")
    cc = _call(vm, lib.SHMCP_IUCV_TESTCMPL, _check_plist(plist, "testcmpl"))
    if cc in (0, 3):
        _take_reply(vm, image_of(plist), core_image_of(plist))
        image_of(plist)[_HINT] = _NO_HINT
    return cc


def describe(plist: Iparml) -> int:
    """DESCRIBE the first message on the send queue; CC2 if there is none."""
    return _call(required("IUCV"), lib.SHMCP_IUCV_DESCRIBE, _check_plist(plist, "describe"))


def testmsg(plist: Iparml | None = None) -> int:
    """TEST MESSAGE: CC1 messages waiting, CC2 completions waiting, CC3
    both; with neither, wait (taking external interrupts) and test again."""
    vm = required("IUCV")
    scratch = PathPlist()
    while True:
        cc = _call(vm, lib.SHMCP_IUCV_TESTMSG, scratch)
        if cc:
            return cc
        if signals.unhandled_facilities() & (1 << IUCV):
            vm.stash(1 << IUCV)  # no handler: keep them for wait(), sleep for new ones
        else:
            signals.deliver(IUCV)
            if vm.pending(IUCV):
                continue
        vm.sleep(1 << IUCV, -1)


def setmask(plist: Iparml) -> int:
    """SET MASK: byte 0 enables IPSNDN, IPSNDP, IPRPYN, IPRPYP, IPCTRL."""
    return _set_mask(plist, lib.SHMCP_IUCV_SETMASK, "mask")


def setcmask(plist: Iparml) -> int:
    """SET CONTROL MASK: byte 0 enables IPCLPC, IPCLCC, IPCLPS, IPCLPQ, IPCLPR."""
    return _set_mask(plist, lib.SHMCP_IUCV_SETCMASK, "cmask")


def _set_mask(plist: Iparml, func: int, which: str) -> int:
    vm = required("IUCV")
    cc = _call(vm, func, _check_plist(plist, "set" + which))
    st = _state(vm)
    mask = image_of(plist)[lib.SHMCP_IP_MASK]
    st.set_masks(mask if which == "mask" else st.mask, mask if which == "cmask" else st.cmask)
    _masks_changed(vm, st)
    # interrupts held while masked and now enabled go out first, in order
    still: collections.deque[Interrupt] = collections.deque()
    for held in st.held:
        if st.enabled(held.raw[3]):
            vm.release(held)
        else:
            still.append(held)
    st.held = still
    signals.deliver(IUCV)
    return cc


# -- presenting IUCV interrupts --------------------------------------------------

def _take_reply(vm: VirtualMachine, image: Any, image_c: Any) -> bool:
    """TEST COMPLETION's second half: the reply of the message it took
    (named by ``image``, the core's view of it: ``image_c``) goes into its
    answer area and the message is destroyed; False if it is already gone."""
    rc = lib.shmcp_iucv_take_reply(vm.handle, vm.slot, vm.gen, image_c)
    vm.answer_done(_word(image, _MSGID)[0])
    return rc >= 0


def set_connection_router(router: Any) -> None:
    """Who decides, in the VM's process, whether a pending connection is
    presented: ``router(vm, image)`` -> bool (the SAS/C layer's CMS routing,
    once a program has named itself)."""
    global _router
    _router = router


def _present(vm: VirtualMachine, it: Interrupt) -> Interrupt | None:
    raw = it.raw
    itype = raw[_RCODE]
    if it.presented:  # by the core (a message interrupt the VM enabled)
        _native.iucv_presented(vm, raw)
        return it
    if not 1 <= itype <= 9:
        return it  # not an IUCV interrupt type: a core-level record
    st = vm.facility_state.get(IUCV) or _state(vm)
    if not st.enabled_types >> itype & 1:
        st.held.append(it)
        return None
    if itype >= 6:
        if not lib.shmcp_iucv_present(vm.handle, vm.slot, vm.gen, raw):
            if itype < 8:
                vm.answer_done(_word(raw, _MSGID)[0])
            return None  # received, purged or taken by TEST COMPLETION meanwhile
    elif itype == _PENDING_CONNECTION and _router is not None and not _router(vm, raw):
        return None  # CMS severed it: no program by that name
    it.raw = raw = raw[:36] + _NO_HINT
    _native.iucv_presented(vm, raw)
    return it


def _view(it: Interrupt) -> Any:
    return for_interrupt(it.raw, it)


# what the runtime asks of IUCV for its interrupts (shmcp/__init__.py installs it)
FACILITY = Facility(present=_present, view=_view)

__all__ = ["PathPlist", "MsgPlist", "CompPlist", "query", "testmsg", "rtrvbfr", "describe",
           "send", "receive", "reply", "testcmpl", "reject", "purge", "accept", "connect",
           "dclbfr", "quiesce", "resume", "sever", "setmask", "setcmask"]
