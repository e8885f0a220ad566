"""VMCF, the faithful layer: DIAGNOSE X'68' with a VMCPARM, interrupts as VMCMHDR.

``diag68(parm)`` performs one subfunction and returns its return code, as
the DIAGNOSE sets Ry; one helper per subfunction (``authorize`` ...
``reject``) builds the VMCPARM from keywords.  External interrupts arrive
on ``shmcp.SIGVMCF``; in the handler ``shmcp.siginfo()`` returns a
``Vmcmhdr`` (SENDX and SMSG data in its ``buf``), and the header and data
are also written into the buffer given on AUTHORIZE, as CP does.

Where VM has addresses, Python has buffers: ``vada`` / ``vadb`` hold a
bytes-like object (data going out) or a writable buffer (data coming in),
``lena`` / ``lenb`` default to its size.  They may also hold a plain int,
which travels as the 4-byte field (user data on SEND/SENDX, control
information on IDENTIFY); an int stands for no storage, so with a nonzero
length it is RC 1.  A read-only buffer where CP would store is RC 6.

Every VMCF constant is a module attribute, read from the C core:
subfunctions ``VMCPAUTH`` ... ``VMCPRJCT``, flag bits ``VMCPAUTS``,
``VMCPPRTY``, ``VMCPSMSG``, status bits ``VMCMRESP``, ``VMCMRJCT``,
``VMCMPRTY``, return and data transfer error codes ``RC_...``
(docs/reference.md, "5. VMCF, faithful", lists them).
"""
from __future__ import annotations

import operator
import struct
import sys
from typing import Any

from . import _native
from . import msgservice as _msg
from ._native import ffi, lib
from .errors import NotLoggedOn, core_error, vmcf_error
from .interrupt import VMCF, Facility, Interrupt
from .machine import VirtualMachine, current, required, userid_bytes
from .system import System, system_name

# -- constants, defined once in csrc/include/shmcp_vmcf.h ----------------------

_CONSTANTS: dict[str, int] = {}
for _name in dir(lib):
    if _name.startswith(("SHMCP_VMCP", "SHMCP_VMCM")):
        _CONSTANTS[_name[len("SHMCP_"):]] = getattr(lib, _name)
    elif _name.startswith("SHMCP_VMCF_RC_"):
        _CONSTANTS[_name[len("SHMCP_VMCF_"):]] = getattr(lib, _name)
globals().update(_CONSTANTS)

PARM_LEN = lib.SHMCP_VMCF_PARM_LEN
HDR_LEN = lib.SHMCP_VMCF_HDR_LEN
MSG_LIMIT = lib.SHMCP_VMCF_MSG_LIMIT
SMSG_TEXT_MAX = lib.SHMCP_VMCF_SMSG_TEXT_MAX
SMSG_BUFFER = lib.SHMCP_VMCF_SMSG_BUFFER
EXTERNAL_INTERRUPT_CODE = 0x4001
SUBFUNCTIONS = {v: k for k, v in _CONSTANTS.items()
                if k in ("VMCPAUTH", "VMCPUAUT", "VMCPSEND", "VMCPSENR", "VMCPSENX", "VMCPRECV",
                         "VMCPCANC", "VMCPREPL", "VMCPQUIE", "VMCPRESM", "VMCPIDEN", "VMCPRJCT")}
RC_NAMES = {v: k for k, v in _CONSTANTS.items() if k.startswith("RC_")}


def _layout() -> struct.Struct:
    """VMCPARM's ten fields (VMCMHDR's at the same offsets) as a struct: the
    offsets are the core's (shmcp_vmcf.h), only the field types are here."""
    fmt, at = ">", 0
    for name, code in (("FLG1", "B"), ("FLG2", "B"), ("FUNC", "H"), ("MID", "I"), ("USER", "8s"),
                       ("VADA", "I"), ("LENA", "I"), ("VADB", "I"), ("LENB", "I"), ("USE", "8s")):
        off = getattr(lib, f"SHMCP_VMCF_PARM_{name}")
        fmt += "x" * (off - at) + code
        at = off + struct.calcsize(">" + code)
    return struct.Struct(fmt)


