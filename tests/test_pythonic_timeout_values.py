"""Every call that takes a timeout takes the same values, between real
processes: math.inf, and any timeout longer than LONGEST_TIMEOUT (1e9 s),
waits with no limit as None does; NaN and a negative one are ValueError, a
bool or a str TypeError -- raised before the call does anything (no
CONNECT issued, no message queued, nothing taken).  And connect(wait=True)
with tiny timeouts raises only TimeoutError."""
from __future__ import annotations

import asyncio
import inspect
import math
import time
from typing import Any, Callable, NamedTuple

import pytest

import shmcp
from script_child import serving
from shmcp import iucv
from shmcp.plist import PathPlist
from shmcp.pythonic.timeouts import poll_pause
from shmcp.trace import Tracer

NO_LIMIT = [math.inf, 1e10, 1e300, 10**400]
BAD = [(math.nan, ValueError), (-1, ValueError), (-math.inf, ValueError),
       (True, TypeError), ("1", TypeError)]

# The partner: answers two-way messages in upper case; b"write" first sends
# b"written" back on the path; b"call me" connects to the sender's VM and
# sends b"on my path" there.
SERVER = """
    import shmcp
    vm = shmcp.logon("server")
    vm.accept_all()
    print("READY", flush=True)
    for msg in vm.messages():
        if msg.data == b"call me":
            vm.connect(msg.path.partner, timeout=30).send(b"on my path", one_way=True)
        elif msg.data == b"write":
            msg.path.send(b"written", one_way=True)
            msg.reply(b"wrote")
        elif not msg.one_way:
            msg.reply(msg.data.upper())
    """


class Entry(NamedTuple):
    """A call under test: ``prepare(vm, path)`` arranges what it will find
    (its result is ``ctx``), ``call(vm, path, ctx, timeout)`` makes it,
    ``expect(result)`` asserts what it returned.  Each may return an
    awaitable (the coroutine twins')."""
    prepare: Callable[[Any, Any], Any]
    call: Callable[[Any, Any, Any, Any], Any]
    expect: Callable[[Any], Any]


def _nothing(vm: Any, path: Any) -> None:
    return None


def _written(msg: Any) -> None:
    assert msg.data == b"written"


def _an_event(ev: Any) -> None:
    assert isinstance(ev, shmcp.Event)


def _hi(reply: Any) -> None:
    assert reply == b"HI"


def _none(got: Any) -> None:
    assert got is None


async def _done(got: Any) -> Any:
    """``got``, awaited if it is an awaitable (a coroutine twin's)."""
    return await got if inspect.isawaitable(got) else got


async def _first(it: Any) -> Any:
    """The first item of an iterator or an async iterator."""
    return await it.__anext__() if hasattr(it, "__anext__") else next(it)


async def _drain(it: Any) -> None:
    """Every item of an iterator or an async iterator, dropped."""
    if hasattr(it, "__aiter__"):
        async for _ in it:
            pass
    else:
        list(it)


def _entries(a: str) -> dict[str, Entry]:
    """The calls that take a timeout (``a=""``), or their coroutine twins
    (``a="a"``), by name."""
    def twin(obj: Any, name: str) -> Any:
        return getattr(obj, a + name)

    def a_new_path(p: Any) -> None:
        assert p.partner == "SERVER" and not p.severed
        p.sever()

    async def accepted(p: Any) -> None:
        assert (await _done(twin(p, "receive")(timeout=30))).data == b"on my path"
        a_new_path(p)

    def write(vm: Any, path: Any) -> Any:  # a message from the server
        return twin(path, "send")(b"write")

    async def events_then_write(vm: Any, path: Any) -> None:
        # the messages so far taken (the server's one-way b"written" holds
        # its path's limit until received), the events too, events kept from
        # now on; then a message from the server
        await _drain(twin(vm, "messages")(timeout=0))
        await _drain(twin(vm, "events")(timeout=0))
        assert await _done(write(vm, path)) == b"wrote"

    return {
        a + "connect": Entry(
            _nothing, lambda vm, path, ctx, t: twin(vm, "connect")("server", timeout=t),
            a_new_path),
        a + "connect wait=True": Entry(
            _nothing, lambda vm, path, ctx, t: twin(vm, "connect")("server", timeout=t, wait=True),
            a_new_path),
        a + "accept": Entry(lambda vm, path: twin(path, "send")(b"call me", one_way=True),
                            lambda vm, path, ctx, t: twin(vm, "accept")(timeout=t), accepted),
        a + "send": Entry(_nothing, lambda vm, path, ctx, t: twin(path, "send")(b"hi", timeout=t),
                          _hi),
        a + "send one_way": Entry(
            _nothing, lambda vm, path, ctx, t: twin(path, "send")(b"hi", one_way=True, timeout=t),
            _none),
        "send_nowait, " + a + "result": Entry(
            _nothing,
            lambda vm, path, ctx, t: twin(path.send_nowait(b"hi", timeout=t), "result")(30), _hi),
        a + "result": Entry(lambda vm, path: path.send_nowait(b"hi"),
                            lambda vm, path, pending, t: twin(pending, "result")(timeout=t), _hi),
        "path." + a + "receive": Entry(
            write, lambda vm, path, ctx, t: twin(path, "receive")(timeout=t), _written),
        "vm." + a + "receive": Entry(
            write, lambda vm, path, ctx, t: twin(vm, "receive")(timeout=t), _written),
        "vm." + a + "messages": Entry(
            write, lambda vm, path, ctx, t: _first(twin(vm, "messages")(timeout=t)), _written),
        "vm." + a + "events": Entry(
            events_then_write, lambda vm, path, ctx, t: _first(twin(vm, "events")(timeout=t)),
            _an_event),
    }


