"""A message that arrived on a path."""
from __future__ import annotations

from typing import Any

from .. import iucv
from .._native import lib
from .._native import MessageCore, bind_message
from ..errors import IUCVError, PathSevered
from ..plist import CompPlist, MsgPlist

_IPPRTY, _IPNORPY, _IPRMDATA = lib.SHMCP_IPPRTY, lib.SHMCP_IPNORPY, lib.SHMCP_IPRMDATA
_SELECT = lib.SHMCP_IPFGPID | lib.SHMCP_IPFGMID | lib.SHMCP_IPFGMCL
_reply = iucv.reply
_reject = iucv.reject
_receive = iucv.receive


def _reply_buffer(data: Any) -> memoryview:
    """``data`` (a reply) as a buffer REPLY can take: TypeError naming what
    is wrong unless it is a C-contiguous bytes-like object."""
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(f"reply data must be a C-contiguous bytes-like object, "
                        f"not {type(data).__name__}") from None
    if not view.c_contiguous:
        raise TypeError(f"reply data must be a C-contiguous bytes-like object, "
                        f"not a non-contiguous {type(data).__name__} (copy it with bytes())")
    return view


class Message(MessageCore):
    """One message, received: ``data`` (bytes), ``path`` (the Path it came
    on), ``msgid``, ``trgcls`` (its target class), ``priority``,
    ``one_way``.  A two-way message is answered by ``reply(data)`` or
    ``reject()``, once.  (``reply`` is MessageCore's, in C; its uncommon
    cases come to ``_reply_slow``.)

    Made as ``Message(plist, flags, path, router)``: the message-pending
    interrupt's own parameter list names the message, and RECEIVE and REPLY
    use it (as SAS/C programs do).  Its fields and their getters (``data``
    once RECEIVEd, ``one_way``, ...) and the RECEIVE itself (``_fetch``)
    are MessageCore's, in C (csrc/pyext/message.c): a stream pays them
    once per message."""

    __slots__ = ()

    def _data_slow(self) -> bytes:
        """``data`` of a message nobody took yet: taken and RECEIVEd now."""
        router = self._router
        with router.mutex:
            self.taken = True
            try:
                self._fetch()
            finally:  # taken even if its RECEIVE raised (a corrupt segment)
                path = self.path
                if path is not None and path._sever_owed:
                    router._settle(path)
        return self._data or b""

    def _receive_py(self) -> bytes | int:
        """RECEIVE through shmcp.iucv's Python path (no VM in C): the
        data, or the condition code if the message is gone."""
        p = self._p
        buf = bytearray(8 if self._flags & _IPRMDATA else p.bf1len)
        p.flags1 = _SELECT
        p.bf1 = buf
        return _receive(p) or bytes(buf)

    def _claim_answer(self, what: str) -> None:
        """Raise unless the message can be answered (RECEIVE it first if
        nobody has, e.g. a message_pending event's); then it counts as
        answered -- another thread's answer meanwhile is ValueError --
        until _answer (or the caller, if it raises first) says otherwise."""
        vm = self._vm
        if vm is not None and not vm.logged_on:  # LOGOFF severed its path in CP
            raise PathSevered(f"{what}: message {self.msgid}'s path ended when "
                              f"{vm.userid} logged off")
        if self._data is None:
            self.data  # noqa: B018
        if not self._claim():  # (the check and the mark in one step, as reply's in C)
            if self.one_way:
                raise ValueError(f"{what}: message {self.msgid} is one-way; "
                                 f"there is nothing to answer")
            raise ValueError(f"{what}: message {self.msgid} was already answered")

    def _reply_slow(self, data: Any = b"", *, priority: bool = False) -> None:
        """reply() but its common case (MessageCore.reply, in C: bytes or a
        bytearray for a message taken and not answered yet)."""
        self._claim_answer("reply")
        try:
            if type(data) is not bytes and type(data) is not bytearray:
                data = _reply_buffer(data)
            p = self._p
            p.bf2 = data
            p.flags1 = _IPPRTY if priority else 0
        except BaseException:  # nothing reached the core: still answerable
            self._answered = False
            raise
        self._answer(_reply, p, "reply")

    def reject(self) -> None:
        """REJECT: the sender's send raises MessageRejected."""
        self._claim_answer("reject")
        p = self._p
        p.flags1 = 0
        self._answer(_reject, p, "reject")

    def _answer(self, call: Any, p: MsgPlist, what: str) -> None:
        """REPLY or REJECT (``call``) with ``p``: the message is answered
        once the core took the answer, and stays answerable if the call
        raised or the core refused it (a retry asks the core again).
        Claimed by the caller (_claim_answer)."""
        try:
            cc = call(p)
        except Exception:  # before the core answered: no storage, a program check
            self._answered = False
            raise
        if cc and not (call is _reply and p.rcode == 5):  # 5: longer than the answer area (the sender's error)
            self._answered = False
            self._failed(cc, p.rcode, what)

    def _failed(self, cc: int, rc: int, what: str) -> None:
        """Raise for a REPLY or REJECT that ended with condition code
        ``cc`` (IPRCODE ``rc`` with CC 1); MessageCore.reply's too."""
        if cc == 2:  # no such message: the sender purged it (its send timed out)
            raise PathSevered(f"{what}: message {self.msgid} was purged by its sender "
                              f"(its send timed out or was withdrawn)", 9)
        if rc in (1, 9):
            raise PathSevered(f"{what}: message {self.msgid}'s path is severed", rc)
        raise IUCVError(rc, f"{what} of message {self.msgid}: IUCV return code {rc}")

    def __repr__(self) -> str:
        """What is known without taking the message: a message nobody
        RECEIVEd shows the length its pending interrupt gave, and stays in
        its inbox."""
        kind = "one-way" if self.one_way else "two-way"
        data = self._data
        if data is not None:
            size = f"{len(data)} bytes"
        elif self._flags & _IPRMDATA:
            size = "8 bytes in the parameter list, not received"
        else:
            size = f"{self._p.bf1len} bytes, not received"
        return f"<Message {self.msgid} {kind} trgcls={self.trgcls} {size}>"


bind_message(Message, MsgPlist, CompPlist)  # the class the router's C filing makes
