"""The Pythonic layer's coroutine twins: ``await vm.aconnect(...)``,
``await path.asend(...)``, ``async for msg in vm.amessages()`` ...

They run on the standard asyncio event loop.  One ``LoopPump`` per
(VM, loop) takes the VM's interrupts for the coroutines that wait, in
two phases (bench/NOTES.md has the figures that chose them):

* hot: while coroutines wait, the loop itself pumps the router
  (``Router.pump_once``) from a callback it schedules for itself: a bare
  poll when other callbacks are ready, else one core wait of up to
  SPIN seconds -- the core spins in it while the doorbell rule allows
  (no more running VMs than cores), else sleeps on the doorbell.  A reply
  that comes within the window costs no wake-up at all;
* cold: when nothing came in the window, the loop goes back to its
  selector and one sleeper thread per pump waits in the core instead,
  waking the loop (``call_soon_threadsafe``) on the next interrupt and
  handing the pumping back.

Coroutines wait on futures the pump wakes after each dispatch (any
thread's: the router's ``watchers``); each then asks its own question of
the router's state on the loop thread, so what it takes is never lost to
a cancellation: a message taken is returned by the same step that took it.
Before any future, a coroutine that finds the loop with nothing else ready
pumps in its own step (``LoopPump.take_now``): a reply or message that
comes within the window costs no future and no loop iteration.
"""
from __future__ import annotations

import asyncio
import threading
import time
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, NoReturn

from ..errors import MessageLimitExceeded, NotLoggedOn, PathQuiesced, PathSevered, SystemDown
from .timeouts import deadline_of, poll_pause

if TYPE_CHECKING:
    import collections
    from typing import Iterator

    from ..plist import PathPlist
    from .events import Event
    from .message import Message
    from .path import Path
    from .router import Router

# the hot phase's core wait when the loop has nothing else to do: the
# core's own spin window (spin_us, default 50 us) -- a round trip of the
# layer fits in it, and the doorbell rule still decides whether it spins
SPIN = 50e-6
# ... and when the loop waits on nothing but the core (no file descriptor
# registered but its own wake-up pipe): up to this long, or to its next
# timer -- the doorbell then wakes the loop's thread directly, one hop
# instead of the sleeper's two; a call_soon_threadsafe from another thread
# waits at most this long
ALONE = 0.002
# the sleeper thread's core waits: short, so it notices LOGOFF and a
# closed loop
SLEEPER_WAIT = 0.02
# take_now's pumps at most (each ends at an interrupt, or its window)
TAKE_NOW_PUMPS = 4
_monotonic = time.monotonic
_running_loop = asyncio.get_running_loop
# what a wait raises once its VM ended (LOGOFF, FORCE, the system shut down)
VM_ENDED = (NotLoggedOn, SystemDown)


# bound by _bind_late on the first pump_of (path.py imports this module)
_outcome: Callable[[Any, bytearray], bytes]


def _bind_late() -> None:
    """The names of a module that imports this one (path.py)."""
    global _outcome
    from .path import outcome
    _outcome = outcome


def _now_or_none(call: Callable[[float], Any]) -> Any:
    """``call(0)`` -- a sync receive/accept that never pumps -- or None
    if it timed out (nothing there yet)."""
    try:
        return call(0)
    except TimeoutError:
        return None


