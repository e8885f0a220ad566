"""A path between two VMs, and a message in flight on it."""
from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Any, Iterator, NoReturn

from .. import iucv
from .._native import lib
from .._native import answer_of as _answer_of
from .._native import send_method as _send_method
from .._native import send_two_way as _send_two_way
from ..errors import IUCVError, MessageRejected, NotLoggedOn, PathSevered, ReplyTruncated
from ..plist import MsgPlist, PathPlist
from .aio import AsyncPath, AsyncPending
from .router import raise_for
from .timeouts import deadline_of

if TYPE_CHECKING:
    from .message import Message
    from .router import Router

# The answer area of a two-way send when reply_size is not given: a longer
# reply raises ReplyTruncated (docs/pythonic.md)
DEFAULT_REPLY_SIZE = 65536
_IPNORPY, _IPPRTY, _IPRMDATA = lib.SHMCP_IPNORPY, lib.SHMCP_IPPRTY, lib.SHMCP_IPRMDATA
_IPADRJCT, _IPADSVRD, _IPADRPLE = lib.SHMCP_IPADRJCT, lib.SHMCP_IPADSVRD, lib.SHMCP_IPADRPLE
_SELECT = lib.SHMCP_IPFGPID | lib.SHMCP_IPFGMID | lib.SHMCP_IPFGMCL
_send = iucv.send


def _data(data: Any) -> Any:
    """``data`` as SEND takes it: bytes and bytearray as they are, any
    other bytes-like object through a memoryview (one in one piece: SEND
    takes the message's bytes from one address)."""
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError(f"data must be a bytes-like object, not {type(data).__name__}") from None
    if not view.c_contiguous:
        raise TypeError(f"data must be a C-contiguous bytes-like object, not a non-contiguous "
                        f"{type(data).__name__}")
    return view


def _reply_size(size: Any) -> int:
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"reply_size must be an int, not {type(size).__name__}")
    if not 0 <= size < 0x80000000:
        raise ValueError(f"reply_size must be 0 .. 2**31-1 bytes, not {size}")
    return size


def _class(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"{name} must be a fullword, 0 .. 2**32-1, not {value}")
    return value


def outcome(got: Any, answer: bytearray) -> bytes:
    """What a two-way send returns for its message-complete interrupt
    ``got`` (the reply, now in ``answer``), or the exception its audit
    trail names."""
    audit = got.audit
    if audit:
        if audit & _IPADRJCT:
            raise MessageRejected(f"message {got.msgid} was rejected by its target")
        if audit & _IPADSVRD:
            raise PathSevered(getattr(got, "reason", None) or
                              f"message {got.msgid}: the path was severed before it was answered")
        if audit & _IPADRPLE:
            raise ReplyTruncated(bytes(answer), got.bf2len)
        raise IUCVError(None, f"message {got.msgid} completed with audit trail {audit:#06x}")
    if got.flags1 & _IPRMDATA:
        return got.data  # a parameter-list reply (from a faithful-layer partner)
    return bytes(answer[:len(answer) - got.bf2len])  # (half a memoryview's cost)


class Ended:
    """The completion a two-way message still in flight gets when no
    completion can come for it any more -- its VM logs off (LOGOFF severs
    its path; nothing comes to the VM this process logs on as next), or
    this end severs its path (its SEVER destroys the message on this
    side): ``outcome`` raises PathSevered with ``reason``."""

    __slots__ = ("msgid", "reason")
    audit = _IPADSVRD

    def __init__(self, msgid: int, reason: str) -> None:
        self.msgid = msgid
        self.reason = reason


class Pending(AsyncPending):
    """A message send_nowait queued: ``result(timeout=None)`` is what send
    would have returned (the reply, or None for a one-way message), or
    raises what it would have raised."""

    __slots__ = ("_path", "msgid", "_answer", "_got", "_done", "_callbacks")

    def __init__(self, path: "Path", msgid: int, answer: bytearray | None) -> None:
        self._path = path
        self.msgid = msgid
        self._answer = answer
        self._got: Any = None
        self._done = answer is None  # one-way: done once queued
        self._callbacks: list[Any] = []

    def done(self) -> bool:
        """Whether the message has completed."""
        return self._done

    def _complete(self, got: Any) -> None:  # the router's, mutex held
        self._got = got
        self._done = True
        for callback in self._callbacks:
            callback(self)

    def add_done_callback(self, callback: Any) -> None:
        """Call ``callback(pending)`` (in the thread that dispatches the
        completion, router lock held: keep it short) once it completes;
        at once if it has.  For the asyncio twins."""
        with self._path._router.mutex:
            if not self._done:
                self._callbacks.append(callback)
                return
        callback(self)

    def result(self, timeout: float | None = None) -> bytes | None:
        """The reply (None for a one-way message), waiting up to
        ``timeout`` seconds (TimeoutError: the message stays in flight)."""
        deadline = deadline_of(timeout)
        if self._answer is None:
            return None
        if not self._done:
            self._path._router.wait_until(lambda: self._done, deadline)
        return outcome(self._got, self._answer)

    def __repr__(self) -> str:
        return f"<Pending message {self.msgid} {'done' if self._done else 'in flight'}>"


