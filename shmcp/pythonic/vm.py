"""The Pythonic layer's VirtualMachine methods (a mixin of VirtualMachine)."""
from __future__ import annotations

import collections
import time
from typing import TYPE_CHECKING, Any, Iterator

from .._native import lib
from .._native import receive_method as _receive_method
from .._native import take_message as _take_message
from ..errors import ConnectionRefused, NotLoggedOn
from ..plist import PathPlist
from .aio import AsyncVM
from .timeouts import deadline_of, poll_pause

if TYPE_CHECKING:  # the rest of the layer needs shmcp.iucv, which needs machine.py
    from .events import Event
    from .message import Message
    from .path import Path
    from .router import Router

_IPPRTY = lib.SHMCP_IPPRTY
_MSGLIM_MAX = lib.SHMCP_MSGLIM_MAX


def _msglim(msglim: Any, default: int) -> int:
    if msglim is None:
        return default
    if isinstance(msglim, bool) or not isinstance(msglim, int):
        raise TypeError(f"msglim must be None or an int, not {type(msglim).__name__}")
    if not 1 <= msglim <= _MSGLIM_MAX:
        raise ValueError(f"msglim must be 1 .. {_MSGLIM_MAX}, not {msglim}")
    return msglim


def user_bytes(value: Any, name: str, size: int) -> bytes:
    """IPUSER-like data: bytes, or a str of ASCII, of at most ``size`` bytes."""
    if isinstance(value, str):
        if not value.isascii():
            raise ValueError(f"{name} {value!r} is not ASCII; give bytes for other data")
        value = value.encode("ascii")
    if not isinstance(value, (bytes, bytearray)):
        raise TypeError(f"{name} must be bytes or str, not {type(value).__name__}")
    if len(value) > size:
        raise ValueError(f"{name} is {len(value)} bytes; at most {size}")
    return bytes(value)


