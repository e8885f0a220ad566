"""The Pythonic layer's dispatch: one router per VM takes its interrupts and
completes what waits for them.

Threads wait the leader/follower way: whichever waiting thread finds no
other in the core's wait becomes the *pumper*: it takes a batch of
interrupts in one core wait (``pump``, in C: pumper.c; the GIL let go),
files what came into the router's state -- paths,
their inboxes, completions by message id, pending connections, events --
and wakes the followers (those sleeping on ``cond``) if there are any.
Each waiter asks its own question of that state (``wait_until(pred)``),
so a thread wakes as soon as what it waits for has come, whoever took it.
A single-threaded program is always its own pumper and pays one
uncontended lock per interrupt.

Everything the dispatcher does goes through ``_on_*`` methods and a
callback list per state change (``watchers``): an asyncio twin plugs in
by pumping from its event loop (``pump_once(0)`` when woken) and by
registering a watcher that completes its futures with
``loop.call_soon_threadsafe``.
"""
from __future__ import annotations

import collections
import threading
from time import monotonic as _monotonic
from typing import TYPE_CHECKING, Any, Callable

from .. import iucv
from .._native import lib
from .._native import file_messages as _file_messages
from .._native import pump as _pump  # the pumper's core wait (pumper.c)
from .._native import wait_message as _wait_message
from .._native import wait_reply as _wait_reply
from .._native import take_message as _take_message
from .. import signals
from ..errors import NotLoggedOn, ShmcpError, SystemDown
from ..interrupt import IUCV
from ..plist import Iparml, MsgPlist, PathPlist
from .events import Event
from .message import Message

if TYPE_CHECKING:
    from ..machine import VirtualMachine
    from .aio import AsyncReply, LoopPumps
    from .path import Path, Pending

_PENDING_CONNECTION = lib.SHMCP_IPTYPE_PENDING_CONNECTION
_CONNECTION_COMPLETE = lib.SHMCP_IPTYPE_CONNECTION_COMPLETE
_SEVERED = lib.SHMCP_IPTYPE_PATH_SEVERED
_QUIESCED = lib.SHMCP_IPTYPE_PATH_QUIESCED
_RESUMED = lib.SHMCP_IPTYPE_PATH_RESUMED
_COMPLETE_P, _COMPLETE_N = (lib.SHMCP_IPTYPE_PRIORITY_MESSAGE_COMPLETE,
                             lib.SHMCP_IPTYPE_NONPRIORITY_MESSAGE_COMPLETE)
_ARRIVED_P, _ARRIVED_N = (lib.SHMCP_IPTYPE_PRIORITY_MESSAGE_PENDING,
                          lib.SHMCP_IPTYPE_NONPRIORITY_MESSAGE_PENDING)
_IPNORPY, _IPPRTY = lib.SHMCP_IPNORPY, lib.SHMCP_IPPRTY
# a VM left idle this long by its program is pumped by the acceptor thread
# of accept_all (the listen backlog), which otherwise keeps out of the way
IDLE_BEFORE_ACCEPTOR = 0.02
# How long a thread that finds another ending the router (end_at_logoff,
# which joins the acceptor and the helpers) waits for it: their joins' bound
ENDING_WAIT = 2 * IDLE_BEFORE_ACCEPTOR + 5.0
# what a program thread queues to its own VM to end the acceptor's wait
NUDGE = bytes(40)