_LAYOUT = _layout()
assert _LAYOUT.size == PARM_LEN == HDR_LEN == lib.SHMCP_VMCF_HDR_BUF
_TAG_LEN = lib.SHMCP_VMCF_TAG_LEN
_TAG_MAGIC = lib.SHMCP_VMCF_TAG_MAGIC

# -- parameter lists -----------------------------------------------------------


_put = object.__setattr__


def _uint(name: str, value: Any, bits: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value < 1 << bits:
        raise ValueError(f"{name} {value} is out of range 0..{(1 << bits) - 1}")
    return value


_USERS: dict[Any, bytes] = {}  # userids (str, bytes) already checked: the field's value


def _user(value: Any) -> bytes:
    if value is None:
        return bytes(8)
    if isinstance(value, (bytes, bytearray, memoryview)) and bytes(value) == bytes(8):
        return bytes(8)
    got = userid_bytes(value)
    cls = value.__class__
    if (cls is bytes or cls is str) and len(_USERS) < 4096:  # the Field's next store is C's
        _USERS[value] = got
    return got


def _doubleword(value: Any) -> bytes:
    if value is None:
        return bytes(8)
    if isinstance(value, int) and not isinstance(value, bool):
        return _uint("use", value, 64).to_bytes(8, "big")
    if isinstance(value, str):
        value = value.encode("ascii").ljust(8)
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value)
        if len(value) > 8:
            raise ValueError(f"user doubleword is {len(value)} bytes; at most 8")
        return value.ljust(8, b"\0")
    raise TypeError(f"use must be bytes, str or int, not {type(value).__name__}")