class LoopPump:
    """The bridge between one VM's router and one asyncio loop."""

    def __init__(self, router: "Router", loop: asyncio.AbstractEventLoop) -> None:
        self.router = router
        self.loop = loop
        self.thread_id = threading.get_ident()
        self.waiters: list[asyncio.Future] = []   # woken after every dispatch
        self.awaited: set[asyncio.Future] = set()  # every future a coroutine awaits
        self.outstanding = 0       # coroutines waiting on the router now
        self.scheduled = False     # _drive is in the loop's ready queue
        self.wake_queued = False   # a _wake is on its way from another thread
        self.handoff = threading.Event()  # the sleeper thread pumps while set
        self.sleeper: threading.Thread | None = None
        self.closed = False        # detached: its loop closed
        self.ended: BaseException | None = None  # the VM ended: every wait raises it
        # BaseEventLoop's queue of ready callbacks, timers and selector
        # (private; a loop without them gets the plain SPIN window): the hot
        # phase only waits when nothing is ready, and waits longer when
        # nothing else can wake the loop
        self._ready = getattr(loop, "_ready", None)
        self._scheduled = getattr(loop, "_scheduled", None)
        selector = getattr(loop, "_selector", None)
        self._fds = selector.get_map() if selector is not None else None
        router.watchers.append(self._dispatched)

    # -- waking the coroutines --------------------------------------------------

    def _dispatched(self) -> None:
        """The router's watcher (mutex held, any thread)."""
        if self.loop.is_closed():  # nobody waits on it any more
            self.close()
        elif threading.get_ident() == self.thread_id:
            self._wake()
        elif not self.wake_queued:
            self.wake_queued = True
            try:
                self.loop.call_soon_threadsafe(self._wake)
            except RuntimeError:  # closed meanwhile
                self.wake_queued = False
                self.close()

    def _wake(self) -> None:
        self.wake_queued = False
        waiters, self.waiters = self.waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def notify(self, fut: asyncio.Future) -> None:
        """Wake one future (from any thread): a Pending's completion."""
        if self.loop.is_closed():
            return
        if threading.get_ident() == self.thread_id:
            if not fut.done():
                fut.set_result(None)
        else:
            try:
                self.loop.call_soon_threadsafe(_set_if_pending, fut)
            except RuntimeError:
                pass

    # -- waiting ------------------------------------------------------------------

    async def wait_for(self, fut: asyncio.Future, deadline: float | None,
                       pumped: bool = False) -> None:
        """Await ``fut`` while the pump runs; TimeoutError at ``deadline``.
        ``pumped``: this step pumped already (take_now): no second window."""
        self.outstanding += 1
        self.awaited.add(fut)
        try:
            if not pumped and not self.scheduled and not self._ready:
                # the loop has nothing else to do: pump now, in this step
                self._pump(False, deadline, own=True)
            if not fut.done():
                self._kick()
                timer = None
                if deadline is not None:
                    timer = self.loop.call_later(max(0.0, deadline - _monotonic()),
                                                 _time_out, fut)
                try:
                    await fut
                finally:
                    if timer is not None:
                        timer.cancel()
        finally:
            self.outstanding -= 1
            self.awaited.discard(fut)
        got = fut.result()  # (a completion that came first is the caller's)
        if got is _ENDED:
            raise self.ended  # type: ignore[misc]
        if got.__class__ is _Interrupted:
            raise got.exc

    async def until(self, pred: Callable[[], Any], deadline: float | None,
                    pumped: bool = False) -> Any:
        """pred()'s first true value (asked on the loop thread after each
        dispatch; pred takes the router's mutex itself if it needs it);
        TimeoutError at ``deadline``.  ``pumped``: as for wait_for, the
        first time."""
        looked = False  # a deadline already past still gets one look
        while True:
            got = pred()
            if got:
                return got
            if looked and deadline is not None and _monotonic() >= deadline:
                raise TimeoutError("timed out")
            if not looked and self.router.acceptor_pumping:
                # (the asyncio twin of wait_until's first look: a thread
                # of the router's, briefly, not the loop's own pump)
                self.router.wait_out_acceptor()
                looked, pumped = True, False
                continue
            looked = True
            fut = self.loop.create_future()
            self.waiters.append(fut)
            try:
                await self.wait_for(fut, deadline, pumped)
            except TimeoutError:
                pass  # pred is asked once more, then the deadline raises
            except VM_ENDED as ended:  # what LOGOFF filed (a path severed) may answer
                # (not judged by vm.logged_on: the layer fails the pump in
                # LOGOFF's hook, before the VM counts as logged off)
                try:
                    got = pred()
                except VM_ENDED:  # (the VM's own call: the first word on its end)
                    raise ended from None
                if not got:
                    raise
                return got
            pumped = False

    def take_now(self, take: Callable[[], Any], there: Callable[[], Any],
                 deadline: float | None) -> Any:
        """What ``take()`` (asked with the router's mutex held) gives, at
        once if ``there()`` (a peek without the mutex) says it may be there
        already (another thread took it in), else once this step pumped,
        while the loop has nothing else ready (no other callback, as
        wait_for's own pump): the reply or message that comes within the
        window needs no future.  None if it did not come (or the loop has
        other work): the caller then awaits, with ``pumped=True``."""
        mutex = self.router.mutex
        if there():
            with mutex:
                got = take()
            if got:
                return got
        if self.scheduled or self._ready:
            return None
        self.outstanding += 1
        try:
            for _ in range(TAKE_NOW_PUMPS):
                if not self._pump(False, deadline, own=True):
                    break  # the window passed, or a thread pumps
                with mutex:
                    got = take()
                if got or self._ready:  # (a dispatch woke another coroutine)
                    return got
        finally:
            self.outstanding -= 1
        if self.ended is not None:
            raise self.ended
        return None

    # -- pumping --------------------------------------------------------------

    def _kick(self) -> None:
        if not self.scheduled and not self.closed:
            self.scheduled = True
            self.loop.call_soon(self._drive)

    def _drive(self) -> None:
        """The hot phase, as a callback of the loop: pumps while coroutines
        wait, then hands over to the sleeper."""
        self.scheduled = False
        busy = bool(self._ready)
        got = self._pump(busy)
        if got or busy:
            # only while a coroutine still waits: one this dispatch woke
            # pumps in its own step next (take_now), which a _drive
            # queued behind it would stop
            if any(not fut.done() for fut in self.awaited):
                self._kick()
        elif got is not None:
            self._sleep()

    def _pump(self, busy: bool, deadline: float | None = None,
              own: bool = False) -> bool | None:
        """One pump from the loop thread: a poll if ``busy`` (other
        callbacks are ready), else a core wait of up to the window (see
        SPIN, ALONE; no later than ``deadline``).  Whether an interrupt
        came; None if there was nothing to do or a thread pumps (the
        sleeper then follows it).  ``own``: a coroutine's own step pumps,
        and an exception of the wait (a signal handler's) is raised to it,
        as a blocking call's wait raises it; from ``_drive`` it goes to
        every coroutine waiting then, once."""
        if not self.outstanding or self.closed:
            return None
        router = self.router
        mutex = router.mutex
        with mutex:
            if router.pumping:  # a thread is in the core's wait: its dispatch wakes us
                self._sleep()
                return None
            router.pumping = True
            router.fg_waits += 1  # the program waits: accept_all's thread keeps out
        try:
            window = 0.0 if busy else self._window()
            if deadline is not None:
                window = max(0.0, min(window, deadline - _monotonic()))
            return router.pump_once(_monotonic() + window)
        except Exception as exc:
            if not router.vm.logged_on:  # the VM ended: every waiter learns it, for good
                self._vm_ended(exc)
                return None
            if own:
                self._kick()  # (the others' pumping goes on)
                raise
            self._interrupt(exc)
            return None

    def _window(self) -> float:
        """How long the idle loop waits in the core (see SPIN, ALONE)."""
        fds, timers = self._fds, self._scheduled
        if fds is None or timers is None or len(fds) > 1:
            return SPIN
        if not timers:
            return ALONE
        return max(SPIN, min(ALONE, timers[0].when() - self.loop.time()))

    def _sleep(self) -> None:
        """The cold phase: the sleeper thread waits in the core."""
        if self.sleeper is None or not self.sleeper.is_alive():
            self.sleeper = threading.Thread(target=self._sleeper, name="shmcp-asyncio",
                                            daemon=True)
            self.router.helpers.append(self.sleeper)
            self.sleeper.start()
        self.handoff.set()

    def _sleeper(self) -> None:
        router, handoff, stopped = self.router, self.handoff, self.router.stopped
        while not stopped.is_set() and not self.closed:
            if not handoff.wait(SLEEPER_WAIT):
                if self.loop.is_closed():  # (asyncio.run returned): the pump detaches
                    with router.mutex:
                        self.close()
                    return
                continue
            if not self.outstanding:
                handoff.clear()
                continue
            with router.mutex:
                if router.pumping:  # a program thread pumps: follow it
                    router.sleepers += 1
                    try:
                        router.cond.wait(SLEEPER_WAIT)
                    finally:
                        router.sleepers -= 1
                    continue
                router.pumping = True
                router.fg_waits += 1
            try:
                got = router.pump_once(_monotonic() + SLEEPER_WAIT)
            except Exception as exc:  # the VM ended (FORCE, shutdown, LOGOFF), or worse
                ending = self._vm_ended if not router.vm.logged_on else self._interrupt
                try:
                    self.loop.call_soon_threadsafe(ending, exc)
                except RuntimeError:  # the loop is closed: nobody waits on it
                    pass
                return
            if got:  # back to the loop's hot phase
                handoff.clear()
                try:
                    self.loop.call_soon_threadsafe(self._kick)
                except RuntimeError:
                    return

    def _vm_ended(self, exc: BaseException) -> None:
        """On the loop thread: the VM ended under the pump (``exc`` says
        how).  Unless LOGOFF's hook ran (an in-process logoff), the router
        ends what it holds as at LOGOFF (FORCE, or a shutdown by another
        process: its paths severed, messages in flight complete with
        PathSevered), then every coroutine waiting raises ``exc`` (the
        first word: end_at_logoff's own reaches _fail later, queued)."""
        self.router.end_when_lost()
        self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        """The VM ended (``exc`` says how, unless an earlier word did):
        every coroutine waiting on the router raises it, and every later
        wait."""
        if self.ended is None:
            self.ended = exc
        for fut in list(self.awaited):
            if not fut.done():
                fut.set_result(_ENDED)

    def _interrupt(self, exc: BaseException) -> None:
        """An exception of the pump's wait that did not end the VM (a
        signal handler's): each coroutine waiting now raises it, once."""
        got = _Interrupted(exc)
        for fut in list(self.awaited):
            if not fut.done():
                fut.set_result(got)

    def _fail_threadsafe(self, exc: BaseException) -> None:
        try:
            self.loop.call_soon_threadsafe(self._fail, exc)
        except RuntimeError:
            pass

    def close(self) -> None:
        """Detach from the router (mutex held): the loop closed, and
        nothing touches it again; the blocking calls' batching is back."""
        self.closed = True
        self.handoff.set()
        router = self.router
        # a new list: dispatch may be walking the old one (this is its watcher)
        router.watchers = [w for w in router.watchers if w != self._dispatched]
        pumps = router.loop_pump
        if pumps is not None:
            pumps.drop(self)


