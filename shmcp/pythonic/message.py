"""A message that arrived on a path."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import iucv
from .._native import lib
from .._native import receive_data as _receive_data
from ..errors import IUCVError, PathSevered
from ..plist import MsgPlist

if TYPE_CHECKING:
    from .path import Path
    from .router import Router

_IPPRTY, _IPNORPY, _IPRMDATA = lib.SHMCP_IPPRTY, lib.SHMCP_IPNORPY, lib.SHMCP_IPRMDATA
_SELECT = lib.SHMCP_IPFGPID | lib.SHMCP_IPFGMID | lib.SHMCP_IPFGMCL
_reply = iucv.reply
_receive = iucv.receive


class Message:
    """One message, received: ``data`` (bytes), ``path`` (the Path it came
    on), ``msgid``, ``trgcls`` (its target class), ``priority``,
    ``one_way``.  A two-way message is answered by ``reply(data)`` or
    ``reject()``, once."""

    __slots__ = ("_p", "_flags", "_data", "path", "_router", "_answered", "taken")

    def __init__(self, plist: MsgPlist, flags: int, path: "Path | None",
                 router: "Router") -> None:
        # the message-pending interrupt's own parameter list names the
        # message: RECEIVE and REPLY use it (as SAS/C programs do)
        self._p = plist
        self._flags = flags
        self._data: bytes | None = None  # RECEIVEd when the program takes it
        self.path = path
        self._router = router
        self._answered = flags & _IPNORPY != 0
        self.taken = False  # by a receive (it sits in two inboxes: its path's and the VM's)

    msgid = property(lambda self: self._p.msgid, doc="The message id.")
    trgcls = property(lambda self: self._p.trgcls, doc="The target class the sender gave.")
    priority = property(lambda self: self._flags & _IPPRTY != 0, doc="A priority message?")
    one_way = property(lambda self: self._flags & _IPNORPY != 0, doc="A one-way message?")

    @property
    def data(self) -> bytes:
        """The message's data (RECEIVEd from CP's storage on first use)."""
        if self._data is None:
            with self._router.mutex:
                self.taken = True
                self._fetch()
                if self.path is not None and self.path._sever_owed:
                    self._router._settle(self.path)
        return self._data or b""

    def _fetch(self) -> bool:
        """RECEIVE the data (router mutex held); False if the message is
        gone (purged by its sender, its path severed and freed)."""
        if self._data is not None:
            return True
        p = self._p
        data = _receive_data(p)  # in C: a new bytes object, RECEIVEd into
        if data is NotImplemented:
            buf = bytearray(8 if self._flags & _IPRMDATA else p.bf1len)
            p.flags1 = _SELECT
            p.bf1 = buf
            data = _receive(p) or bytes(buf)
        if data.__class__ is int:
            self._data = b""
            self._answered = True
            return False
        self._data = data
        return True

    def _answerable(self, what: str) -> None:
        """Raise unless the message can be answered (RECEIVE it first if
        nobody has, e.g. a message_pending event's)."""
        if self._data is None:
            self.data  # noqa: B018
        if self._answered:
            if self.one_way:
                raise ValueError(f"{what}: message {self.msgid} is one-way; "
                                 f"there is nothing to answer")
            raise ValueError(f"{what}: message {self.msgid} was already answered")

    def reply(self, data: Any = b"", *, priority: bool = False) -> None:
        """REPLY with ``data`` (any bytes-like object).  A reply longer than
        the sender's answer area is cut there and raises ReplyTruncated at
        the sender, not here.  PathSevered if the path is gone."""
        if self._answered or self._data is None:
            self._answerable("reply")
        if type(data) is not bytes and type(data) is not bytearray:
            try:
                data = memoryview(data)
            except TypeError:
                raise TypeError(f"reply data must be a bytes-like object, "
                                f"not {type(data).__name__}") from None
        p = self._p
        p.bf2 = data
        p.flags1 = _IPPRTY if priority else 0
        self._answered = True
        if _reply(p) and p.rcode != 5:  # 5: longer than the answer area (the sender's error)
            self._failed(p.rcode, "reply")

    def reject(self) -> None:
        """REJECT: the sender's send raises MessageRejected."""
        self._answerable("reject")
        p = self._p
        p.flags1 = 0
        self._answered = True
        if iucv.reject(p):
            self._failed(p.rcode, "reject")

    def _failed(self, rc: int, what: str) -> None:
        if rc in (1, 9):
            raise PathSevered(f"{what}: message {self.msgid}'s path is severed", rc)
        raise IUCVError(rc, f"{what} of message {self.msgid}: IUCV return code {rc}")

    def __repr__(self) -> str:
        kind = "one-way" if self.one_way else "two-way"
        return f"<Message {self.msgid} {kind} trgcls={self.trgcls} {len(self.data)} bytes>"