def _area(name: str, value: Any) -> Any:
    """An address field: None, an int (the raw 4-byte field), or a buffer."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return _uint(name, value, 32)
    try:
        memoryview(value)
    except TypeError:
        raise TypeError(f"{name} must be a buffer (bytes, bytearray, memoryview, mmap ...) "
                        f"or an int, not {type(value).__name__}") from None
    return value


def _size(value: Any) -> int:
    return 0 if isinstance(value, int) else memoryview(value).nbytes


def _length(name: str, attr: str, area: str) -> property:
    """lena / lenb: as set, else the size of the buffer in vada / vadb."""
    def get(self: Any) -> int:
        value = getattr(self, attr)
        return _size(getattr(self, area)) if value is None else value

    def put(self: Any, v: int | None) -> None:
        _put(self, attr, None if v is None else _uint(name, v, 32))

    return property(get, put, doc=f"length belonging to {area[1:]} (default: its buffer's size)")


_slot = operator.attrgetter


class _Block:
    """Common part of VMCPARM and VMCMHDR: the ten fields of the 40 bytes."""

    _first: tuple[str, str]
    # (csrc/pyext/vmcfcall.c reads these slots by their offsets)
    __slots__ = ("_f1", "_f2", "_func", "_mid", "_user", "_vada", "_lena", "_vadb", "_lenb",
                 "_use")

    def __init__(self, **fields: Any) -> None:
        self._f1 = self._f2 = self._func = self._mid = 0
        self._user = bytes(8)
        self._vada: Any = 0
        self._vadb: Any = 0
        self._lena: int | None = None
        self._lenb: int | None = None
        self._use = bytes(8)
        for key, value in fields.items():
            if key not in self._names():
                raise TypeError(f"{type(self).__name__} has no field {key!r}; "
                                f"fields are {', '.join(self._names())}")
            setattr(self, key, value)

    @classmethod
    def _names(cls) -> tuple[str, ...]:
        return (*cls._first, "func", "mid", "user", "vada", "lena", "vadb", "lenb", "use")

    # (the getters are attrgetters: no Python frame per read)
    func = property(_slot("_func"), lambda self, v: _put(self, "_func", _uint("func", v, 16)),
                    doc="subfunction code (VMCPFUNC, VMCMFUNC)")
    mid = property(_slot("_mid"), lambda self, v: _put(self, "_mid", _uint("mid", v, 32)),
                   doc="message id")
    user = property(_slot("_user"), lambda self, v: _put(self, "_user", _user(v)),
                    doc="userid, 8 bytes blank padded")
    use = property(_slot("_use"), lambda self, v: _put(self, "_use", _doubleword(v)),
                   doc="user doubleword, 8 bytes")
    vada = property(_slot("_vada"), lambda self, v: _put(self, "_vada", _area("vada", v)))
    vadb = property(_slot("_vadb"), lambda self, v: _put(self, "_vadb", _area("vadb", v)))

    lena = _length("lena", "_lena", "_vada")
    lenb = _length("lenb", "_lenb", "_vadb")

    def __bytes__(self) -> bytes:
        a = self._vada if isinstance(self._vada, int) else 0
        b = self._vadb if isinstance(self._vadb, int) else 0
        return _LAYOUT.pack(self._f1, self._f2, self._func, self._mid, self._user, a,
                            _uint("lena", self.lena, 32), b, _uint("lenb", self.lenb, 32), self._use)

    @classmethod
    def from_bytes(cls, data: bytes) -> Any:
        """Read a 40-byte image back (VMCMHDR: what follows is ``buf``)."""
        data = bytes(data)
        if len(data) < PARM_LEN:
            raise ValueError(f"{cls.__name__} image is {len(data)} bytes; it needs {PARM_LEN}")
        f1, f2, func, mid, user, vada, lena, vadb, lenb, use = _LAYOUT.unpack_from(data)
        obj = cls()
        object.__setattr__(obj, "_f1", f1)
        object.__setattr__(obj, "_f2", f2)
        obj.func, obj.mid = func, mid
        object.__setattr__(obj, "_user", user)
        obj.vada, obj.lena, obj.vadb, obj.lenb = vada, lena, vadb, lenb
        object.__setattr__(obj, "_use", use)
        return obj

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and bytes(self) == bytes(other)  # type: ignore[arg-type]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        parts = [f"{n}={getattr(self, n)!r}" for n in self._names()]
        return f"{type(self).__name__}({', '.join(parts)})"


def _byte_field(attr: str, name: str, doc: str) -> property:
    return property(_slot(attr), lambda self, v: _put(self, attr, _uint(name, v, 8)), doc=doc)


class Vmcparm(_Block):
    """VMCPARM, DIAGNOSE X'68''s 40-byte parameter list:
    ``flg1`` (VMCPAUTS, VMCPPRTY, VMCPSMSG), ``flg2``, ``func``, ``mid``,
    ``user``, ``vada``/``lena``, ``vadb``/``lenb``, ``use``."""

    __slots__ = ()
    _first = ("flg1", "flg2")
    flg1 = _byte_field("_f1", "flg1", "VMCPFLG1 option bits")
    flg2 = _byte_field("_f2", "flg2", "VMCPFLG2, reserved")


class Vmcmhdr(_Block):
    """VMCMHDR, the external interrupt message header:
    ``stat`` (VMCMRESP, VMCMRJCT, VMCMPRTY), ``eflg`` (data transfer error
    code), ``func``, ``mid``, ``user``, ``vada``, ``lena``, ``vadb``,
    ``lenb``, ``use``; ``buf`` holds the SENDX or SMSG data after it."""

    __slots__ = ("buf",)
    buf: bytes
    _first = ("stat", "eflg")
    stat = _byte_field("_f1", "stat", "VMCMSTAT status bits")
    eflg = _byte_field("_f2", "eflg", "VMCMEFLG data transfer error code")

    def __init__(self, **fields: Any) -> None:
        buf = fields.pop("buf", b"")
        super().__init__(**fields)
        object.__setattr__(self, "buf", bytes(buf))

    @classmethod
    def from_bytes(cls, data: bytes) -> "Vmcmhdr":
        obj = super().from_bytes(data)
        object.__setattr__(obj, "buf", bytes(data)[HDR_LEN:])
        return obj

    @property
    def response(self) -> bool:
        """A RESPONSE interrupt (final, to the source): VMCMRESP on and not IDENTIFY."""
        return bool(self.stat & lib.SHMCP_VMCMRESP) and self.func != lib.SHMCP_VMCPIDEN

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + (f", buf={self.buf!r})" if self.buf else ")")


# The fields a message sets or reads each time: their reads and common
# stores in C (the properties above stay their definition: vmcfcall.c's
# Field hands them anything else)
for _cls, _name, _slot_name, _kind in (
        (_Block, "mid", "_mid", 0), (_Block, "lena", "_lena", 0), (_Block, "lenb", "_lenb", 0),
        (_Block, "vada", "_vada", 1), (_Block, "vadb", "_vadb", 1), (_Block, "user", "_user", 2),
        (_Block, "func", "_func", 4), (_Block, "use", "_use", 5),
        (Vmcparm, "flg1", "_f1", 3), (Vmcparm, "flg2", "_f2", 3),
        (Vmcmhdr, "stat", "_f1", 3), (Vmcmhdr, "eflg", "_f2", 3)):
    setattr(_cls, _name, _native.vmcf_field(_cls.__dict__[_name], _Block.__dict__[_slot_name],
                                            _kind, _USERS))


# -- process-local state: what only this process can reach -------------------

class _Local:
    """This VM's buffers, which CP's storage must not point to: the AUTHORIZE
    buffer, and the REPLY buffer of each SEND/RECV in flight."""

    def __init__(self, vm: VirtualMachine) -> None:
        self.key = (id(vm), vm.gen)
        self.auth: memoryview | None = None
        # (user, mid) -> (buffer, lenb), each buffer's export held (in C)
        self.replies = _native.VmcfReplies()


_local: _Local | None = None


def _state(vm: VirtualMachine) -> _Local:
    global _local
    if _local is None or _local.key != (id(vm), vm.gen):
        _local = _Local(vm)
        _native.vmcf_state(vm, _local.replies, None)  # shared with the C calls
    return _local


def _cbuf(obj: Any, writable: bool) -> Any:
    return ffi.from_buffer("uint8_t[]", obj, require_writable=writable)


def _storage(value: Any, length: int, writable: bool, readonly_rc: int) -> tuple[Any, int]:
    """(C pointer or NULL, 0) for an area, or (NULL, rc) when it is bad."""
    if isinstance(value, int):
        return ffi.NULL, 0 if length == 0 else lib.SHMCP_VMCF_RC_INVALID_ADDRESS
    view = memoryview(value)
    if not view.contiguous:
        return ffi.NULL, lib.SHMCP_VMCF_RC_INVALID_ADDRESS
    if length > view.nbytes:
        return ffi.NULL, lib.SHMCP_VMCF_RC_INVALID_ADDRESS
    if writable and view.readonly:
        return ffi.NULL, readonly_rc
    return (_cbuf(value, writable) if view.nbytes else ffi.NULL), 0


def _diag68(parm: Vmcparm) -> int:
    """diag68's Python path: all of it (the C call, csrc/pyext/vmcfcall.c,
    takes the common case and hands this everything else)."""
    if not isinstance(parm, Vmcparm):
        raise TypeError(f"diag68 needs a Vmcparm, not {type(parm).__name__}")
    vm = required("DIAGNOSE X'68'")
    st = _state(vm)
    func = parm.func
    data: Any = ffi.NULL
    reply_addr = 0
    keep: Any = None
    lena = parm.lena
    bad = 0
    if func == lib.SHMCP_VMCPAUTH:
        if isinstance(parm.vada, int):
            bad = lib.SHMCP_VMCF_RC_INVALID_ADDRESS
        else:
            _, bad = _storage(parm.vada, lena, True, lib.SHMCP_VMCF_RC_PROTECTION)
    elif func in (lib.SHMCP_VMCPSEND, lib.SHMCP_VMCPSENR, lib.SHMCP_VMCPSENX, lib.SHMCP_VMCPREPL):
        data, bad = _storage(parm.vada, lena, False, 0)
        if not bad and func == lib.SHMCP_VMCPSENR:
            lenb = parm.lenb
            ptr, bad = _storage(parm.vadb, lenb, True, lib.SHMCP_VMCF_RC_INVALID_ADDRESS)
            if not bad and lenb:
                # its record holds the buffer's export: it cannot move
                # before the core writes the reply there (present_hook)
                keep = (parm.vadb, lenb)
                reply_addr = int(ffi.cast("uintptr_t", ptr))
    elif func == lib.SHMCP_VMCPRECV:
        data, bad = _storage(parm.vada, lena, True, lib.SHMCP_VMCF_RC_PROTECTION)
    if bad:
        return bad
    # The REPLY buffer is recorded before the call: once the SEND/RECV is
    # queued, its RESPONSE may be presented (by another thread, or by a
    # SIGVMCF handler) before the call returns.
    key = (parm.user, parm.mid)
    before = st.replies.get(key)
    if keep is not None:
        st.replies[key] = keep
    rc = None
    try:
        rc = lib.shmcp_vmcf_diag68(vm.handle, vm.slot, vm.gen, bytes(parm), data, reply_addr)
    finally:
        if keep is not None and rc != 0:    # nothing was queued: as it was
            if before is None:
                st.replies.pop(key, None)
            else:
                st.replies[key] = before
    if rc < 0:
        _failed(vm, func, rc)
    if rc == 0 and func == lib.SHMCP_VMCPAUTH:
        st.auth = memoryview(parm.vada).cast("B")[:lena]
        _native.vmcf_state(vm, st.replies, st.auth)
    elif rc == 0 and func == lib.SHMCP_VMCPUAUT:
        st.auth = None
        st.replies.clear()
        _native.vmcf_state(vm, st.replies, None)
    elif rc in (0, lib.SHMCP_VMCF_RC_REPLY_CANCELED) and func == lib.SHMCP_VMCPCANC:
        st.replies.pop((parm.user, parm.mid), None)
    return rc


def _failed(vm: VirtualMachine, func: int, rc: int) -> None:
    """Raise the core's error ``rc`` of DIAGNOSE X'68' ``func``."""
    raise vm.failed(rc, f"{vm.userid}: DIAGNOSE X'68' {SUBFUNCTIONS.get(func, func)}")