class LoopPumps:
    """The loop pumps of one router (``router.loop_pump``): one per event
    loop that uses the VM, each woken by every dispatch; LOGOFF's hook
    fails them all."""

    __slots__ = ("by_loop", "last")

    def __init__(self) -> None:
        self.by_loop: dict[asyncio.AbstractEventLoop, LoopPump] = {}
        self.last: LoopPump | None = None  # pump_of's first guess

    def drop(self, pump: LoopPump) -> None:
        """Forget ``pump`` (mutex held)."""
        if self.by_loop.get(pump.loop) is pump:
            del self.by_loop[pump.loop]
        if self.last is pump:
            self.last = None

    def _fail_threadsafe(self, exc: BaseException) -> None:
        for pump in list(self.by_loop.values()):
            pump._fail_threadsafe(exc)


# what _fail wakes a future with (any other wake is a completion or a dispatch)
_ENDED = object()


class _Interrupted:
    """What _interrupt wakes a future with: the exception to raise."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _set_if_pending(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_result(None)


def _time_out(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError("timed out"))


class AsyncReply:
    """What waits in ``router.pending`` for an asend's completion (the
    router calls ``_complete``, mutex held, in the dispatching thread)."""

    __slots__ = ("pump", "fut", "got", "_path")

    def __init__(self, pump: LoopPump, path: "AsyncPath") -> None:
        self.pump = pump
        self.fut = pump.loop.create_future()
        self.got: Any = None
        self._path = path  # this end's SEVER completes it (Router.end_waits)

    def _complete(self, got: Any) -> None:
        self.got = got
        self.pump.notify(self.fut)


def pump_of(router: "Router") -> LoopPump:
    """The router's pump for the running loop (made on first use)."""
    loop = _running_loop()
    pumps = router.loop_pump
    pump = None if pumps is None else pumps.last
    if pump is not None and pump.loop is loop:
        return pump
    if "_outcome" not in globals():
        _bind_late()
    with router.mutex:
        pumps = router.loop_pump
        if pumps is None:
            pumps = router.loop_pump = LoopPumps()
        pump = pumps.by_loop.get(loop)
        if pump is None:
            for other in list(pumps.by_loop.values()):
                if other.loop.is_closed():  # (no dispatch found it closed yet)
                    other.close()
            pump = pumps.by_loop[loop] = LoopPump(router, loop)
        pumps.last = pump
    return pump