class Path(AsyncPath):
    """One end of an IUCV path: ``pathid``, ``partner`` (its userid),
    ``msglim``, ``priority`` (priority messages allowed), ``quiesced``
    (the partner quiesced it: sends wait), ``severed``.  ``with path:``
    severs it on leaving."""

    def __init__(self, router: "Router", pathid: int, partner: bytes, msglim: int,
                 priority: bool, state: str = "active") -> None:
        self._router = router
        self.pathid = pathid
        self.partner = partner.decode("ascii", "replace").rstrip()
        self._msglim = msglim
        self._priority = priority
        self._quiesced = False
        self._state = state  # connecting, active, severed
        self._partner_severed = False
        # the program severed this end: no completion comes for its messages
        # in flight (its SEVER destroyed them here); every wait for one ends
        self._severed_here = False
        self._sever_owed = False  # severed by the partner, ours waits for the inbox
        # its messages not taken yet, once the program receives from the path
        # itself (_receive_here); until then they are only in the VM's inbox
        self._inbox: collections.deque["Message"] = collections.deque()
        self._receiving = False
        self._completions = 0  # message-complete interrupts taken, ever
        self._resumes = 0      # path-resumed interrupts taken, ever
        # SEND's parameter lists, reused; one per sender at a time (threads and
        # the event loop may send on one path at once); every one in the pool
        # has its classes and tag zero
        self._plists = [MsgPlist(pathid=pathid)]
        # send_one_way's and send_two_way's: each used within one C call
        self._oneway, self._twoway = MsgPlist(pathid=pathid), MsgPlist(pathid=pathid)
        self._spares: list[bytearray] = []     # default-size answer areas, reused

    msglim = property(lambda self: self._msglim, doc="The path's message limit.")
    priority = property(lambda self: self._priority, doc="Whether priority messages are allowed.")
    quiesced = property(lambda self: self._quiesced, doc="Whether the partner quiesced the path.")
    severed = property(lambda self: self._state == "severed", doc="Whether the path is severed.")

    # -- sending --------------------------------------------------------------

    def _queue(self, data: Any, one_way: bool, priority: bool, trgcls: int, srccls: int,
               msgtag: int, reply_size: int | None, deadline: float | None,
               block: bool) -> tuple[int, bytearray | None]:
        """SEND, waiting (up to ``deadline``) while the path is at its
        limit or quiesced: (message id, answer area or None)."""
        if self._state != "active":
            self._not_active("send")
        if type(data) is not bytes and type(data) is not bytearray:
            data = _data(data)
        # (a class that is not a plain int -- None, False, 0.0 -- is checked too)
        classed = trgcls or srccls or msgtag or not (
            type(trgcls) is type(srccls) is type(msgtag) is int)
        if classed:
            classes = _class("trgcls", trgcls), _class("srccls", srccls), _class("msgtag", msgtag)
        plists = self._plists
        p = plists.pop() if plists else MsgPlist(pathid=self.pathid)
        p.bf1 = data
        p.flags1 = (_IPNORPY if one_way else 0) | (_IPPRTY if priority else 0)
        if classed:
            p.trgcls, p.srccls, p.msgtag = classes
        answer = None
        if not one_way:
            if reply_size is None:
                spares = self._spares
                answer = spares.pop() if spares else bytearray(DEFAULT_REPLY_SIZE)
            else:
                answer = bytearray(_reply_size(reply_size))
            p.bf2 = answer
        router = self._router
        try:
            while True:
                completions, resumes = self._completions, self._resumes
                if not _send(p):
                    return p.msgid, answer
                rc = p.rcode
                if self._state != "active":
                    self._not_active("send")
                if rc == 1:  # the partner's end is gone; its 03 is not filed yet
                    self._not_active("send", by_partner=True)
                if rc == 3 and block:  # at the limit: wait for a completion
                    router.wait_until(lambda: self._completions != completions or
                                      self._state != "active", deadline)
                elif rc == 2 and block:  # quiesced: wait for the RESUME
                    router.wait_until(lambda: self._resumes != resumes or
                                      self._state != "active", deadline)
                else:
                    raise_for(rc, "send", self.partner)
                if self._state != "active":  # the wait ended with the path
                    self._not_active("send")
        except NotLoggedOn:  # LOGOFF by another thread ended the path
            self._ended_by_logoff("send")
        finally:
            if classed:
                p.trgcls = p.srccls = p.msgtag = 0
            plists.append(p)

    def _ended_by_logoff(self, what: str) -> NoReturn:
        """In a wait of ``what`` on this path, NotLoggedOn: LOGOFF (by
        another thread, or FORCE) ended the VM, and with it the path:
        PathSevered says so.  Re-raises it while the VM is logged on."""
        if self._router.vm.logged_on and self._state != "severed":  # (LOGOFF's hook severs first)
            raise
        self._not_active(what)

    def _not_active(self, what: str, by_partner: bool = False) -> NoReturn:
        """PathSevered for ``what`` on this path, saying who ended it
        (``by_partner``: IUCV says the partner's end is gone, before its
        path-severed interrupt is filed)."""
        raise PathSevered(f"{what}: path {self.pathid} to {self.partner} "
                          f"{self._end(by_partner)}")

    def _end(self, by_partner: bool = False) -> str:
        """How the path ended: severed by its partner (or its partner's
        LOGOFF or death), by this end, or by this VM's LOGOFF."""
        if by_partner or self._partner_severed:
            return "was severed by its partner"
        if self._severed_here:
            return "was severed by this end"
        return f"ended when {self._router.vm.userid} logged off"

    def _lost(self, msgid: int) -> Ended:
        """Message ``msgid``, in flight when this end severed the path: its
        SEVER destroyed it, so no completion comes; what stands for one
        (PathSevered), its answer area let go."""
        self._router.forget_answer(msgid)
        return Ended(msgid, f"message {msgid}: path {self.pathid} to {self.partner} "
                            f"{self._end()}")

    def _reply_of(self, msgid: int) -> Any:
        """Message ``msgid``'s completion if it came (router mutex held),
        else None; PathSevered once this end severed the path: none comes
        then."""
        got = self._router.completed.pop(msgid, None)
        if got is None and self._severed_here:
            self._router.forget_answer(msgid)
            self._not_active("send")
        return got

    def send(self, data: Any, *, one_way: bool = False, priority: bool = False, trgcls: int = 0,
             srccls: int = 0, msgtag: int = 0, reply_size: int | None = None,
             timeout: float | None = None, block: bool = True) -> bytes | None:
        """Send ``data`` (any bytes-like object).  Two-way: returns the
        reply (bytes).  One-way: returns None once the message is queued.
        At the path's message limit, or while the partner has it quiesced,
        waits (up to ``timeout``) -- or with ``block=False`` raises
        MessageLimitExceeded / PathQuiesced.  Raises MessageRejected,
        ReplyTruncated (reply longer than ``reply_size``, default
        DEFAULT_REPLY_SIZE), PathSevered, TimeoutError (the message is
        then purged)."""
        deadline = deadline_of(timeout)
        msgid, answer = self._queue(data, one_way, priority, trgcls, srccls, msgtag,
                                    reply_size, deadline, block)
        if answer is None:
            return None
        router = self._router
        try:
            got = router.wait_until(lambda: self._reply_of(msgid), deadline)
        except TimeoutError:
            self._purge(msgid, srccls)
            raise
        except NotLoggedOn:
            self._ended_by_logoff("send")
        try:
            return outcome(got, answer)
        finally:  # only once read: another thread may take it at once
            if reply_size is None and len(self._spares) < 4:
                self._spares.append(answer)

    _send_py = send  # (send is pathsend.c's send_method: its common cases in C, the rest this)
    _outcome = staticmethod(outcome)  # (for pathsend.c's round trip)

    def _round_trip(self, data: bytes | bytearray) -> bytes | None:
        """send(data)'s common case: a two-way SEND with a default answer
        area, no classes, no timeout; None if the SEND was refused (the
        limit, a quiesce: send's general path waits and sends again)."""
        spares = self._spares
        answer = spares.pop() if spares else bytearray(DEFAULT_REPLY_SIZE)
        msgid = _send_two_way(self._twoway, data, answer)  # in C, one call
        if msgid.__class__ is not int or msgid < 0:  # refused, or no VM in C
            spares.append(answer)
            return None
        try:
            got = self._router.wait_reply(msgid, self)
        except NotLoggedOn:
            self._ended_by_logoff("send")
        try:
            reply = _answer_of(got, answer)  # the plain reply, in C
            return outcome(got, answer) if reply is None else reply
        finally:  # only once read: another thread may take it at once
            if len(spares) < 4:
                spares.append(answer)

    def _purge(self, msgid: int, srccls: int) -> None:
        """Withdraw a two-way message whose sender stopped waiting."""
        with self._router.mutex:
            iucv.purge(MsgPlist(pathid=self.pathid, msgid=msgid, srccls=srccls, flags1=_SELECT))
            self._router.completed.pop(msgid, None)

    def send_nowait(self, data: Any, *, one_way: bool = False, priority: bool = False,
                    trgcls: int = 0, srccls: int = 0, msgtag: int = 0,
                    reply_size: int | None = None, timeout: float | None = None,
                    block: bool = True) -> Pending:
        """Send as ``send`` does, but return a Pending as soon as the
        message is queued (waiting, like send, while the path is at its
        limit); up to ``msglim`` messages may be in flight."""
        deadline = deadline_of(timeout)
        if reply_size is None and not one_way:
            reply_size = DEFAULT_REPLY_SIZE  # its own area: it outlives this call
        router = self._router
        msgid, answer = self._queue(data, one_way, priority, trgcls, srccls, msgtag,
                                    reply_size, deadline, block)
        pending = Pending(self, msgid, answer)
        if answer is not None:
            with router.mutex:
                got = router.completed.pop(msgid, None)
                if got is not None:
                    pending._complete(got)
                elif self._severed_here:  # severed since the SEND: no completion comes
                    pending._complete(self._lost(msgid))
                else:
                    router.pending[msgid] = pending
        return pending

    # -- receiving --------------------------------------------------------------

    def receive(self, timeout: float | None = None) -> "Message":
        """The next message on this path, waiting up to ``timeout``
        seconds (TimeoutError); PathSevered once the path is severed and
        nothing is left on it."""
        deadline = deadline_of(timeout)
        inbox, router = self._receive_here(), self._router

        def take() -> "Message | None":
            msg = router.take(inbox)
            if msg is None and self._state == "severed":
                self._not_active("receive")
            return msg
        return router.wait_until(take, deadline)

    def _receive_here(self) -> "collections.deque[Message]":
        """The path's own inbox, made on the first receive from the path:
        the messages of it still in the VM's inbox, in order, and from
        then on each one as it comes (a program that takes every message
        by vm.receive files each in one inbox only)."""
        if not self._receiving:
            router = self._router
            with router.mutex:
                if not self._receiving:
                    for msg in router.inbox:
                        if msg.path is self and not msg.taken:
                            msg._in_path = True
                            self._inbox.append(msg)
                    self._receiving = True
        return self._inbox

    def __iter__(self) -> Iterator["Message"]:
        """The path's messages as they come, until it is severed and empty."""
        while True:
            try:
                yield self.receive()
            except PathSevered:
                return

    # -- the path itself ----------------------------------------------------------

    def _path_call(self, fn: Any, what: str, **fields: Any) -> None:
        if self._state != "active":
            self._not_active(what)
        plist = PathPlist(pathid=self.pathid, **fields)
        if fn(plist):
            raise_for(plist.rcode, what, self.partner)

    def quiesce(self) -> None:
        """QUIESCE: the partner's sends wait (or raise PathQuiesced) until resume()."""
        self._path_call(iucv.quiesce, "quiesce")

    def resume(self) -> None:
        """RESUME what quiesce() stopped."""
        self._path_call(iucv.resume, "resume")

    def sever(self, user: bytes | str = b"") -> None:
        """SEVER the path (``user``: up to 16 bytes, or ASCII characters,
        shown to the partner, as connect's ``user``).  Idempotent.  What
        this end has not received is given up (its SEVER destroys it: a
        two-way message's sender gets PathSevered); every call waiting on
        the path -- a send, a receive, a Pending's result, in any thread --
        raises PathSevered.  (A path its partner severed keeps what was
        announced on it receivable until this end severs.)"""
        from .vm import user_bytes
        user = user_bytes(user, "user", 16)
        router = self._router
        with router.mutex:
            if self._state == "severed" and not self._sever_owed:
                return  # (severed here, by the partner and settled, or by LOGOFF)
            self._sever_owed = False
            self._state = "severed"
            self._severed_here = True
            router.paths.pop(self.pathid, None)
            router.connecting.pop(self.pathid, None)
            for msg in self._inbox if self._receiving else router.inbox:
                if msg.path is self:  # (read ahead or not: the program gives it up)
                    msg.taken = True
            if router.vm.logged_on:
                plist = PathPlist(pathid=self.pathid)
                plist.ipuser = bytes(user)
                iucv.sever(plist)
            router.end_waits(self)

    def __enter__(self) -> "Path":
        return self

    def __exit__(self, *exc: object) -> None:
        self.sever()

    def __repr__(self) -> str:
        return f"<Path {self.pathid} to {self.partner}, {self._state}>"


# send(data) and send(data, one_way=True) in C (pathsend.c), the rest Path._send_py
setattr(Path, "send", _send_method(Path._send_py))