# DIAGNOSE X'68' itself is C (csrc/pyext/vmcfcall.c) for the message
# subfunctions with bytes / bytearray areas; the rest goes to _diag68
diag68 = _native.vmcf_diag68


# -- one helper per subfunction -------------------------------------------------

def _flags(priority: bool) -> int:
    return lib.SHMCP_VMCPPRTY if priority else 0


def _parm(named: dict[str, str], **fields: Any) -> Vmcparm:
    """The helpers' VMCPARM: a bad value raises naming the helper's own
    argument, ``named`` mapping a field to it (``data (vada) must be ...``)."""
    try:
        return Vmcparm(**fields)
    except (TypeError, ValueError) as e:
        text = str(e)
        for field, arg in named.items():
            if text.startswith(field + " "):
                raise type(e)(f"{arg} ({field}){text[len(field):]}") from None
        raise


def authorize(buffer: Any, *, lena: int | None = None, specific: str | bytes | None = None,
              priority: bool = False, smsg: bool = False) -> int:
    """AUTHORIZE: enable VMCF with ``buffer`` (writable, >= 40 bytes; 169 for
    SMSG) as the external interrupt buffer.  ``specific``: the only partner;
    ``priority``: accept priority messages; ``smsg``: accept special messages."""
    flg1 = (lib.SHMCP_VMCPAUTS if specific is not None else 0) | _flags(priority) | \
        (lib.SHMCP_VMCPSMSG if smsg else 0)
    return diag68(_parm({"vada": "buffer"},
                        flg1=flg1, func=lib.SHMCP_VMCPAUTH, user=specific, vada=buffer, lena=lena))