# -- the twins, as mixins of the sync classes ------------------------------------------

class AsyncVM:
    """The coroutine twins of a VirtualMachine's Pythonic calls."""

    __slots__ = ()

    if TYPE_CHECKING:  # what the sync class provides (vm.py's PythonicVM)
        def _layer(self) -> Router: ...
        def _connect_request(self, userid: Any, pgm: Any, user: Any, msglim: Any,
                             priority: bool) -> tuple[PathPlist, bytes, str]: ...
        def _connect_attempt(self, router: Router, plist: PathPlist, uid: bytes,
                             priority: bool, wait: bool, deadline: float | None,
                             partner: str) -> Path | None: ...
        @staticmethod
        def _connected(path: Path, partner: str) -> Path: ...
        def accept(self, timeout: float | None = None, *, msglim: int | None = None,
                   priority: bool = False) -> Path: ...
        def receive(self, timeout: float | None = None) -> Message: ...
        def _pythonic_events(self, timeout: float | None) -> Iterator[Event]: ...

    async def aconnect(self, userid: str | bytes, *, pgm: Any = None, user: Any = b"",
                       msglim: int | None = None, priority: bool = False,
                       timeout: float | None = None, wait: bool = False) -> "Path":
        """``connect``'s twin: the Path once the target accepted."""
        deadline = deadline_of(timeout)
        router = self._layer()
        plist, uid, partner = self._connect_request(
            userid, pgm, user, msglim, priority)
        while (path := self._connect_attempt(router, plist, uid, priority,
                                             wait, deadline, partner)) is None:
            await asyncio.sleep(poll_pause(deadline))
        pump = pump_of(router)
        try:
            await pump.until(lambda: path._state != "connecting", deadline)
        except BaseException:
            path.sever()  # gave up (timeout, cancelled): the pending connection goes
            raise
        return self._connected(path, partner)

    async def aaccept(self, timeout: float | None = None, *, msglim: int | None = None,
                      priority: bool = False) -> "Path":
        """``accept``'s twin."""
        deadline = deadline_of(timeout)
        accept = self.accept
        return await pump_of(self._layer()).until(
            lambda: _now_or_none(lambda t: accept(t, msglim=msglim, priority=priority)),
            deadline)

    async def areceive(self, timeout: float | None = None) -> "Message":
        """``receive``'s twin: the next message of any path."""
        deadline = deadline_of(timeout)
        router = self._layer()
        pump = pump_of(router)
        inbox = router.inbox
        msg = pump.take_now(lambda: router.take(inbox), lambda: inbox, deadline)
        if msg is not None:
            return msg
        receive = self.receive
        return await pump.until(  # (a peek first: an empty inbox costs no raise)
            lambda: inbox and _now_or_none(receive), deadline, True)

    async def amessages(self, timeout: float | None = None) -> AsyncIterator["Message"]:
        """``messages``' twin: ends when none came for ``timeout`` seconds."""
        while True:
            try:
                msg = await self.areceive(timeout)
            except TimeoutError:
                return
            yield msg

    async def aevents(self, timeout: float | None = None) -> AsyncIterator["Event"]:
        """``events``' twin (the Pythonic layer's Events): ends when none
        came for ``timeout`` seconds."""
        deadline_of(timeout)  # checks it
        router = self._layer()
        pump = pump_of(router)
        events = self._pythonic_events
        while True:
            try:
                ev = await pump.until(lambda: next(events(0), None), deadline_of(timeout))
            except TimeoutError:
                return
            yield ev


