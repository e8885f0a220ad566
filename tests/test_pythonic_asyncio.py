"""The Pythonic layer's coroutine twins between real processes: many
coroutines waiting at once, timeouts and cancellation, a crashed partner,
threads alongside the loop."""
from __future__ import annotations

import asyncio
import signal
import threading

import pytest

import shmcp
from script_child import child, finish, line, serving, tell

# an asyncio server: every message handled by a task of its own, so a slow
# one does not hold the others up
ASYNC_SERVER = """
    import asyncio, os, signal, shmcp

    async def handle(msg, held):
        if msg.data.startswith(b"slow"):
            await asyncio.sleep(float(msg.data[4:].split(b"-")[0]))
        if msg.data == b"hold":
            held.append(msg)  # never answered
            print("HELD", flush=True)
            return
        if msg.data == b"die":
            os.kill(os.getpid(), signal.SIGKILL)
        if msg.one_way:
            print("ONE-WAY", msg.data.decode(), flush=True)
        else:
            msg.reply(msg.data.upper())

    async def main():
        vm = shmcp.logon("server")
        vm.accept_all()
        held, tasks = [], set()
        print("READY", flush=True)
        async for msg in vm.amessages():
            task = asyncio.ensure_future(handle(msg, held))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    asyncio.run(main())
    """


@pytest.fixture
def server(system):
    with serving(ASYNC_SERVER) as proc:
        yield proc


def test_asend_and_many_coroutines_in_flight(server):
    async def main():
        with shmcp.logon("client") as vm:
            path = await vm.aconnect("server", timeout=30, msglim=10)
            assert isinstance(path, shmcp.Path) and path.msglim == 10
            assert await path.asend(b"hello") == b"HELLO"
            assert await path.asend(memoryview(b"abc")) == b"ABC"
            assert await path.asend(b"tick", one_way=True) is None
            assert line(server) == "ONE-WAY tick"
            # 50 at once on a path whose limit is 10: 40 wait for completions,
            # and each coroutine gets its own reply (the server answers out of
            # order: the slow ones later)
            reqs = [b"slow0.0%d-%d" % (i % 3, i) for i in range(50)]
            replies = await asyncio.gather(*(path.asend(r) for r in reqs))
            assert replies == [r.upper() for r in reqs]
            # send_nowait's Pending has a coroutine twin of result()
            pend = path.send_nowait(b"later")
            assert await pend.aresult(timeout=30) == b"LATER"
            assert await pend.aresult() == b"LATER"  # done: at once, again
            assert await path.send_nowait(b"x", one_way=True).aresult() is None
            path.sever()
            with pytest.raises(shmcp.PathSevered):
                await path.asend(b"after")
    asyncio.run(main())


def test_aaccept_areceive_amessages_aevents(system):
    client = child("""
        import shmcp
        vm = shmcp.logon("client")
        path = vm.connect("server", wait=True, timeout=30)
        for word in ("one", "two", "three", "four"):
            print(path.send(word.encode()).decode(), flush=True)
        input()
        """)

    async def main():
        with shmcp.logon("server") as vm:
            with pytest.raises(TimeoutError):
                await vm.aaccept(timeout=0.01)
            events = vm.aevents(timeout=30)
            first = asyncio.ensure_future(events.__anext__())
            await asyncio.sleep(0)  # its first step: events are kept from now on
            path = await vm.aaccept(timeout=30)
            assert (await first).name == "path_pending"
            assert path.partner == "CLIENT"
            msg = await path.areceive(timeout=30)
            assert msg.data == b"one" and msg.path is path
            msg.reply(b"1")
            msg = await vm.areceive(timeout=30)
            assert msg.data == b"two"
            msg.reply(b"2")
            got = []
            async for msg in vm.amessages(timeout=30):
                msg.reply(msg.data[:1])
                got.append(msg.data)
                if len(got) == 2:
                    break
            assert got == [b"three", b"four"]
            with pytest.raises(TimeoutError):
                await path.areceive(timeout=0.05)
            assert [m async for m in vm.amessages(timeout=0.05)] == []  # ends on timeout
            # the VM's one queue of events, since the first step of the first
            # aevents: any iterator takes from it, and ends on its timeout
            names = [ev.name async for ev in vm.aevents(timeout=0.2)]
            assert names.count("message_pending") == 4 and "path_severed" not in names
            tell(client)
            with pytest.raises(shmcp.PathSevered):  # the client ends: severed and empty
                await path.areceive(timeout=30)
            assert [m async for m in path] == []
    try:
        asyncio.run(main())
        assert [line(client) for _ in range(4)] == ["1", "2", "t", "f"]
    finally:
        finish(client)


def test_timeout_and_cancellation_lose_nothing(server):
    async def main():
        with shmcp.logon("client") as vm:
            path = await vm.aconnect("server", timeout=30)
            # the keyword: TimeoutError, the message purged
            with pytest.raises(TimeoutError):
                await path.asend(b"hold", timeout=0.05)
            assert line(server) == "HELD"
            # asyncio.wait_for cancels the asend: the same, as CancelledError inside
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(path.asend(b"slow0.3"), 0.05)
            # what comes next is matched to its own request, not to the withdrawn ones
            await asyncio.sleep(0.4)
            assert await path.asend(b"next") == b"NEXT"
            # a cancelled areceive takes nothing: the message goes to the next one
            task = asyncio.ensure_future(vm.areceive())
            await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            pend = path.send_nowait(b"slow0.1")
            with pytest.raises(TimeoutError):  # aresult's timeout leaves it in flight
                await pend.aresult(timeout=0.01)
            assert await pend.aresult(timeout=30) == b"SLOW0.1"
            assert pend.result() == b"SLOW0.1"
            with pytest.raises(ValueError):
                await path.asend(b"x", timeout=-1)
            with pytest.raises(TypeError):
                await path.asend(12)
    asyncio.run(main())