def unauthorize() -> int:
    """UNAUTHORIZE: end VMCF for this VM; waiting sources get error code 5."""
    return diag68(Vmcparm(func=lib.SHMCP_VMCPUAUT))


def send(user: str | bytes, mid: int, data: Any = b"", *, lena: int | None = None,
         use: Any = None, priority: bool = False, vadb: int = 0, lenb: int = 0) -> int:
    """SEND ``data`` to ``user`` as message ``mid``; the sink RECEIVEs or REJECTs."""
    return diag68(_parm({"vada": "data"},
                        flg1=_flags(priority), func=lib.SHMCP_VMCPSEND, mid=mid, user=user,
                        vada=data, lena=lena, vadb=vadb, lenb=lenb, use=use))


def send_recv(user: str | bytes, mid: int, data: Any = b"", reply_buffer: Any = None, *,
              lena: int | None = None, lenb: int | None = None, use: Any = None,
              priority: bool = False) -> int:
    """SEND/RECV: send ``data``; the reply lands in ``reply_buffer`` (writable)
    before the RESPONSE interrupt is presented."""
    return diag68(_parm({"vada": "data", "vadb": "reply_buffer"},
                        flg1=_flags(priority), func=lib.SHMCP_VMCPSENR, mid=mid, user=user,
                        vada=data, lena=lena, vadb=reply_buffer, lenb=lenb, use=use))