class PythonicVM(AsyncVM):
    """connect, accept, accept_all, receive, messages, paths: the Pythonic
    layer on a VirtualMachine (docs/pythonic.md)."""

    _router: Router | None = None

    def _layer(self) -> Router:
        """The VM's router, made (and IUCV declared) on first use."""
        router = self._router
        if not self.logged_on:  # type: ignore[attr-defined]
            # (also once it logged off: its router would act for the VM this
            # process logged on as next)
            who = self.userid  # type: ignore[attr-defined]
            raise NotLoggedOn(f"{who} is not logged on (this VirtualMachine was logged off); "
                              f"shmcp.logon() makes a new one")
        if router is None:
            from .router import Router
            router = self._router = Router(self)  # type: ignore[arg-type]
            self.events_source = self._pythonic_events  # vm.events() shows its Events
        return router

    def _stop_layer(self) -> None:
        """Before LOGOFF: the layer's own thread ends, and every Path of the
        VM is severed with it (LOGOFF severs them in CP): a Path kept
        after LOGOFF raises PathSevered instead of acting for whatever VM
        this process logs on as next."""
        if self._router is not None:
            self._router.end_at_logoff(self.userid)  # type: ignore[attr-defined]

    def connect(self, userid: str | bytes, *, pgm: Any = None, user: Any = b"",
                msglim: int | None = None, priority: bool = False, timeout: float | None = None,
                wait: bool = False) -> Path:
        """CONNECT to ``userid`` and return the Path once the target has
        accepted.  ``msglim`` (None: the most the directory allows, up to
        255), ``priority`` (ask for priority messages), ``pgm`` / ``user``
        (IPUSER: with ``pgm`` the program name routed on and 8 bytes of
        user data, else 16 bytes of user data).  ``wait=True`` waits for
        the target to log on and declare, up to ``timeout``, instead of
        raising NotLoggedOn / ConnectionRefused (rc 12) at once.  Raises
        NotAuthorized, ConnectionRefused, TimeoutError."""
        deadline = deadline_of(timeout)  # (checked before anything is done)
        router = self._layer()
        plist, uid, partner = self._connect_request(userid, pgm, user, msglim, priority)
        while (path := self._connect_attempt(router, plist, uid, priority, wait, deadline,
                                             partner)) is None:
            time.sleep(poll_pause(deadline))
        try:
            router.wait_until(lambda: path._state != "connecting", deadline)
        except TimeoutError:
            path.sever()  # gave up: the pending connection goes
            raise TimeoutError(f"connect: {partner} did not accept the connection "
                               f"within {timeout} seconds") from None
        except BaseException:
            path.sever()  # (Ctrl-C) the same
            raise
        return self._connected(path, partner)

    def _connect_request(self, userid: Any, pgm: Any, user: Any, msglim: Any,
                         priority: bool) -> tuple[PathPlist, bytes, str]:
        """CONNECT's parameter list, the target's userid (8 bytes) and name."""
        from ..machine import userid_bytes
        uid = userid_bytes(userid)
        plist = PathPlist(vmid=uid, msglim=_msglim(msglim, _MSGLIM_MAX),
                          flags1=_IPPRTY if priority else 0)
        if pgm is not None:
            plist.pgm = user_bytes(pgm, "pgm", 8).ljust(8)
            plist.user = user_bytes(user, "user", 8)
        else:
            plist.ipuser = user_bytes(user, "user", 16)
        return plist, uid, uid.decode().rstrip()

    def _connect_attempt(self, router: Router, plist: PathPlist, uid: bytes, priority: bool,
                         wait: bool, deadline: float | None, partner: str) -> Path | None:
        """One CONNECT: the connecting Path, or None to try again later
        (``wait`` and the target not there yet); raises otherwise."""
        from .. import iucv
        from .path import Path
        from .router import raise_for
        with router.mutex:  # so the 02 finds the path registered
            if not iucv.connect(plist):
                path = Path(router, plist.pathid, uid, plist.msglim, priority, "connecting")
                router.connecting[path.pathid] = path
                return path
        rc = plist.rcode
        if wait and rc in (11, 12):
            if deadline is not None and deadline - time.monotonic() <= 0:
                raise TimeoutError(f"connect: {partner} did not log on and declare in time")
            return None
        raise_for(rc, "connect", partner)
        return None  # not reached

    @staticmethod
    def _connected(path: Path, partner: str) -> Path:
        """The Path of a connect whose wait ended."""
        if path._state == "severed":
            raise ConnectionRefused(f"connect: {partner} severed the pending connection")
        return path

    def accept(self, timeout: float | None = None, *, msglim: int | None = None,
               priority: bool = False) -> Path:
        """ACCEPT the next pending connection (waiting up to ``timeout``);
        ``msglim=None`` keeps the connector's."""
        deadline = deadline_of(timeout)
        router = self._layer()
        lim = None if msglim is None else _msglim(msglim, 0)
        connections = router.connections

        def take() -> Path | None:
            while connections:
                path = router.accept_now(connections.popleft(), lim, bool(priority))
                if path is not None:
                    return path
            return None
        return router.wait_until(take, deadline)

    def accept_all(self, *, msglim: int | None = None, priority: bool = False) -> None:
        """Accept every pending connection from now on (the accept-all
        policy), also while the program is busy elsewhere: each Path is
        then found in ``vm.paths`` and as ``msg.path``."""
        router = self._layer()
        lim = None if msglim is None else _msglim(msglim, 0)
        with router.mutex:
            router.accept_policy = (lim, bool(priority))
            while router.connections:
                router.accept_now(router.connections.popleft(), lim, bool(priority))
        router.start_acceptor()

    @property
    def paths(self) -> list[Path]:
        """The VM's paths of the Pythonic layer that are complete and not severed."""
        router = self._router
        if router is None:
            return []
        # under the mutex: an ACCEPT the partner has already seen complete is
        # recorded before this returns (the acceptor holds it from ACCEPT on)
        with router.mutex:
            return list(router.paths.values())

    def receive(self, timeout: float | None = None) -> Message:
        """The next message of any path (waiting up to ``timeout``:
        TimeoutError); never raises for one severed path."""
        deadline = deadline_of(timeout)
        router = self._router or self._layer()
        inbox = router.inbox
        if inbox:  # taken already (a batch): no wait
            router.fg_waits += 1  # the acceptor keeps out of the way
            mutex = router.mutex
            mutex.acquire()  # (not ``with``: its __exit__ makes a tuple)
            try:
                msg = _take_message(inbox, inbox)  # router.take(inbox), in C
            finally:
                mutex.release()
            if msg is not None:
                return msg
        return router.wait_message(deadline)

    def messages(self, timeout: float | None = None) -> Iterator[Message]:
        """Every path's messages as they come; stops when none came for
        ``timeout`` seconds (None: never)."""
        while True:
            try:
                yield self.receive(timeout)
            except TimeoutError:
                return

    def _pythonic_events(self, timeout: float | None) -> Iterator[Event]:
        """vm.events() once the Pythonic layer is in use: Events, recorded
        from the first call on -- the call itself, not the first next(), so
        that what comes between the two is not missed."""
        deadline_of(timeout)  # checks it before events are kept
        router = self._layer()
        if router.events is None:
            with router.mutex:
                if router.events is None:
                    router.events = collections.deque()
        return _recorded_events(router, router.events, timeout)


def _recorded_events(router: Router, events: collections.deque, timeout: float | None
                     ) -> Iterator[Event]:
    """The Events the router records, as they come; stops when none came
    for ``timeout`` seconds (None: never)."""
    while True:
        try:
            yield router.wait_until(lambda: events.popleft() if events else None,
                                    deadline_of(timeout))
        except TimeoutError:
            return


def _attach() -> None:
    """Give VirtualMachine the layer's methods, and stop the layer's thread
    before LOGOFF (machine.py names no layer above it)."""
    from ..machine import VirtualMachine, before_logoff
    for cls in reversed(PythonicVM.__mro__[:-1]):  # AsyncVM's twins too
        for name, value in vars(cls).items():
            if not name.startswith("__"):
                setattr(VirtualMachine, name, value)
    # receive's common case (a message in the inbox) in C; the rest is PythonicVM.receive's
    setattr(VirtualMachine, "receive", _receive_method(PythonicVM.receive))
    before_logoff.append(PythonicVM._stop_layer)  # type: ignore[arg-type]


_attach()

__all__ = ["PythonicVM"]
