"""How the coroutine twins end and detach, between real processes: a VM
forced off or its system shut down by another process while coroutines
wait, a signal handler's exception in the loop's pump, a loop closed with
a coroutine still waiting, two event loops on one VM, and a thread already
in the core's wait when the loop first uses the VM.  Each case runs in a
child process, which says what each call got as JSON on its last line;
the timeouts are only there to end a hung case."""
from __future__ import annotations

import sys

import pytest

from script_child import child, serving
from test_logoff_threads import SILENT_SERVER, report_once_ended, run_script

# a partner that accepts every path and takes every message, answering none
SINK = """
    import shmcp
    vm = shmcp.logon("sink")
    vm.accept_all()
    print("READY", flush=True)
    for msg in vm.messages():
        msg.data
    """


# coroutines of a VM that another process ends: each says what it got
ENDED_FROM_OUTSIDE = """
    import asyncio, json, shmcp
    vm = shmcp.logon("cli")
    path = vm.connect("srv", timeout=30)

    async def outcome(coro):
        try:
            await asyncio.wait_for(coro, 60)  # (a hang guard)
            return "returned"
        except BaseException as exc:
            return type(exc).__name__

    async def main():
        calls = {"path.areceive": path.areceive(), "vm.areceive": vm.areceive(),
                 "vm.aaccept": vm.aaccept()}
        tasks = {name: asyncio.ensure_future(outcome(c)) for name, c in calls.items()}
        await asyncio.sleep(0.3)  # (they wait, in the hot phase or the sleeper's)
        print("WAITING", flush=True)
        got = {name: await task for name, task in tasks.items()}
        print(json.dumps(got), flush=True)

    asyncio.run(main())
    """

ENDERS = {"force": [sys.executable, "-m", "shmcp", "force", "cli"],
          "shutdown": [sys.executable, "-c", "import shmcp; shmcp.shutdown()"]}


@pytest.mark.parametrize("how", sorted(ENDERS))
def test_coroutines_end_when_another_process_ends_the_vm(system, how):
    with serving(SILENT_SERVER):
        got = report_once_ended(child(ENDED_FROM_OUTSIDE), ENDERS[how])
    vm_ends = {"NotLoggedOn"} if how == "force" else {"NotLoggedOn", "SystemDown"}
    assert got["path.areceive"] == "PathSevered", got
    assert {got["vm.areceive"], got["vm.aaccept"]} <= vm_ends, got


def test_a_signal_handlers_exception_reaches_its_waiter_once(system):
    # the alarm repeats until its exception comes out of a coroutine's
    # wait (not out of the loop's selector, which is asyncio's own); then
    # the same loop's later calls work
    report = run_script("""
        import asyncio, json, signal, shmcp

        class Alarm(Exception):
            pass

        def ring(*_):
            signal.setitimer(signal.ITIMER_REAL, 0)
            raise Alarm()

        vm = shmcp.logon("solo")
        vm.accept_all()
        me = vm.connect("solo", timeout=30)
        signal.signal(signal.SIGALRM, ring)

        async def answer():
            msg = await vm.areceive(timeout=60)
            msg.reply(msg.data.upper())

        async def main():
            signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
            try:
                await vm.areceive(timeout=60)
                return None
            except Alarm:
                pass
            got = {}
            for name, coro in (("nothing came", vm.areceive(timeout=0.05)),
                               ("unanswered", me.asend(b"q", timeout=0.05))):
                try:
                    await coro
                    got[name] = "returned"
                except BaseException as exc:
                    got[name] = type(exc).__name__
            me.send(b"m", one_way=True)  # (first: the unanswered q was withdrawn)
            got["areceive"] = (await vm.areceive(timeout=60)).data.decode()
            replier = asyncio.ensure_future(answer())
            got["asend"] = (await me.asend(b"q", timeout=60)).decode()
            await replier
            return got

        for _ in range(200):
            try:
                got = asyncio.run(main())
            except Alarm:  # rang in the selector: asyncio.run's own
                continue
            if got is not None:
                break
        print(json.dumps(got), flush=True)
        vm.logoff()
        """)
    assert report == {"nothing came": "TimeoutError", "unanswered": "TimeoutError",
                      "areceive": "m", "asend": "Q"}


