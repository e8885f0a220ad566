"""The Pythonic layer's dispatch: one router per VM takes its interrupts and
completes what waits for them.

Threads wait the leader/follower way: whichever waiting thread finds no
other in the core's wait becomes the *pumper*: it calls ``vm.wait()``
(the GIL let go), dispatches what came into the router's state -- paths,
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
import time
from typing import TYPE_CHECKING, Any, Callable

from .. import iucv
from .. import signals
from ..errors import ShmcpError
from ..interrupt import IUCV
from ..plist import Iparml, MsgPlist, PathPlist
from .events import Event
from .message import Message

if TYPE_CHECKING:
    from ..machine import VirtualMachine
    from .path import Path, Pending

_PENDING_CONNECTION = iucv.IPTYPE_PENDING_CONNECTION
_CONNECTION_COMPLETE = iucv.IPTYPE_CONNECTION_COMPLETE
_SEVERED = iucv.IPTYPE_PATH_SEVERED
_QUIESCED = iucv.IPTYPE_PATH_QUIESCED
_RESUMED = iucv.IPTYPE_PATH_RESUMED
_COMPLETE = (iucv.IPTYPE_PRIORITY_MESSAGE_COMPLETE, iucv.IPTYPE_NONPRIORITY_MESSAGE_COMPLETE)
_ARRIVED = (iucv.IPTYPE_PRIORITY_MESSAGE_PENDING, iucv.IPTYPE_NONPRIORITY_MESSAGE_PENDING)
_IPRMDATA, _IPNORPY, _IPPRTY = iucv.IPRMDATA, iucv.IPNORPY, iucv.IPPRTY
_SELECT = iucv.IPFGPID | iucv.IPFGMID | iucv.IPFGMCL
_receive = iucv.receive
_monotonic = time.monotonic
# a VM left idle this long by its program is pumped by the acceptor thread
# of accept_all (the listen backlog), which otherwise keeps out of the way
IDLE_BEFORE_ACCEPTOR = 0.02


def deadline_of(timeout: float | None) -> float | None:
    """The monotonic deadline of ``timeout`` seconds (None: none); a bad
    timeout is a TypeError / ValueError saying so."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be None or a number of seconds, not {type(timeout).__name__}")
    if not timeout >= 0:  # also NaN
        raise ValueError(f"timeout must be None or a number >= 0, not {timeout!r}")
    return _monotonic() + timeout


class Router:
    """The Pythonic layer's state of one VM and the dispatch of its IUCV
    interrupts (see the module's doc)."""

    def __init__(self, vm: "VirtualMachine") -> None:
        if not signals.unhandled_facilities() & (1 << IUCV):
            raise ShmcpError("the Pythonic layer takes IUCV interrupts itself, but a SIGIUCV "
                             "handler is established: remove it (signal.SIG_DFL) first")
        if IUCV not in vm.facility_state:
            iucv.dclbfr(PathPlist())  # the layer's own DECLARE BUFFER
        self.vm = vm
        self.mutex = threading.Lock()
        self.cond = threading.Condition(self.mutex)
        self.pumping = False
        self.sleepers = 0            # threads in cond.wait
        self.fg_used = _monotonic()  # when a program's thread last waited
        self.paths: dict[int, "Path"] = {}
        self.connecting: dict[int, "Path"] = {}
        self.connections: collections.deque[PathPlist] = collections.deque()
        self.inbox: collections.deque[Any] = collections.deque()  # every path's messages
        self.completed: dict[int, Any] = {}         # msgid -> 06/07 nobody claimed yet
        self.pending: dict[int, "Pending"] = {}     # msgid -> send_nowait's Pending
        self.events: collections.deque[Event] | None = None  # once vm.events() asked
        self.other: collections.deque[Any] = collections.deque()  # not IUCV's (VMCF)
        self.accept_policy: tuple[int | None, bool] | None = None
        self.acceptor: threading.Thread | None = None
        self.helpers: list[threading.Thread] = []  # asyncio's sleeper threads (aio.py)
        self.stopped = threading.Event()
        self.watchers: list[Callable[[], None]] = []  # called (mutex held) after each dispatch
        self._rplist = MsgPlist()   # RECEIVE's (the pumper's alone)
        self.reply_plists: list[MsgPlist] = []  # REPLY's and REJECT's, reused

    # -- waiting ------------------------------------------------------------

    def wait_until(self, pred: Callable[[], Any], deadline: float | None) -> Any:
        """pred()'s first true value (asked with ``mutex`` held), pumping
        interrupts meanwhile; TimeoutError at ``deadline``."""
        mutex = self.mutex
        while True:
            with mutex:
                got = pred()
                if got:
                    return got
                if deadline is not None and _monotonic() >= deadline:
                    raise TimeoutError("timed out")
                if self.pumping:
                    self.sleepers += 1
                    try:
                        self.cond.wait(None if deadline is None else deadline - _monotonic())
                    finally:
                        self.sleepers -= 1
                    continue
                self.pumping = True
            self.pump_once(deadline)

    def pump_once(self, deadline: float | None, acceptor: bool = False) -> bool:
        """One wait for the next interrupt (up to ``deadline``) and its
        dispatch, as the pumper (``pumping`` set by the caller; cleared
        here).  True if an interrupt came."""
        try:
            if not acceptor:
                self.fg_used = _monotonic()
            got = self.vm.wait(None if deadline is None else max(0.0, deadline - _monotonic()))
            if got is not None:
                with self.mutex:
                    self.dispatch(got)
            return got is not None
        finally:
            with self.mutex:
                self.pumping = False
                if self.sleepers:
                    self.cond.notify_all()

    # -- dispatch -------------------------------------------------------------

    def dispatch(self, got: Any) -> None:
        """One interrupt into the router's state (mutex held)."""
        itype = got.type if isinstance(got, Iparml) else None
        if itype in _COMPLETE:
            self._on_complete(got)
        elif itype in _ARRIVED:
            self._on_message(got)
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
        else:
            self.other.append(got)  # VMCF's, or a core-level record
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
        path = self.paths.get(got.pathid)
        flags = got.flags1
        size = 8 if flags & _IPRMDATA else got.bf1len
        buf = bytearray(size)
        p = self._rplist
        p.pathid, p.msgid, p.trgcls, p.flags1 = got.pathid, got.msgid, got.trgcls, _SELECT
        p.bf1 = buf
        if _receive(p):  # gone meanwhile (purged): nothing to show
            return
        msg = Message(bytes(buf), path, got.msgid, got.trgcls, flags & _IPPRTY != 0,
                      flags & _IPNORPY != 0, got.pathid, self)
        self.inbox.append(msg)
        if path is not None:
            path._inbox.append(msg)
        if self.events is not None:
            self._event("message_pending", path, msg, raw=got)

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
            path._quiesced = bool(got.flags1 & iucv.IPQUSCE)
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
        iucv.sever(PathPlist(pathid=pathid))  # our end too: the path id is free again
        self._event("path_severed", path, raw=got)

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
        while not stopped.is_set():
            idle = _monotonic() - self.fg_used
            if self.pumping or idle < IDLE_BEFORE_ACCEPTOR:
                stopped.wait(max(IDLE_BEFORE_ACCEPTOR - idle, 0.005))
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
