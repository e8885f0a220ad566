"""A message that arrived on a path."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import iucv
from ..errors import IUCVError, PathSevered
from ..plist import MsgPlist

if TYPE_CHECKING:
    from .path import Path
    from .router import Router

_IPPRTY = iucv.IPPRTY
_SELECT = iucv.IPFGPID | iucv.IPFGMID | iucv.IPFGMCL
_reply = iucv.reply
_receive = iucv.receive


class Message:
    """One message, received: ``data`` (bytes), ``path`` (the Path it came
    on), ``msgid``, ``trgcls`` (its target class), ``priority``,
    ``one_way``.  A two-way message is answered by ``reply(data)`` or
    ``reject()``, once."""

    __slots__ = ("_data", "path", "msgid", "trgcls", "priority", "one_way", "_pathid",
                 "_router", "_answered", "taken", "_size")

    def __init__(self, path: "Path | None", msgid: int, trgcls: int, priority: bool,
                 one_way: bool, pathid: int, size: int, router: "Router") -> None:
        self._data: bytes | None = None  # RECEIVEd when the program takes it
        self._size = size
        self.path = path
        self.msgid = msgid
        self.trgcls = trgcls
        self.priority = priority
        self.one_way = one_way
        self._pathid = pathid
        self._router = router
        self._answered = one_way
        self.taken = False  # by a receive (it sits in two inboxes: its path's and the VM's)

    @property
    def data(self) -> bytes:
        """The message's data (RECEIVEd from CP's storage on first use)."""
        if self._data is None:
            with self._router.mutex:
                self.taken = True
                self._fetch()
        return self._data or b""

    def _fetch(self) -> bool:
        """RECEIVE the data (router mutex held); False if the message is
        gone (purged by its sender, its path severed and freed)."""
        if self._data is not None:
            return True
        spares = self._router.reply_plists
        p = spares.pop() if spares else MsgPlist()
        p.pathid, p.msgid, p.trgcls, p.flags1 = self._pathid, self.msgid, self.trgcls, _SELECT
        buf = bytearray(self._size)
        p.bf1 = buf
        cc = _receive(p)
        spares.append(p)
        if cc:
            self._data = b""
            self._answered = True
            return False
        self._data = bytes(buf)
        return True

    def _answerable(self, what: str) -> MsgPlist:
        """A parameter list naming the message, from the router's spares
        (the caller gives it back)."""
        if self._data is None:
            self.data  # noqa: B018 -- RECEIVE it first (e.g. a message_pending event's)
        if self._answered:
            if self.one_way:
                raise ValueError(f"{what}: message {self.msgid} is one-way; "
                                 f"there is nothing to answer")
            raise ValueError(f"{what}: message {self.msgid} was already answered")
        spares = self._router.reply_plists
        plist = spares.pop() if spares else MsgPlist()
        plist.pathid, plist.msgid, plist.trgcls = self._pathid, self.msgid, self.trgcls
        return plist

    def reply(self, data: Any = b"", *, priority: bool = False) -> None:
        """REPLY with ``data`` (any bytes-like object).  A reply longer than
        the sender's answer area is cut there and raises ReplyTruncated at
        the sender, not here.  PathSevered if the path is gone."""
        plist = self._answerable("reply")
        if type(data) is not bytes and type(data) is not bytearray:
            try:
                data = memoryview(data)
            except TypeError:
                raise TypeError(f"reply data must be a bytes-like object, "
                                f"not {type(data).__name__}") from None
        plist.bf2 = data
        plist.flags1 = _IPPRTY if priority else 0
        cc = _reply(plist)
        self._router.reply_plists.append(plist)
        if cc and plist.rcode != 5:  # 5: longer than the answer area (the sender's error)
            self._failed(plist.rcode, "reply")
        self._answered = True

    def reject(self) -> None:
        """REJECT: the sender's send raises MessageRejected."""
        plist = self._answerable("reject")
        plist.flags1 = 0
        cc = iucv.reject(plist)
        self._router.reply_plists.append(plist)
        if cc:
            self._failed(plist.rcode, "reject")
        self._answered = True

    def _failed(self, rc: int, what: str) -> None:
        self._answered = True
        if rc in (1, 9):
            raise PathSevered(f"{what}: message {self.msgid}'s path is severed", rc)
        raise IUCVError(rc, f"{what} of message {self.msgid}: IUCV return code {rc}")

    def __repr__(self) -> str:
        kind = "one-way" if self.one_way else "two-way"
        return f"<Message {self.msgid} {kind} trgcls={self.trgcls} {len(self.data)} bytes>"