def test_a_closed_loops_pump_detaches(system):
    # a coroutine left waiting in a loop that closed; then the same
    # thread's blocking calls, and asyncio.run's pump after it returned
    report = run_script("""
        import asyncio, json, shmcp
        vm = shmcp.logon("cli")
        vm.accept_all()
        me = vm.connect("cli", timeout=30)
        got = {}

        async def leave_waiting():
            asyncio.ensure_future(vm.areceive())
            await asyncio.sleep(0.05)

        loop = asyncio.new_event_loop()
        loop.run_until_complete(leave_waiting())
        loop.close()
        me.send(b"a", one_way=True)
        got["receive"] = vm.receive(timeout=60).data.decode()
        got["watchers"] = len(vm._router.watchers)

        async def touch():
            try:
                await vm.areceive(timeout=0.01)
            except TimeoutError:
                pass

        asyncio.run(touch())
        me.send(b"b", one_way=True)
        got["after run"] = vm.receive(timeout=60).data.decode()
        got["watchers after run"] = len(vm._router.watchers)
        print(json.dumps(got), flush=True)
        vm.logoff()
        """)
    assert report == {"receive": "a", "watchers": 0, "after run": "b",
                      "watchers after run": 0}


def test_two_loops_on_one_vm_are_both_woken_and_ended(system):
    # loop A (a thread) waits; loop B (the main thread) uses the VM
    # briefly; A still gets its message.  Then two loop threads wait and
    # LOGOFF ends both.
    report = run_script("""
        import asyncio, json, threading, shmcp
        vm = shmcp.logon("solo")
        vm.accept_all()
        me = vm.connect("solo", timeout=30)
        got, ready = {}, threading.Event()

        def loop_thread(name):
            async def main():
                task = asyncio.ensure_future(vm.areceive(timeout=60))
                await asyncio.sleep(0.05)  # (its first step made the loop's pump)
                ready.set()
                return (await task).data.decode()
            try:
                got[name] = asyncio.run(main())
            except BaseException as exc:
                got[name] = type(exc).__name__

        async def touch():
            try:
                await vm.areceive(timeout=0.01)
            except TimeoutError:
                pass

        a = threading.Thread(target=loop_thread, args=("A",))
        a.start()
        ready.wait(60)
        asyncio.run(touch())
        me.send(b"for A", one_way=True)
        a.join(90)
        threads = [threading.Thread(target=loop_thread, args=(n,)) for n in ("C", "D")]
        for t in threads:
            ready.clear()
            t.start()
            ready.wait(60)
        vm.logoff()
        for t in threads:
            t.join(90)
        got["hung"] = sum(t.is_alive() for t in (a, *threads))
        print(json.dumps(got), flush=True)
        """)
    assert report == {"A": "for A", "C": "NotLoggedOn", "D": "NotLoggedOn", "hung": 0}


def test_room_comes_to_asend_when_a_thread_pumped_first(system):
    # a thread is in the core's wait (vm.receive) before the loop first uses
    # the VM; the completions its batch takes must wake an asend waiting for
    # room at the path's message limit
    with serving(SINK):
        report = run_script("""
            import asyncio, json, threading, time, shmcp
            vm = shmcp.logon("cli")
            path = vm.connect("sink", timeout=30, msglim=1)
            router = vm._layer()

            def blocked():
                try:
                    vm.receive(timeout=600)
                except BaseException:
                    pass

            thread = threading.Thread(target=blocked)
            thread.start()
            while not router.pumping:  # (its core wait began, unwatched)
                time.sleep(0.01)

            async def main():
                sent = 0
                for i in range(4):
                    try:
                        await asyncio.wait_for(path.asend(b"%d" % i, one_way=True), 60)
                        sent += 1
                    except asyncio.TimeoutError:
                        break
                return sent

            got = {"sent": asyncio.run(main())}
            vm.logoff()
            thread.join(60)
            got["hung"] = thread.is_alive()
            print(json.dumps(got), flush=True)
            """)
    assert report == {"sent": 4, "hung": False}
