"""IUCV parameter lists: PathPlist, MsgPlist, CompPlist (SAS/C's structures).

Three views of the same 40-byte IPARML: ``bytes(p)`` is the big-endian image
at IBM's offsets (read from the core), ``Cls.from_bytes`` reads one back,
and any class can be passed to any IUCV function.  ``bf1`` / ``bf2`` hold
Python buffers (data out: bytes-like; data in: a writable buffer); their
address fields are not meaningful in a Python process.  docs/reference.md,
"4. IUCV, faithful", gives the fields and offsets.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._native import Buffer as _Buffer
from ._native import Field as _Field
from ._native import Image, ffi, lib


class _Bytes:
    """A fixed-size bytes field, shorter input padded with ``pad``: blanks
    for names (which also take an ASCII str), zeros for parameter-list data."""

    def __init__(self, off: int, size: int, pad: bytes = b" ") -> None:
        self.off, self.size, self.pad = off, size, pad

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return bytes(obj._b[self.off:self.off + self.size])

    def __set__(self, obj: Any, value: Any) -> None:
        names = self.pad == b" "
        if names and isinstance(value, str):
            try:
                value = value.encode("ascii")
            except UnicodeEncodeError:
                raise ValueError(f"{type(obj).__name__}.{self.name} {value!r} is not ASCII") from None
        if not isinstance(value, (bytes, bytearray, memoryview)):
            kind = "str or bytes" if names else "bytes"
            raise TypeError(f"{type(obj).__name__}.{self.name} must be {kind}, "
                            f"not {type(value).__name__}")
        value = bytes(value)
        if len(value) > self.size:
            raise ValueError(f"{type(obj).__name__}.{self.name} is {len(value)} bytes "
                             f"({value!r}); at most {self.size}")
        obj._b[self.off:self.off + self.size] = value.ljust(self.size, self.pad)


class _Userid(_Bytes):
    """A userid field: folded to upper case like every userid."""

    def __set__(self, obj: Any, value: Any) -> None:
        if isinstance(value, str):
            value = value.upper()
        elif isinstance(value, (bytes, bytearray, memoryview)):
            value = bytes(value).upper()
        super().__set__(obj, value)


class Iparml(Image):
    """The 40 bytes every IUCV parameter list and interrupt buffer is: the
    image ``_b``, the core's view of it ``_cb``, and the buffers ``_bf1``,
    ``_bf2`` are the C base's (csrc/pyext/iparml.c)."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    pathid = _Field(lib.SHMCP_IP_PATHID, 2)
    flags1 = _Field(lib.SHMCP_IP_FLAGS1, 1)
    rcode = _Field(lib.SHMCP_IP_RCODE, 1)
    type = _Field(lib.SHMCP_IP_RCODE, 1)   # the same byte, in interrupt data

    # Iparml(**fields): the C base's __init__ sets each field as an attribute,
    # bf1len / bf2len after the buffers whose size they override; a name
    # outside _fields (and bf1, bf2) is a TypeError
    if TYPE_CHECKING:
        def __init__(self, **fields: Any) -> None: ...

    # the message buffer: data out (bytes-like) or in (writable); its size
    # becomes bf1len.  bf2: the answer area (two-way SEND) or the reply (REPLY)
    bf1 = _Buffer(1, lib.SHMCP_IP_BFLN1F)
    bf2 = _Buffer(2, lib.SHMCP_IP_BFLN2F)

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> "Iparml":
        """The parameter list whose 40-byte image is ``data``."""
        return cls._of(data)

    def __bytes__(self) -> bytes:
        return bytes(self._b)

    def __reduce__(self) -> tuple:
        # copy and pickle: a new image with the same bytes and the same buffers
        return _restore, (type(self), bytes(self._b), self._bf1, self._bf2)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Iparml) and self._b == other._b

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._fields
                          if getattr(self, n) not in (0, b"", bytes(8), b" " * 8))
        return f"{type(self).__name__}({shown})"


class PathPlist(Iparml):
    """CONNECT, ACCEPT, QUIESCE, RESUME, SEVER; interrupt types 1-5
    (SAS/C ``struct iucv_path_plist``)."""

    __slots__ = ()
    _fields = ("pathid", "flags1", "rcode", "type", "msglim", "fcncd", "vmid", "pgm", "user")
    msglim = _Field(lib.SHMCP_IP_MSGLIM, 2)
    fcncd = _Field(lib.SHMCP_IP_FCNCD, 1)
    vmid = _Userid(lib.SHMCP_IP_VMID, 8)
    pgm = _Bytes(lib.SHMCP_IP_USER, 8)
    user = _Bytes(lib.SHMCP_IP_USER + 8, 8)

    @property
    def ipuser(self) -> bytes:
        """All 16 bytes of IPUSER (pgm + user)."""
        return bytes(self._b[lib.SHMCP_IP_USER:lib.SHMCP_IP_USER + 16])

    @ipuser.setter
    def ipuser(self, value: bytes) -> None:
        value = bytes(value)
        if len(value) > 16:
            raise ValueError(f"PathPlist.ipuser is {len(value)} bytes; at most 16")
        self._b[lib.SHMCP_IP_USER:lib.SHMCP_IP_USER + 16] = value.ljust(16, b"\0")