ENTRIES = _entries("") | _entries("a")


def _to_server(tracer: Tracer) -> list[str]:
    """The interrupts queued for SERVER since the tracer's last read."""
    return [rec.type for rec in tracer.read()[0] if rec.target == "SERVER"]


async def _each_value(entry: Entry, vm: Any, path: Any, tracer: Tracer) -> None:
    for bad, error in BAD:
        ctx = await _done(entry.prepare(vm, path))
        _to_server(tracer)
        with pytest.raises(error, match="timeout"):
            await _done(entry.call(vm, path, ctx, bad))
        assert _to_server(tracer) == [], f"timeout={bad!r}: something reached the server"
        # what prepare arranged is still there: nothing taken, nothing in flight
        await _done(entry.expect(await _done(entry.call(vm, path, ctx, 30))))
    for endless in NO_LIMIT:
        ctx = await _done(entry.prepare(vm, path))
        await _done(entry.expect(await _done(entry.call(vm, path, ctx, endless))))


@pytest.mark.parametrize("name", ENTRIES)
def test_every_timeout_takes_the_same_values(system, name):
    """inf and huge timeouts wait with no limit; bad ones are rejected
    before anything is done -- for each call, sync and asyncio."""
    with serving(SERVER), shmcp.logon("client") as vm, \
            shmcp.System.attach(system) as s, Tracer(s) as tracer:
        path = vm.connect("server", timeout=30, msglim=1)
        asyncio.run(_each_value(ENTRIES[name], vm, path, tracer))
        assert path.send(b"last", timeout=30) == b"LAST"  # the path still works


def test_the_faithful_wait_takes_the_same_timeouts(system):
    """vm.wait() and vm.events() before the Pythonic layer is used: inf
    and huge timeouts wait with no limit; bad ones are ValueError (this
    layer's contract) and take nothing."""
    with shmcp.logon("client") as vm:
        assert iucv.dclbfr(PathPlist()) == 0
        for bad in (math.nan, -1, True, "1"):
            assert iucv.connect(PathPlist(vmid="client")) == 0  # to itself: an interrupt
            for wait in (lambda: vm.wait(bad), lambda: next(vm.events(bad))):
                with pytest.raises(ValueError, match="timeout must be None or a number >= 0"):
                    wait()
            assert vm.wait(30).type == iucv.IPTYPE_PENDING_CONNECTION
        for endless in NO_LIMIT:
            assert iucv.connect(PathPlist(vmid="client")) == 0
            assert vm.wait(endless).type == iucv.IPTYPE_PENDING_CONNECTION
            assert iucv.connect(PathPlist(vmid="client")) == 0
            assert next(vm.events(endless)).type == iucv.IPTYPE_PENDING_CONNECTION


TINY = [n * 1e-8 for n in range(4000)]  # 0 to 40 us


def test_connect_wait_with_tiny_timeouts_raises_only_timeout_error(system):
    """The deadline passes between connect's try and its sleep: the sleep
    is then 0 and the next try raises TimeoutError (it was a ValueError
    from time.sleep now and then)."""
    with shmcp.logon("client") as vm:
        for timeout in TINY:
            with pytest.raises(TimeoutError):
                vm.connect("absent", wait=True, timeout=timeout)

        async def main() -> None:
            for timeout in TINY[::4]:
                with pytest.raises(TimeoutError):
                    await vm.aconnect("absent", wait=True, timeout=timeout)
        asyncio.run(main())


def test_connect_polls_no_longer_than_what_is_left():
    assert poll_pause(None) > 0
    assert poll_pause(time.monotonic() - 1) == 0
    assert 0 <= poll_pause(time.monotonic() + 1e-6) <= 1e-6


def test_the_pumper_takes_any_deadline(system):
    """The C pumper's wait (router.wait_message) with deadlines no public
    call passes it any more: one past infinity waits with no limit, NaN is
    a ValueError, -inf one look -- never an undefined conversion or an
    error without an exception."""
    with serving(SERVER), shmcp.logon("client") as vm:
        path = vm.connect("server", timeout=30)
        router = vm._layer()
        with pytest.raises(ValueError, match="NaN"):
            router.wait_message(math.nan)
        with pytest.raises(TimeoutError):
            router.wait_message(-math.inf)
        for endless in (math.inf, time.monotonic() + 1e12):
            assert path.send(b"write") == b"wrote"
            assert router.wait_message(endless).data == b"written"