class Router:
    """The Pythonic layer's state of one VM and the dispatch of its IUCV
    interrupts (see the module's doc)."""

    def __init__(self, vm: "VirtualMachine") -> None:
        if not signals.unhandled_facilities() & (1 << IUCV):
            raise ShmcpError("the Pythonic layer takes IUCV interrupts itself, but a SIGIUCV "
                             "handler is established: remove it (signal.SIG_DFL) first")
        declare = PathPlist()  # the layer's own DECLARE BUFFER, unless the program's
        if iucv.dclbfr(declare) and declare.rcode != 19:  # 19: declared already
            raise_for(declare.rcode, "DECLARE BUFFER")
        self.vm = vm
        self.mutex = threading.Lock()
        self.cond = threading.Condition(self.mutex)
        self.pumping = False
        self.acceptor_pumping = False  # the pumper is accept_all's thread
        self.nudged = False            # and was asked to give way
        self.sleepers = 0            # threads in cond.wait
        self.fg_waits = 0            # waits by the program's threads, ever
        self.paths: dict[int, "Path"] = {}
        self.connecting: dict[int, "Path"] = {}
        self.connections: collections.deque[PathPlist] = collections.deque()
        self.inbox: collections.deque[Any] = collections.deque()  # every path's messages
        self.completed: dict[int, Any] = {}         # msgid -> 06/07 nobody claimed yet
        # one-way completions the pumper took, by path id, not yet counted
        # on their Path (written by take_batch outside mutex: the pumper's)
        self.counts: dict[int, int] = {}
        # msgid -> send_nowait's Pending, or an asend's AsyncReply
        self.pending: dict[int, "Pending | AsyncReply"] = {}
        self.events: collections.deque[Event] | None = None  # once vm.events() asked
        self.accept_policy: tuple[int | None, bool] | None = None
        self.acceptor: threading.Thread | None = None
        self.helpers: list[threading.Thread] = []  # asyncio's sleeper threads (aio.py)
        self.loop_pump: "LoopPumps | None" = None  # aio.py's, one pump per event loop
        self.stopped = threading.Event()
        self.ended = threading.Event()  # end_at_logoff has ended the router's state
        self.watchers: list[Callable[[], None]] = []  # called (mutex held) after each dispatch

    # -- waiting ------------------------------------------------------------

    def wait_until(self, pred: Callable[[], Any], deadline: float | None) -> Any:
        """pred()'s first true value (asked with ``mutex`` held), pumping
        interrupts meanwhile; TimeoutError at ``deadline``.  (pump_once,
        spelled out: this is every blocking call's loop.)"""
        mutex = self.mutex
        self.fg_waits += 1  # the acceptor keeps out of the way
        mutex.acquire()
        looked = False  # a deadline already past still gets one look
        try:
            while True:
                got = pred()
                if got:
                    return got
                if looked and deadline is not None and _monotonic() >= deadline:
                    raise TimeoutError("timed out")
                first, looked = not looked, True
                if self.pumping:
                    acceptor = self.acceptor_pumping
                    if acceptor:
                        self._nudge()
                    self.sleepers += 1
                    try:
                        # the first look waits out accept_all's nudged pass
                        # (what is queued is filed then), even at timeout=0
                        self.cond.wait(None if deadline is None or (first and acceptor)
                                       else deadline - _monotonic())
                    finally:
                        self.sleepers -= 1
                    continue
                try:
                    batch = _pump(self, deadline)
                except (NotLoggedOn, SystemDown):  # LOGOFF: what it filed (a path severed) may answer
                    if self.vm.logged_on:
                        raise
                    if not self.ended.is_set():
                        mutex.release()
                        try:
                            self.end_when_lost()
                        finally:
                            mutex.acquire()
                    if not (got := pred()):
                        raise
                    return got
                self._file(batch)
        finally:
            mutex.release()

    def _nudge(self) -> None:
        """Wake the pumper from its core wait (mutex held): accept_all's
        thread (that wait would last 20 ms), or a program thread whose
        wait ended without an interrupt (end_waits)."""
        if not self.nudged:
            self.nudged = True
            try:
                self.vm.queue_interrupt(self.vm.userid8, NUDGE)
            except ShmcpError:  # a full queue wakes it anyway
                self.nudged = False

    def wait_out_acceptor(self) -> None:
        """If accept_all's thread is in the core's wait, wake it and wait
        until its pass ends: what is queued is filed then (a zero
        timeout's one look sees what came before it, as wait_until's
        first look does)."""
        with self.mutex:
            if not self.acceptor_pumping:
                return
            self.fg_waits += 1  # the program waits: the acceptor keeps out next
            self._nudge()
            self.sleepers += 1
            try:
                while self.acceptor_pumping:
                    self.cond.wait()
            finally:
                self.sleepers -= 1

    def _file(self, batch: list[Any]) -> None:
        """dispatch() each of a batch (mutex held); with nobody watching,
        its messages (the most of a one-way stream's batch) are filed by
        C without dispatch's questions."""
        if self.events is not None or self.watchers:  # (set while the batch was taken)
            for got in batch:
                self.dispatch(got._p if got.__class__ is Message else got)
            return
        _file_messages(batch, self.inbox, self.paths, self, MsgPlist, False)  # inbox.c

    def wait_reply(self, msgid: int, path: "Path") -> Any:
        """wait_until(lambda: path._reply_of(msgid), None), spelled out
        for a round trip on ``path`` (in C, pumper.c): a pumper that takes
        the completion it waits for keeps it without dispatching it, unless
        events or watchers want to see it."""
        got = _wait_reply(self, msgid, path)  # None: another thread pumps, or path severed here
        if got is not None:
            return got
        return self.wait_until(lambda: path._reply_of(msgid), None)  # a follower

    def wait_room(self, path: "Path", completions: int) -> None:
        """wait_until(lambda: path._completions != completions or
        path._state != "active", None), spelled out for a one-way send at
        its path's message limit: the next completion on it (or its end)."""
        mutex = self.mutex
        self.fg_waits += 1  # the acceptor keeps out of the way
        try:
            with mutex:
                while not self.pumping:
                    if path._completions != completions or path._state != "active":
                        return
                    batch = _pump(self, None)
                    if batch:
                        self._file(batch)
            self.wait_until(lambda: path._completions != completions or  # a follower
                            path._state != "active", None)
        except NotLoggedOn:  # LOGOFF by another thread ended the path
            path._ended_by_logoff("send")

    def wait_message(self, deadline: float | None) -> Message:
        """wait_until(lambda: take(inbox), deadline), spelled out for
        vm.receive (in C, pumper.c): a pumper that takes one
        message-pending interrupt while the inbox is empty takes that
        message itself, past the inboxes, unless events or watchers want
        to see it."""
        msg = _wait_message(self, deadline)  # None: another thread pumps
        if msg is not None:
            return msg
        inbox = self.inbox
        return self.wait_until(lambda: self.take(inbox), deadline)  # a follower

    def _take_rest(self, batch: Any, deadline: float | None) -> list[Any]:
        """The pumper's core wait through wait()'s Python path (mutex not
        held): what take_batch left to it (a record to present, or the
        wait's outcome, last in ``batch``), or with ``batch``
        NotImplemented the whole wait."""
        vm = self.vm
        if batch is not NotImplemented:
            last = batch.pop()  # (with others before it, it must not block)
            got = vm.wait_from(last, 0.0 if batch else None if deadline is None
                               else max(0.0, deadline - _monotonic()))
            if got is not None:
                batch.append(got)
            return batch
        got = vm.wait(None if deadline is None else max(0.0, deadline - _monotonic()))
        return [] if got is None else [got]

    def pump_once(self, deadline: float | None, acceptor: bool = False) -> bool:
        """One wait for the next interrupt (up to ``deadline``) and its
        dispatch, as the pumper (``pumping`` set by the caller; cleared
        here, under the same lock round as the dispatch).  True if an
        interrupt came."""
        self.acceptor_pumping = acceptor
        got = None
        try:
            got = self.vm.wait(None if deadline is None else max(0.0, deadline - _monotonic()))
        finally:  # (also after Ctrl-C or the VM's end: an interrupt taken is filed)
            with self.mutex:
                self._stop_pumping()
                if got is not None:
                    self.dispatch(got)
        return got is not None

    def end_waits(self, path: "Path") -> None:
        """This end severed ``path`` (mutex held): its messages in flight
        that wait in ``pending`` (a Pending, or any waiter that names its
        ``_path``) complete with PathSevered (``path._lost``), and every waiter
        looks again at what it waits for -- the sleepers on ``cond``, the
        watchers (asyncio's coroutines), and the pumper, woken from the
        core's wait by a record the VM queues to itself (the SEVER brings
        it nothing)."""
        for msgid, pend in list(self.pending.items()):
            if getattr(pend, "_path", None) is path:
                del self.pending[msgid]
                pend._complete(path._lost(msgid))
        if self.sleepers:
            self.cond.notify_all()
        for watcher in self.watchers:
            watcher()
        if self.pumping:
            self._nudge()

    def forget_answer(self, msgid: int) -> None:
        """Let go of message ``msgid``'s answer area (kept exported for
        the reply until its completion): this end's SEVER destroyed the
        message, so nothing is written there any more."""
        answers = self.vm.iucv_answers
        if answers:
            answers.pop(msgid, None)

    def _stop_pumping(self) -> None:
        """The pumper's wait is over (mutex held): the sleepers may pump
        next, and run once this thread lets go of mutex."""
        self.pumping = self.acceptor_pumping = False
        if self.sleepers:
            self.cond.notify_all()

    # -- dispatch -------------------------------------------------------------

    def dispatch(self, got: Any) -> None:
        """One interrupt into the router's state (mutex held)."""
        itype = got.type if isinstance(got, Iparml) else None
        if itype == _COMPLETE_N or itype == _COMPLETE_P:
            self._on_complete(got)
        elif itype == _ARRIVED_N or itype == _ARRIVED_P:
            self._on_message(got)
        elif itype is None and getattr(got, "raw", None) == NUDGE:
            self.nudged = False
            return
        elif itype == _PENDING_CONNECTION:
            self._on_pending(got)
        elif itype == _CONNECTION_COMPLETE:
            self._on_complete_connection(got)
        elif itype == _SEVERED:
            self._on_severed(got)
        elif itype == _QUIESCED or itype == _RESUMED:
            path = self.paths.get(got.pathid)
            if path is not None:
                path._quiesced = itype == _QUIESCED
                path._resumes += itype == _RESUMED
            self._event("path_quiesced" if itype == _QUIESCED else "path_resumed", path, raw=got)
        else:  # VMCF's, or a core-level record: an event only
            self._event("other", None, raw=got)
        if self.watchers:
            for watcher in self.watchers:
                watcher()

    def _event(self, name: str, path: Any, message: Any = None, raw: Any = None) -> None:
        if self.events is not None:
            self.events.append(Event(name, path, message, raw))

    def _on_complete(self, got: Any) -> None:
        path = self.paths.get(got.pathid)
        if path is not None:
            path._completions += 1
        if not got.flags1 & _IPNORPY:
            pend = self.pending.pop(got.msgid, None)
            if pend is not None:
                pend._complete(got)
            else:
                self.completed[got.msgid] = got
        if self.events is not None:
            self._event("message_complete", path, raw=got)

    def _on_message(self, got: MsgPlist) -> None:
        # announced only: the data stays in CP's storage (and counts against
        # the path's limit) until the program takes the message
        path = self.paths.get(got.pathid)
        msg = Message(got, got.flags1, path, self)
        self.inbox.append(msg)
        if path is not None and path._receiving:
            msg._in_path = True
            path._inbox.append(msg)
        if self.events is not None:
            self._event("message_pending", path, msg, raw=got)

    def take(self, inbox: "collections.deque[Message]") -> Message | None:
        """The first message of ``inbox`` not taken yet, RECEIVEd (mutex
        held); the other inbox it sits in (its path's, or the VM's) trimmed
        of taken ones.  (In C, inbox.c: every receive's step.)"""
        return _take_message(inbox, self.inbox)

    def _on_pending(self, got: PathPlist) -> None:
        if self.accept_policy is not None:
            msglim, priority = self.accept_policy
            path = self.accept_now(got, msglim, priority)
            self._event("path_pending", path, raw=got)
            return
        self.connections.append(got)
        self._event("path_pending", None, raw=got)

    def accept_now(self, got: PathPlist, msglim: int | None, priority: bool) -> "Path | None":
        """ACCEPT the pending connection ``got`` (mutex held); None if its
        originator severed it meanwhile."""
        from .path import Path
        plist = PathPlist(pathid=got.pathid, msglim=got.msglim if msglim is None else msglim,
                          flags1=_IPPRTY if priority else 0)
        if iucv.accept(plist):
            if plist.rcode == 20:  # the originator severed it first
                iucv.sever(PathPlist(pathid=got.pathid))
                return None
            raise_for(plist.rcode, "ACCEPT")
        path = Path(self, plist.pathid, got.vmid, plist.msglim, bool(plist.flags1 & _IPPRTY))
        self.paths[path.pathid] = path
        return path

    def _on_complete_connection(self, got: PathPlist) -> None:
        path = self.connecting.pop(got.pathid, None)
        if path is not None:
            path._msglim = got.msglim
            path._priority = bool(got.flags1 & _IPPRTY)
            path._quiesced = bool(got.flags1 & lib.SHMCP_IPQUSCE)
            path._state = "active"
            self.paths[path.pathid] = path
        self._event("path_complete", path, raw=got)

    def _on_severed(self, got: PathPlist) -> None:
        pathid = got.pathid
        path = self.paths.pop(pathid, None) or self.connecting.pop(pathid, None)
        if path is None:  # a pending connection its originator gave up
            for i, conn in enumerate(self.connections):
                if conn.pathid == pathid:
                    del self.connections[i]
                    break
        else:
            path._state = "severed"
            path._partner_severed = True
            if self.untaken(path):
                # our SEVER would destroy them: it waits until they are taken
                path._sever_owed = True
                self._event("path_severed", path, raw=got)
                return
        iucv.sever(PathPlist(pathid=pathid))  # our end too: the path id is free again
        self._event("path_severed", path, raw=got)

    def untaken(self, path: "Path") -> bool:
        """Whether a message of ``path`` still waits to be taken (mutex held)."""
        return any(not msg.taken and msg.path is path
                   for msg in (path._inbox if path._receiving else self.inbox))

    def _settle(self, path: "Path") -> None:
        """The SEVER a path's end owes once its last message is taken."""
        if path._sever_owed and not self.untaken(path):
            path._sever_owed = False
            iucv.sever(PathPlist(pathid=path.pathid))

    # -- accept_all's acceptor ----------------------------------------------------

    def start_acceptor(self) -> None:
        """accept_all's thread: it pumps only while no program thread has
        waited for IDLE_BEFORE_ACCEPTOR seconds, so pending connections are
        accepted while the program is busy elsewhere (a listen backlog)."""
        if self.acceptor is not None:
            return
        self.acceptor = threading.Thread(target=self._accept_loop, name="shmcp-acceptor",
                                         daemon=True)
        self.acceptor.start()

    def _accept_loop(self) -> None:
        # it polls (no notification costs the program's threads anything)
        stopped = self.stopped
        seen = -1
        while not stopped.is_set():
            if self.pumping or self.fg_waits != seen:  # the program used the VM lately
                seen = self.fg_waits
                stopped.wait(IDLE_BEFORE_ACCEPTOR)
                continue
            with self.mutex:
                if self.pumping:
                    continue
                self.pumping = True
            try:
                # short, so a program thread that wants the VM gets it soon
                self.pump_once(_monotonic() + IDLE_BEFORE_ACCEPTOR, acceptor=True)
            except Exception:  # logged off meanwhile: the thread ends
                if not self.vm.logged_on:
                    return
                raise

    def stop(self) -> None:
        """Before LOGOFF: end the acceptor, which may be in the core's wait."""
        self.stopped.set()
        thread = self.acceptor
        if thread is not None and thread is not threading.current_thread():
            thread.join(2 * IDLE_BEFORE_ACCEPTOR + 1.0)
        self.acceptor = None
        for thread in self.helpers:
            if thread is not threading.current_thread():
                thread.join(1.0)

    def end_when_lost(self) -> None:
        """The VM ended without LOGOFF's hook (FORCE, or a shutdown by
        another process; mutex not held): end the router's state as the
        hook would, once -- a thread that finds another already ending it
        waits for that."""
        if self.ended.is_set():
            return
        if self.stopped.is_set():
            self.ended.wait(ENDING_WAIT)
        else:
            self.end_at_logoff(self.vm.userid)

    def end_at_logoff(self, userid: str) -> None:
        """Before LOGOFF of ``userid``: stop(), and end with it everything
        the router holds for the VM (LOGOFF severs its paths in CP): its
        Paths are severed, its messages in flight complete with
        PathSevered, its coroutines raise NotLoggedOn.  Nothing is left to
        act for the VM this process logs on as next."""
        self.stop()
        from .path import Ended
        with self.mutex:
            for path in (*self.paths.values(), *self.connecting.values()):
                path._state = "severed"
                path._sever_owed = False  # (the next VM's SEVER would be another path's)
            self.paths.clear()
            self.connecting.clear()
            for msgid, pending in self.pending.items():  # no completion can come now
                pending._complete(Ended(msgid, f"message {msgid}: its path ended when "
                                               f"{userid} logged off"))
            self.pending.clear()
            if self.loop_pump is not None:  # (in its loop's thread)
                self.loop_pump._fail_threadsafe(NotLoggedOn(f"{userid} was logged off"))
        self.ended.set()


