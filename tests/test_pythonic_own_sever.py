"""A path this end severs, its partner severs, or whose VM another thread
logs off: every call waiting on it ends with PathSevered, saying who ended
it; what was announced on it stays receivable only when the partner
severed.  The test process is the client VM, a child the server."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

import shmcp
from script_child import line, serving, tell
from shmcp.testing import eventually
from test_logoff_threads import DELAYS, SILENT_SERVER, kinds, run_client

# A partner that, told so, sends on its one path two one-way messages and a
# two-way one, says SENT, and says what its two-way send got once the line
# "RESULT" comes; or, told "SEVER", severs after the one-way ones.
PUSHER = """
    import shmcp
    vm = shmcp.logon("server")
    vm.accept_all()
    print("READY", flush=True)
    how = input()
    (path,) = vm.paths
    path.send(b"m1", one_way=True)
    path.send(b"m2", one_way=True)
    if how == "SEVER":
        path.sever()
        print("SEVERED", flush=True)
    else:
        pending = path.send_nowait(b"q")
        print("SENT", flush=True)
        input()
        try:
            print("REPLY", pending.result(timeout=60), flush=True)
        except shmcp.PathSevered as exc:
            print("PathSevered", exc, flush=True)
    input()
    """

# a hang guard for a wait that must end, never a measure of how fast
WITHIN = 60.0


@pytest.fixture
def silent(system):
    with serving(SILENT_SERVER) as proc:  # SRV: takes nothing
        yield proc


def in_thread(call):
    """``call()`` in a daemon thread; what it got, ["returned"] or
    [exception], once done."""
    got: list = []

    def run():
        try:
            call()
            got.append("returned")
        except BaseException as exc:  # noqa: BLE001 (the test says what it was)
            got.append(exc)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, got


def severed_here(got: list) -> None:
    assert len(got) == 1 and isinstance(got[0], shmcp.PathSevered), got
    assert "severed by this end" in str(got[0]), got


def sever_while_waiting(vm, path, *calls, waiters: int = 1) -> list[list]:
    """Each of ``calls`` in a thread of its own; once one pumps and the
    rest sleep behind it (``waiters`` of them wait on the path), sever the
    path from this thread: what each got."""
    router = vm._router
    started = [in_thread(call) for call in calls]
    eventually(lambda: router.pumping and router.sleepers == waiters - 1,
               what="the threads waiting")
    path.sever()
    for thread, _ in started:
        thread.join(WITHIN)
        assert not thread.is_alive(), "still waiting after this end severed the path"
    return [got for _, got in started]


# -- 1: this end's SEVER ends every wait on the path -------------------------------------

def test_a_pending_kept_past_with_path_is_severed(silent):
    """Before: result() waited for a completion the SEVER destroyed
    (TimeoutError only at its timeout)."""
    with shmcp.logon("client") as vm:
        with vm.connect("srv", timeout=30) as path:
            pending = path.send_nowait(b"never answered")
        with pytest.raises(shmcp.PathSevered, match="severed by this end"):
            pending.result(timeout=WITHIN)
        assert pending.done()
        with pytest.raises(shmcp.PathSevered, match="severed by this end"):
            pending.result(timeout=0)  # the same, again


@pytest.mark.parametrize("call", [
    pytest.param(lambda path: path.send(b"x"), id="send"),  # the round trip in C
    pytest.param(lambda path: path.send(b"x", timeout=600), id="send-timeout"),
    pytest.param(lambda path: path.send_nowait(b"x").result(), id="result"),
    pytest.param(lambda path: path.receive(), id="receive"),
    pytest.param(lambda path: path.receive(timeout=600), id="receive-timeout"),
])
def test_a_pumping_waiter_in_another_thread_is_severed(silent, call):
    """The waiting thread is in the core's wait; nothing comes to the VM.
    Before: it stayed there until LOGOFF or some unrelated interrupt."""
    with shmcp.logon("client") as vm:
        path = vm.connect("srv", timeout=30, msglim=2)
        (got,) = sever_while_waiting(vm, path, lambda: call(path))
        severed_here(got)


def test_waiters_pumping_and_sleeping_behind_it_are_all_severed(silent):
    """Three threads on one path: one pumps, two sleep on the router's
    condition; the SEVER ends all three."""
    with shmcp.logon("client") as vm:
        path = vm.connect("srv", timeout=30, msglim=2)
        pending = path.send_nowait(b"first")
        gots = sever_while_waiting(vm, path, lambda: path.send(b"second"),
                                   lambda: pending.result(), lambda: path.receive(),
                                   waiters=3)
        for got in gots:
            severed_here(got)


@pytest.mark.parametrize("one_way", [True, False], ids=["one-way", "two-way"])
def test_a_send_waiting_at_the_limit_is_severed(silent, one_way):
    """The path's one message in flight fills it (msglim 1): the next send
    waits for a completion that never comes (one-way: wait_room in C)."""
    with shmcp.logon("client") as vm:
        path = vm.connect("srv", timeout=30, msglim=1)
        path.send(b"fill", one_way=True)
        (got,) = sever_while_waiting(vm, path, lambda: path.send(b"more", one_way=one_way))
        severed_here(got)


def test_an_areceive_waiting_in_the_loop_is_severed(silent):
    """The coroutine waits for the router's watchers; the SEVER calls them.
    Before: areceive waited until its timeout."""
    with shmcp.logon("client") as vm:
        path = vm.connect("srv", timeout=30)

        async def main():
            receiving = asyncio.ensure_future(path.areceive())
            await asyncio.sleep(0.1)  # (it waits, or sees the SEVER at once: either way)
            path.sever()
            await asyncio.wait_for(receiving, WITHIN)
        with pytest.raises(shmcp.PathSevered, match="severed by this end"):
            asyncio.run(main())


@pytest.mark.parametrize("pause", [0.0, 0.1], ids=["at-once", "waiting"])
def test_an_asend_awaiting_its_reply_is_severed(silent, pause):
    """An asend whose message is in flight when this end severs the path:
    its AsyncReply names the path, so the SEVER completes it, and one that
    had not yet registered sees the sever in its first look.  Before: it
    waited until its timeout."""
    with shmcp.logon("client") as vm:
        path = vm.connect("srv", timeout=30)

        async def main():
            sending = asyncio.ensure_future(path.asend(b"q"))
            await asyncio.sleep(pause)  # (queued and waiting, or not yet run)
            path.sever()
            await asyncio.wait_for(sending, WITHIN)
        with pytest.raises(shmcp.PathSevered, match="severed by this end"):
            asyncio.run(main())
        assert not vm._router.pending and not vm.iucv_answers


# -- 5: LOGOFF by another thread while a send waits at the limit -----------------------------

# the client's path, its one message in flight filling it
FILLED = ("path = vm.connect('srv', wait=True, timeout=30, msglim=1); "
          "path.send(b'fill', one_way=True)")


@pytest.mark.parametrize("delay", DELAYS)
@pytest.mark.parametrize("call", [
    "path.send(b'x', one_way=True)",
    "path.send(b'x', one_way=True, timeout=600)",
    "path.send(b'x')",
    "path.send(b'x', timeout=600)",
    "path.send_nowait(b'x')",
])
def test_a_send_waiting_at_the_limit_is_severed_by_logoff(silent, call, delay):
    """Before: NotLoggedOn (from the pumper's core wait, or the SEND made
    again after the wait ended)."""
    report = run_client(call, setup=FILLED, n=2, delay=delay)
    assert kinds(report) == {"PathSevered"}, report
    assert all("SRV ended when CLI logged off" in text for _, text in report["got"]), report


# -- 6: what was announced: kept when the partner severs, given up when this end does ------

def announced(vm, path, n: int, severed: bool = False) -> None:
    """Wait (pumping) until ``n`` messages of ``path`` are filed and not
    taken (and, with ``severed``, its partner's SEVER too)."""
    router = vm._router
    router.wait_until(lambda: sum(not m.taken and m.path is path for m in router.inbox) >= n
                      and path.severed >= severed, time.monotonic() + WITHIN)


@pytest.mark.parametrize("taker", ["path", "vm"])
def test_the_partner_severs_what_was_announced_stays_receivable(system, taker):
    with serving(PUSHER) as server, shmcp.logon("client") as vm:
        path = vm.connect("server", timeout=30)
        receive = path.receive if taker == "path" else vm.receive
        tell(server, "SEVER")
        assert line(server) == "SEVERED"
        announced(vm, path, 2, severed=True)
        assert [receive(timeout=WITHIN).data for _ in range(2)] == [b"m1", b"m2"]
        with pytest.raises(shmcp.PathSevered, match="severed by its partner"):
            path.receive(timeout=0)
        with pytest.raises(TimeoutError):
            vm.receive(timeout=0)


@pytest.mark.parametrize("taker", ["path", "vm"])
def test_this_end_severs_what_it_has_not_received_is_given_up(system, taker):
    """Also what vm.receive read ahead (RECEIVEd with the first message)
    and the program did not take: the SEVER gives it up as a socket's
    close gives up unread data.  The partner's two-way message ends with
    PathSevered at its sender."""
    with serving(PUSHER) as server, shmcp.logon("client") as vm:
        path = vm.connect("server", timeout=30)
        receive = path.receive if taker == "path" else vm.receive
        tell(server, "SEND")
        assert line(server) == "SENT"
        assert receive(timeout=WITHIN).data == b"m1"
        announced(vm, path, 2)  # m2, q
        path.sever()
        with pytest.raises(shmcp.PathSevered, match="severed by this end"):
            path.receive(timeout=0)
        with pytest.raises(TimeoutError):
            vm.receive(timeout=0)
        tell(server, "RESULT")
        assert line(server).startswith("PathSevered"), "the sender's two-way send"


# -- 8: the wording when the partner died --------------------------------------------------

@pytest.mark.parametrize("one_way", [False, True], ids=["two-way", "one-way"])
def test_a_send_after_the_partner_died_says_the_partner_severed(silent, one_way):
    """kill -9 of the partner, its LOGOFF done, its 03 not filed yet (this
    VM has not waited since): SEND's rc 1.  Before: "severed by this end"."""
    with shmcp.logon("client") as vm:
        path = vm.connect("srv", timeout=30)
        silent.kill()
        silent.wait()
        eventually(lambda: vm.attached.snapshot().vm("SRV") is None,
                   what="the killed server logged off")
        with pytest.raises(shmcp.PathSevered) as err:
            path.send(b"x", one_way=one_way)
        assert "severed by its partner" in str(err.value)
        assert "this end" not in str(err.value)


# -- 10: data SEND cannot take in one piece -------------------------------------------------

@pytest.mark.parametrize("call", [
    lambda path, data: path.send(data),
    lambda path, data: path.send(data, one_way=True),
    lambda path, data: path.send_nowait(data),
    lambda path, data: path.send_nowait(data, one_way=True),
], ids=["send", "send-one-way", "send_nowait", "send_nowait-one-way"])
def test_non_contiguous_data_is_a_type_error(silent, call):
    """Before: BufferError: memoryview: underlying buffer is not C-contiguous."""
    with shmcp.logon("client") as vm:
        with vm.connect("srv", timeout=30) as path:
            with pytest.raises(TypeError, match="C-contiguous bytes-like object"):
                call(path, memoryview(b"abcdef")[::2])
            path.send(memoryview(b"abcdef")[1:], one_way=True)  # contiguous: sent


def test_a_send_nowait_racing_the_sever_is_severed(silent):
    """send_nowait held between its SEND and filing its Pending (a trace
    hook) while another thread severs the path: the sever cannot see the
    Pending, so send_nowait must see the sever.  Before: result() waited
    for ever (the merged-code review's probe)."""
    import sys
    import threading

    from shmcp.pythonic.path import Pending

    init_code = Pending.__init__.__code__
    held, go = threading.Event(), threading.Event()

    def hold_before_filing(frame, event, arg):
        if event == "call" and frame.f_code is init_code:
            held.set()
            go.wait(WITHIN)
        return None

    with shmcp.logon("client") as vm:
        path = vm.connect("srv", timeout=30)
        got: list = []

        def send():
            sys.settrace(hold_before_filing)
            try:
                got.append(path.send_nowait(b"q"))
            finally:
                sys.settrace(None)

        thread = threading.Thread(target=send)
        thread.start()
        assert held.wait(WITHIN)
        path.sever()
        go.set()
        thread.join(WITHIN)
        (pending,) = got
        with pytest.raises(shmcp.PathSevered, match="severed by this end"):
            pending.result(timeout=WITHIN)
        assert not vm._router.pending and not vm.iucv_answers