class AsyncPath:
    """The coroutine twins of a Path's blocking calls."""

    __slots__ = ()

    if TYPE_CHECKING:  # what the sync class provides (path.py's Path)
        _router: Router
        _state: str
        _completions: int
        _resumes: int
        _severed_here: bool
        _inbox: collections.deque[Message]

        def _receive_here(self) -> collections.deque[Message]: ...

        def _reply_of(self, msgid: int) -> Any: ...
        _spares: list[bytearray]

        def _queue(self, data: Any, one_way: bool, priority: bool, trgcls: int, srccls: int,
                   msgtag: int, reply_size: int | None, deadline: float | None,
                   block: bool) -> tuple[int, bytearray | None]: ...
        def _purge(self, msgid: int, srccls: int) -> None: ...
        def _ended_by_logoff(self, what: str) -> NoReturn: ...
        def receive(self, timeout: float | None = None) -> Message: ...

    async def asend(self, data: Any, *, one_way: bool = False, priority: bool = False,
                    trgcls: int = 0, srccls: int = 0, msgtag: int = 0,
                    reply_size: int | None = None, timeout: float | None = None,
                    block: bool = True) -> bytes | None:
        """``send``'s twin.  Many may be in flight on one path (up to its
        msglim; more wait for a completion).  On TimeoutError or
        cancellation a message not yet answered is purged (withdrawn from
        the target, which never sees it or can no longer answer it); one
        answered just as the caller gave up is complete, its reply
        dropped."""
        deadline = deadline_of(timeout)
        router = self._router
        pump = pump_of(router)  # (binds _outcome on first use)
        try:
            msgid, answer = self._queue(data, one_way, priority, trgcls,
                                        srccls, msgtag, reply_size, None, False)
        except (MessageLimitExceeded, PathQuiesced):
            if not block:
                raise
            msgid, answer = await self._aqueue(
                pump, data, one_way, priority, trgcls, srccls, msgtag, reply_size, deadline)
        if answer is None:
            return None
        completed = router.completed
        try:
            got = pump.take_now(lambda: self._reply_of(msgid),
                                lambda: msgid in completed or self._severed_here, deadline)
        except PathSevered:  # this end severed the path meanwhile: nothing to purge
            raise
        except VM_ENDED:
            self._ended_by_logoff("send")
        except BaseException:  # (a signal handler's, in the wait): withdrawn, as on timeout
            self._purge(msgid, srccls)
            raise
        pumped = got is None
        if got is None:
            with router.mutex:
                got = self._reply_of(msgid)  # (PathSevered if this end severed it)
                if got is None:
                    reply = router.pending[msgid] = AsyncReply(pump, self)
        if got is None:
            try:
                await pump.wait_for(reply.fut, deadline, pumped)
            except BaseException as exc:  # TimeoutError, CancelledError, the VM ended
                with router.mutex:
                    router.pending.pop(msgid, None)
                if reply.got is None:
                    if isinstance(exc, VM_ENDED):  # nothing to purge: LOGOFF ended it
                        self._ended_by_logoff("send")
                    self._purge(msgid, srccls)
                raise
            got = reply.got
        try:
            return _outcome(got, answer)
        finally:  # only once read: another thread may take it at once
            spares = self._spares
            if reply_size is None and len(spares) < 4:
                spares.append(answer)

    async def _aqueue(self, pump: LoopPump, data: Any, one_way: bool, priority: bool,
                      trgcls: int, srccls: int, msgtag: int, reply_size: int | None,
                      deadline: float | None) -> tuple[int, bytearray | None]:
        """Path._queue, awaiting (not blocking) while the path is at its
        limit or quiesced."""
        while True:
            completions, resumes = self._completions, self._resumes
            try:
                return self._queue(data, one_way, priority, trgcls,
                                   srccls, msgtag, reply_size, None, False)
            except MessageLimitExceeded:
                await pump.until(lambda: self._completions != completions
                                 or self._state != "active", deadline)
            except PathQuiesced:
                await pump.until(lambda: self._resumes != resumes
                                 or self._state != "active", deadline)

    async def areceive(self, timeout: float | None = None) -> "Message":
        """``receive``'s twin: the next message on this path; PathSevered
        once it is severed and empty."""
        deadline = deadline_of(timeout)
        router, inbox = self._router, self._receive_here()
        pump = pump_of(router)
        if self._state != "severed":  # (severed: receive says so at once)
            try:
                msg = pump.take_now(lambda: router.take(inbox), lambda: inbox, deadline)
            except VM_ENDED:  # LOGOFF by another thread (or FORCE): it ended the path
                self._ended_by_logoff("receive")
            if msg is not None:
                return msg
        receive = self.receive
        return await pump.until(
            lambda: (inbox or self._state == "severed")
            and _now_or_none(receive), deadline, True)

    def __aiter__(self) -> AsyncIterator["Message"]:
        """``async for msg in path``: its messages until severed and empty."""
        return self._amessages()

    async def _amessages(self) -> AsyncIterator["Message"]:
        while True:
            try:
                msg = await self.areceive()
            except PathSevered:
                return
            yield msg


class AsyncPending:
    """The coroutine twin of Pending.result."""

    __slots__ = ()

    if TYPE_CHECKING:  # what the sync class provides (path.py's Pending)
        _path: Path
        _answer: bytearray | None
        _got: Any
        _done: bool

        def add_done_callback(self, callback: Any) -> None: ...

    async def aresult(self, timeout: float | None = None) -> bytes | None:
        """``result``'s twin: TimeoutError or cancellation leave the
        message in flight (``result`` can still take it)."""
        deadline = deadline_of(timeout)
        if self._answer is None:
            return None
        if not self._done:
            pump = pump_of(self._path._router)
            fut = pump.loop.create_future()
            self.add_done_callback(lambda _p: pump.notify(fut))
            await pump.wait_for(fut, deadline)
        elif "_outcome" not in globals():  # (done before any pump_of)
            _bind_late()
        return _outcome(self._got, self._answer)


__all__ = ["AsyncPath", "AsyncPending", "AsyncVM", "LoopPump", "SPIN"]