def sendx(user: str | bytes, mid: int, data: Any = b"", *, lena: int | None = None,
          use: Any = None, priority: bool = False, vadb: int = 0, lenb: int = 0) -> int:
    """SENDX: ``data`` arrives inside the sink's interrupt buffer; no RECEIVE."""
    return diag68(_parm({"vada": "data"},
                        flg1=_flags(priority), func=lib.SHMCP_VMCPSENX, mid=mid, user=user,
                        vada=data, lena=lena, vadb=vadb, lenb=lenb, use=use))


def receive(user: str | bytes, mid: int, buffer: Any, *, lena: int | None = None,
            use: Any = None) -> int:
    """RECEIVE message ``mid`` from source ``user`` into ``buffer`` (writable)."""
    return diag68(_parm({"vada": "buffer"},
                        func=lib.SHMCP_VMCPRECV, mid=mid, user=user, vada=buffer, lena=lena,
                        use=use))


def cancel(user: str | bytes, mid: int) -> int:
    """CANCEL this VM's message ``mid`` to sink ``user``."""
    return diag68(Vmcparm(func=lib.SHMCP_VMCPCANC, mid=mid, user=user))


def reply(user: str | bytes, mid: int, data: Any = b"", *, lena: int | None = None,
          use: Any = None) -> int:
    """REPLY ``data`` to the SEND/RECV ``mid`` from source ``user``."""
    return diag68(_parm({"vada": "data"},
                        func=lib.SHMCP_VMCPREPL, mid=mid, user=user, vada=data, lena=lena,
                        use=use))


def quiesce() -> int:
    """QUIESCE: refuse new SEND-type requests and IDENTIFY (their RC 9)."""
    return diag68(Vmcparm(func=lib.SHMCP_VMCPQUIE))


def resume() -> int:
    """RESUME: leave QUIESCE status."""
    return diag68(Vmcparm(func=lib.SHMCP_VMCPRESM))


def identify(user: str | bytes, *, mid: int = 0, use: Any = None, priority: bool = False,
             vada: int = 0, lena: int = 0, vadb: int = 0, lenb: int = 0) -> int:
    """IDENTIFY: a header-only interrupt to ``user`` (VMCMRESP set), no
    RESPONSE; every free field carries control information."""
    return diag68(Vmcparm(flg1=_flags(priority), func=lib.SHMCP_VMCPIDEN, mid=mid, user=user,
                          vada=vada, lena=lena, vadb=vadb, lenb=lenb, use=use))


def reject(user: str | bytes, mid: int, *, use: Any = None) -> int:
    """REJECT message ``mid`` from source ``user``; ``use`` reaches a
    SEND/RECV source as the reason."""
    return diag68(Vmcparm(func=lib.SHMCP_VMCPRJCT, mid=mid, user=user, use=use))


# -- presentation and the view -----------------------------------------------