def test_cancelled_areceive_keeps_the_message(system):
    sender = child("""
        import shmcp
        vm = shmcp.logon("sender")
        path = vm.connect("receiver", wait=True, timeout=30)
        input()
        path.send(b"kept", one_way=True)
        print("SENT", flush=True)
        input()
        """)

    async def main():
        with shmcp.logon("receiver") as vm:
            path = await vm.aaccept(timeout=30)
            waiting = [asyncio.ensure_future(path.areceive()) for _ in range(3)]
            await asyncio.sleep(0.01)
            for task in waiting:
                task.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)
            tell(sender)
            assert line(sender) == "SENT"
            msg = await path.areceive(timeout=30)
            assert msg.data == b"kept" and msg.one_way
            tell(sender)
    try:
        asyncio.run(main())
    finally:
        finish(sender)


@pytest.mark.parametrize("policy", ["aaccept", "accept_all"])
def test_a_zero_timeout_takes_what_is_queued(system, policy):
    """await areceive(timeout=0) looks once, as receive does: what is queued
    comes back, and only an empty queue raises TimeoutError."""
    sender = child("""
        import shmcp
        vm = shmcp.logon("sender")
        path = vm.connect("receiver", wait=True, timeout=30)
        input()
        for i in range(3):
            path.send(b"q%d" % i, one_way=True)
        print("SENT", flush=True)
        input()
        """)

    async def main():
        with shmcp.logon("receiver") as vm:
            if policy == "aaccept":
                await vm.aaccept(timeout=30)
            else:
                vm.accept_all()
            tell(sender)
            assert line(sender) == "SENT"
            first = await vm.areceive(timeout=0)
            assert first.data == b"q0"
            assert (await first.path.areceive(timeout=0)).data == b"q1"
            assert [m.data async for m in vm.amessages(timeout=0)] == [b"q2"]
            with pytest.raises(TimeoutError):
                await vm.areceive(timeout=0)
            tell(sender)
    try:
        asyncio.run(main())
    finally:
        finish(sender)


def test_crashed_partner_raises_path_severed_in_awaiting_coroutines(server):
    async def main():
        with shmcp.logon("client") as vm:
            path = await vm.aconnect("server", timeout=30)
            other = await vm.aconnect("server", timeout=30)
            held = asyncio.ensure_future(path.asend(b"hold"))
            listening = asyncio.ensure_future(other.areceive())
            assert await asyncio.to_thread(line, server) == "HELD"
            with pytest.raises(shmcp.PathSevered):
                await path.asend(b"die", timeout=30)  # kill -9 while it waits
            with pytest.raises(shmcp.PathSevered):
                await asyncio.wait_for(held, 30)
            with pytest.raises(shmcp.PathSevered):
                await asyncio.wait_for(listening, 30)
            assert path.severed and other.severed
    asyncio.run(main())


def test_threads_alongside_the_loop(server):
    """Sync calls in other threads while coroutines wait on the same VM:
    whoever pumps, every waiter gets its own reply."""
    async def main():
        with shmcp.logon("client") as vm:
            path = await vm.aconnect("server", timeout=30)
            results: dict[int, list[bytes]] = {}

            def worker(n: int) -> None:
                results[n] = [path.send(b"t%d-%d" % (n, i), timeout=30) for i in range(40)]
            threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
            for t in threads:
                t.start()
            replies = await asyncio.gather(*(path.asend(b"a%d" % i, timeout=30)
                                             for i in range(100)))
            await asyncio.to_thread(lambda: [t.join(60) for t in threads])
            assert replies == [b"A%d" % i for i in range(100)]
            assert results == {n: [b"T%d-%d" % (n, i) for i in range(40)] for n in range(3)}
    asyncio.run(main())


def test_a_second_loop_after_the_first(server):
    """asyncio.run twice on one VM: the pump follows the running loop."""
    with shmcp.logon("client") as vm:
        path = vm.connect("server", timeout=30)
        assert asyncio.run(path.asend(b"first")) == b"FIRST"
        assert asyncio.run(path.asend(b"second")) == b"SECOND"
        assert path.send(b"sync") == b"SYNC"


def test_ctrl_c_interrupts_awaiting_coroutines(system):
    """SIGINT reaches a loop whose coroutine waits (an areceive nothing
    comes to, an asend nobody answers), whether the loop is waiting in the
    core itself or its sleeper thread is; the VM serves on afterwards."""
    proc = child("""
        import asyncio, shmcp
        vm = shmcp.logon("client")
        vm.accept_all()
        path = vm.connect("client", timeout=30)  # to itself: nobody answers
        for what in ("areceive", "asend", "areceive"):
            try:
                print("WAITING", flush=True)
                asyncio.run(vm.areceive() if what == "areceive" else path.asend(b"x"))
            except KeyboardInterrupt:
                print("KI", what, flush=True)
        path.send(b"y", one_way=True)  # (the interrupted asend's was withdrawn)
        msg = vm.receive(timeout=30)
        print("GOT", msg.data.decode(), flush=True)
        """)
    try:
        for what, settle in (("areceive", 0.2), ("asend", 0.2), ("areceive", 0.0005)):
            assert line(proc) == "WAITING"
            line(proc, settle)  # let it block (briefly: still in its first wait)
            proc.send_signal(signal.SIGINT)
            assert line(proc) == f"KI {what}"
        assert line(proc) == "GOT y"
    finally:
        finish(proc)