def raise_for(rc: int, what: str, partner: str = "") -> None:
    """The Pythonic exception for IPRCODE ``rc`` of ``what`` (one funnel)."""
    from ..errors import (ConnectionRefused, IUCVError, MessageLimitExceeded, NotAuthorized,
                          NotLoggedOn, PathQuiesced, PathSevered)
    to = f" to {partner}" if partner else ""
    if rc == 1:
        raise PathSevered(f"{what}: the path is severed", rc)
    if rc == 2:
        raise PathQuiesced(f"{what}: the partner quiesced the path")
    if rc == 3:
        raise MessageLimitExceeded(f"{what}: the path is at its message limit")
    if rc == 11:
        raise NotLoggedOn(f"{what}{to}: {partner or 'the target'} is not logged on")
    if rc == 12:
        raise ConnectionRefused(f"{what}{to}: {partner or 'the target'} does not use IUCV "
                                f"(no DECLARE BUFFER)", rc)
    if rc == 13:
        raise ConnectionRefused(f"{what}{to}: this VM is at its maximum connections", rc)
    if rc == 14:
        raise ConnectionRefused(f"{what}{to}: {partner or 'the target'} is at its maximum "
                                f"connections", rc)
    if rc == 15:
        raise NotAuthorized(f"{what}{to}: the directory does not authorize it")
    if rc == 4:
        raise IUCVError(rc, f"{what}: priority messages are not allowed on this path")
    raise IUCVError(rc, f"{what}: IUCV return code {rc}")