def _tag(it: Interrupt) -> bytes | None:
    """The VMCF tag a record carries, as shmcp_vmcf_present takes it: its
    word's bytes (SEND, RESPONSE), or its trailing data (SENDX, SMSG: the
    tag, then the text); None: not VMCF's."""
    if it.facility != VMCF:
        return None
    if it.word:
        return it.word.to_bytes(8, sys.byteorder)
    if len(it.buf) >= _TAG_LEN and int.from_bytes(it.buf[:4], sys.byteorder) == _TAG_MAGIC:
        return it.buf
    return None


def _present(vm: VirtualMachine, it: Interrupt) -> Interrupt | None:
    """CP presents a VMCF interrupt: the core decides whether it still
    stands; REPLY data goes into the REPLY buffer, header and data into the
    AUTHORIZE buffer, before any handler sees it.  None: withdrawn."""
    if it.facility == VMCF and it.presented:  # by the core, REPLY data and all
        return _presented(vm, it)
    tag = _tag(it)
    if tag is None:
        return it
    st = _state(vm)
    hdr = it.raw
    key = (hdr[8:16], int.from_bytes(hdr[4:8], "big"))
    reply = None
    func = int.from_bytes(hdr[2:4], "big")
    if hdr[0] & lib.SHMCP_VMCMRESP and func == lib.SHMCP_VMCPSENR:
        reply = st.replies.get(key)
    rbuf, rlen = (_cbuf(reply[0], True), reply[1]) if reply else (ffi.NULL, 0)
    rc = lib.shmcp_vmcf_present(vm.handle, vm.slot, vm.gen, tag, len(tag), rbuf, rlen)
    if rc < 0:
        raise vm.failed(rc, f"{vm.userid}: VMCF interrupt")
    if rc == lib.SHMCP_VMCF_DROP:
        return None
    if rc == lib.SHMCP_VMCF_FOREIGN:
        return it
    if reply is not None:
        st.replies.pop(key, None)
    if st.auth is not None:
        image = hdr + it.buf[_TAG_LEN:]  # (a tag in the word: no data)
        n = min(len(image), len(st.auth))
        st.auth[:n] = image[:n]
    return it


def _presented(vm: VirtualMachine, it: Interrupt) -> Interrupt:
    """What is left of a presentation the core made (the facility's
    present_hook): the REPLY buffer let go, the AUTHORIZE buffer filled."""
    st = _state(vm)
    hdr = it.raw
    if st.replies and hdr[0] & _RESP and hdr[2:4] == _SENR:
        st.replies.pop((hdr[8:16], int.from_bytes(hdr[4:8], "big")), None)
    if st.auth is not None:
        n = min(HDR_LEN, len(st.auth))
        st.auth[:n] = hdr[:n]
    return it


_RESP = lib.SHMCP_VMCMRESP
_SENR = lib.SHMCP_VMCPSENR.to_bytes(2, "big")
_new_hdr = object.__new__


def _header(image: bytes, buf: bytes) -> Vmcmhdr:
    """A Vmcmhdr of a 40-byte image the core made (no checks needed)."""
    f1, f2, func, mid, user, vada, lena, vadb, lenb, use = _LAYOUT.unpack_from(image)
    h = _new_hdr(Vmcmhdr)
    _put(h, "_f1", f1)
    _put(h, "_f2", f2)
    _put(h, "_func", func)
    _put(h, "_mid", mid)
    _put(h, "_user", user)
    _put(h, "_vada", vada)
    _put(h, "_lena", lena)
    _put(h, "_vadb", vadb)
    _put(h, "_lenb", lenb)
    _put(h, "_use", use)
    _put(h, "buf", buf)
    return h


def _view(it: Interrupt) -> Any:
    if it.facility == VMCF and it.presented:
        return _header(it.raw, b"")
    if _tag(it) is None:
        return it
    return _header(it.raw, bytes(it.buf[_TAG_LEN:]))


# what the runtime asks of VMCF for its interrupts (shmcp/__init__.py installs it)
FACILITY = Facility(present=_present, view=_view)