class MsgPlist(Iparml):
    """SEND, RECEIVE, REPLY, REJECT, DESCRIBE; interrupt types 8-9
    (SAS/C ``struct iucv_msg_plist``; ``tgrcls`` is an alias of ``trgcls``)."""

    __slots__ = ()
    _fields = ("pathid", "flags1", "rcode", "type", "msgid", "trgcls", "data", "bf1len",
               "srccls", "msgtag", "bf2len")
    msgid = _Field(lib.SHMCP_IP_MSGID, 4)
    trgcls = _Field(lib.SHMCP_IP_TRGCLS, 4)

    @property
    def tgrcls(self) -> int:
        """SAS/C's spelling of ``trgcls``."""
        return self.trgcls

    @tgrcls.setter
    def tgrcls(self, value: int) -> None:
        self.trgcls = value
    data = _Bytes(lib.SHMCP_IP_RMMSG, 8, b"\0")
    bf1len = _Field(lib.SHMCP_IP_BFLN1F, 4)
    srccls = _Field(lib.SHMCP_IP_SRCCLS, 4)
    msgtag = _Field(lib.SHMCP_IP_MSGTAG, 4)
    bf2len = _Field(lib.SHMCP_IP_BFLN2F, 4)


class CompPlist(Iparml):
    """PURGE, TEST COMPLETION; interrupt types 6-7
    (SAS/C ``struct iucv_comp_plist``).  ``audit`` is IPAUDIT's 16 bits."""

    __slots__ = ()
    _fields = ("pathid", "flags1", "rcode", "type", "msgid", "audit", "data", "srccls",
               "msgtag", "bf2len")
    msgid = _Field(lib.SHMCP_IP_MSGID, 4)
    audit = _Field(lib.SHMCP_IP_AUDIT, 2)
    data = _Bytes(lib.SHMCP_IP_RMMSG, 8, b"\0")
    srccls = _Field(lib.SHMCP_IP_SRCCLS, 4)
    msgtag = _Field(lib.SHMCP_IP_MSGTAG, 4)
    bf2len = _Field(lib.SHMCP_IP_BFLN2F, 4)


def _restore(cls: type[Iparml], image: bytes, bf1: Any, bf2: Any) -> Iparml:
    obj = cls._of(image)
    obj._bf1, obj._bf2 = bf1, bf2
    return obj


# What the IUCV functions read of a parameter list (its C base's fields,
# csrc/pyext/iparml.c), for shmcp/iucv.py's Python paths.

def image_of(plist: Iparml) -> bytearray:
    """The 40-byte image itself (the IUCV functions fill it in place)."""
    return plist._b


def core_image_of(plist: Iparml) -> Any:
    """The core's view of the image, made once (the image is never resized)."""
    cb = plist._cb
    if cb is None:
        cb = plist._cb = ffi.from_buffer("uint8_t[]", plist._b)
    return cb


def buffers_of(plist: Iparml) -> tuple[Any, Any]:
    """``bf1`` and ``bf2`` as the program gave them (the callers check them)."""
    return plist._bf1, plist._bf2


_TYPE = lib.SHMCP_IP_RCODE
# the class of each interrupt type, IPTYPE 0-9 (None: not an IUCV type)
CLASS_OF_TYPE = (None, PathPlist, PathPlist, PathPlist, PathPlist, PathPlist,
                 CompPlist, CompPlist, MsgPlist, MsgPlist)


def for_interrupt(image: bytes, default: Any = None) -> Any:
    """The class SAS/C's siginfo() would be cast to for this interrupt image,
    read from it; ``default`` if byte 3 is not an IUCV interrupt type."""
    itype = image[_TYPE]
    cls = CLASS_OF_TYPE[itype] if itype < len(CLASS_OF_TYPE) else None
    if cls is None:
        return default
    return cls._of(image)


__all__ = ["Iparml", "PathPlist", "MsgPlist", "CompPlist", "for_interrupt", "CLASS_OF_TYPE",
           "image_of", "core_image_of", "buffers_of"]