_native.bind_vmcf(diag68=int(ffi.cast("uintptr_t", ffi.addressof(lib, "shmcp_vmcf_diag68"))),
                  parm=Vmcparm, hdr=Vmcmhdr, python=_diag68, failed=_failed)


# -- SMSG ------------------------------------------------------------------------



def smsg(userid: str | bytes, text: str | bytes, *, system: str | None = None,
         issuer: str | bytes | None = None) -> None:
    """CP's SMSG command: deliver ``text`` (at most 129 bytes; a str is sent
    UTF-8 encoded) to VM ``userid`` (``*``: this VM).  A target with a path
    to *MSG gets it there, as a class 4 IUCV message whose text starts with
    the issuer's userid (CP's ``SET SMSG IUCV``; see ``shmcp.msg``); any
    other as a VMCF SENDX from user SYSTEM whose VMCMUSE names the issuer.
    ``issuer`` defaults to this process's VM, else OPERATOR.  Raises
    NotLoggedOn, or NotReceiving when the target does not accept special
    messages; ValueError for text that is too long (nothing is cut)."""
    text = _msg.text_bytes(text, "SMSG")
    target, who = _msg.addresses(userid, issuer, "SMSG")

    def deliver(handle: Any) -> int:
        rc = lib.shmcp_msg_deliver(handle, who, target, _msg.CLASS_SMSG, text, len(text))
        if rc == lib.SHMCP_E_NOMSGPATH:  # no *MSG path: VMCF's special message
            rc = lib.shmcp_vmcf_smsg(handle, target, who, text, len(text))
        return rc

    name, rc = _msg.on_system(system, deliver)
    tname = target.decode().rstrip()
    if rc > 0:
        raise vmcf_error(rc, f"SMSG: {tname}")
    _msg.raise_for(rc, "SMSG", target, name)


def info(userid: str | bytes | None = None, *, system: str | None = None) -> dict[str, Any]:
    """VMCF status of ``userid`` (default: this VM): authorized, options,
    buffer length, quiesced, SPECIFIC partner, active messages out and in."""
    vm = current()
    if userid is None:
        if vm is None:
            raise NotLoggedOn("vmcf.info(): this process is not logged on; name a userid")
        userid = vm.userid8
    name = vm.system if system is None and vm is not None else system_name(system)
    uid = userid_bytes(userid)
    out = ffi.new("struct shmcp_vmcf_info *")
    own = vm is not None and vm.system == name
    sysobj = vm.attached if own and vm is not None else System.attach(name)
    try:
        slot = ffi.new("int32_t *")
        gen = ffi.new("uint32_t *")
        if lib.shmcp_find(sysobj.handle, uid, slot, gen) < 0:
            raise NotLoggedOn(f"{uid.decode().rstrip()} not logged on to system {name}")
        rc = lib.shmcp_vmcf_info(sysobj.handle, slot[0], out)
        if rc < 0:
            raise core_error(rc, f"VMCF status of {uid.decode().rstrip()}")
    finally:
        if not own:
            sysobj.detach()
    return {
        "userid": uid.decode().rstrip(), "authorized": bool(out.authorized),
        "specific": bool(out.flags & lib.SHMCP_VMCPAUTS),
        "priority": bool(out.flags & lib.SHMCP_VMCPPRTY),
        "smsg": bool(out.flags & lib.SHMCP_VMCPSMSG), "lena": out.lena,
        "quiesced": bool(out.quiesced),
        "partner": bytes(ffi.buffer(out.partner)).decode(errors="replace").rstrip(" \0"),
        "active_out": out.active_out, "active_in": out.active_in,
    }


__all__ = ["Vmcparm", "Vmcmhdr", "diag68", "authorize", "unauthorize", "send", "send_recv",
           "sendx", "receive", "cancel", "reply", "quiesce", "resume", "identify", "reject",
           "smsg", "info", "PARM_LEN", "HDR_LEN", "MSG_LIMIT", "SMSG_TEXT_MAX", "SMSG_BUFFER",
           "EXTERNAL_INTERRUPT_CODE", *_CONSTANTS]
