"""LOGOFF while another thread of the same VM is inside a call that waits.

A VM's calls work from several threads at once, and LOGOFF -- vm.logoff()
from another thread, leaving ``with shmcp.logon(...)``, shutdown() of its
system in-process, FORCE from outside -- ends them all: each blocked
thread gets the layer's error for a logged-off VM at once (not at its
timeout), and the process goes on (the segment is unmapped only once no
thread is inside the core).  Each case runs in a child process, so a
crash fails the test instead of ending pytest; the child says what each
thread got, as JSON.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from script_child import child, finish, line, serving

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A partner that accepts every path and keeps what it is sent unanswered.
SILENT_SERVER = """
    import shmcp
    vm = shmcp.logon("srv")
    vm.accept_all()
    print("READY", flush=True)
    input()
    """

# The client: SETUP, then each of N threads makes CALL (a call that waits,
# its timeout far beyond the test's), and the main thread, DELAY seconds
# after they started, does LOGOFF.  Last line: what each thread got.
CLIENT = """
    import json, threading, time, shmcp
    vm = shmcp.logon("cli")
    {setup}
    got, started = [], threading.Barrier({n} + 1)

    def blocked():
        started.wait()
        try:
            {call}
            got.append(["returned", ""])
        except BaseException as exc:
            got.append([type(exc).__name__, str(exc)])

    threads = [threading.Thread(target=blocked) for _ in range({n})]
    for t in threads:
        t.start()
    started.wait()
    time.sleep({delay})
    {logoff}
    for t in threads:
        t.join(60)
    print(json.dumps({{"got": got, "hung": sum(t.is_alive() for t in threads),
                      "logged_on": vm.logged_on}}), flush=True)
    """


def run_script(code: str) -> dict:
    """``code`` (dedented) in a child: the JSON of its last line.  The
    child must end by itself with status 0 (a segfault is -11)."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, f"child ended with {proc.returncode}:\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_client(call: str, *, setup: str = "", logoff: str = "vm.logoff()", n: int = 1,
               delay: float = 0.3) -> dict:
    """CLIENT with these parts: its report, checked for hung threads."""
    report = run_script(textwrap.dedent(CLIENT).format(setup=setup, call=call, logoff=logoff,
                                                       n=n, delay=delay))
    assert report["hung"] == 0, report
    assert len(report["got"]) == n, report
    assert report["logged_on"] is False
    return report


def kinds(report: dict) -> set[str]:
    return {kind for kind, _ in report["got"]}


@pytest.fixture
def server(system):
    proc = child(SILENT_SERVER)
    assert line(proc) == "READY"
    yield proc
    finish(proc)


CONNECT = 'path = vm.connect("srv", wait=True, timeout=30)'

# delay 0: LOGOFF may come before the call waits, or while it does
DELAYS = [0.0, 0.3]


@pytest.mark.parametrize("delay", DELAYS)
def test_path_send_waiting_for_its_reply_is_severed(server, delay):
    report = run_client("path.send(b'x', timeout=600)", setup=CONNECT, n=2, delay=delay)
    assert kinds(report) == {"PathSevered"}, report


@pytest.mark.parametrize("delay", DELAYS)
def test_path_receive_is_severed(server, delay):
    report = run_client("path.receive(timeout=600)", setup=CONNECT, delay=delay)
    assert kinds(report) == {"PathSevered"}, report


@pytest.mark.parametrize("delay", DELAYS)
def test_vm_receive_and_accept_end_not_logged_on(system, delay):
    report = run_client("vm.receive(timeout=600)", delay=delay)
    assert kinds(report) == {"NotLoggedOn"}, report
    report = run_client("vm.accept(timeout=600)", delay=delay)
    assert kinds(report) == {"NotLoggedOn"}, report


@pytest.mark.parametrize("delay", DELAYS)
def test_faithful_wait_in_threads_ends_not_logged_on(system, delay):
    report = run_client("vm.wait(timeout=600)", n=3, delay=delay)
    assert kinds(report) == {"NotLoggedOn"}, report


def test_leaving_the_with_block_ends_a_workers_receive(system):
    report = run_script("""
        import json, threading, time, shmcp
        got, ready = [], threading.Event()
        def worker(vm):
            ready.set()
            try:
                vm.receive(timeout=600)
                got.append("returned")
            except BaseException as exc:
                got.append(type(exc).__name__)
        with shmcp.logon("cli") as vm:
            t = threading.Thread(target=worker, args=(vm,))
            t.start()
            ready.wait()
            time.sleep(0.3)
        t.join(60)
        print(json.dumps({"got": got, "hung": t.is_alive()}), flush=True)
        """)
    assert report == {"got": ["NotLoggedOn"], "hung": False}


def test_shutdown_in_process_ends_the_waits(system):
    report = run_client("vm.wait(timeout=600)", n=2, logoff="shmcp.shutdown()")
    assert kinds(report) <= {"NotLoggedOn", "SystemDown"}, report


def test_sigpause_in_the_main_thread_ends_when_another_thread_logs_off(system):
    # the main thread pauses with a SIGIUCV handler established (it sleeps
    # in sigtimedwait); a thread logs the VM off
    report = run_script("""
        import json, threading, time, shmcp, signal
        vm = shmcp.logon("cli")
        signal.signal(shmcp.SIGIUCV, lambda *a: None)
        ready = threading.Event()
        def later():
            ready.wait()
            time.sleep(0.3)
            vm.logoff()
        t = threading.Thread(target=later)
        t.start()
        ready.set()
        try:
            shmcp.sigpause()
            got = "returned"
        except BaseException as exc:
            got = type(exc).__name__
        t.join(60)
        print(json.dumps({"got": got, "hung": t.is_alive()}), flush=True)
        """)
    assert report == {"got": "NotLoggedOn", "hung": False}


ASYNC_CALLS = [("path.asend(b'x', timeout=600)", "PathSevered"),
               ("path.areceive(timeout=600)", "PathSevered"),
               ("vm.areceive(timeout=600)", "NotLoggedOn")]


@pytest.mark.parametrize("delay", DELAYS)
@pytest.mark.parametrize("call,error", ASYNC_CALLS)
def test_coroutines_in_a_loop_thread_end(server, delay, call, error):
    report = run_client(f"asyncio.run({call})", setup="import asyncio\n" + CONNECT,
                        delay=delay)
    assert kinds(report) == {error}, report


def blocked_in_two_threads(setup: str, call: str, report: str = "") -> str:
    """A child's script: VM CLI, SETUP, then two threads each make CALL;
    WAITING once they started; last, as JSON, what ended each ("got"),
    how many still hang, and REPORT's fields (``, "name": expression``)."""
    return f"""
        import json, threading, shmcp
        vm = shmcp.logon("cli")
        {setup}
        got = []
        def blocked():
            try:
                {call}
                got.append("returned")
            except BaseException as exc:
                got.append(type(exc).__name__)
        threads = [threading.Thread(target=blocked) for _ in range(2)]
        for t in threads:
            t.start()
        print("WAITING", flush=True)
        for t in threads:
            t.join(60)
        print(json.dumps({{"got": got, "hung": sum(t.is_alive() for t in threads){report}}}),
              flush=True)
        """


def test_force_ends_every_waiting_thread(system):
    proc = child(blocked_in_two_threads("pass", "vm.wait(timeout=600)",
                                        ', "logged_on": vm.logged_on'))
    report = report_once_ended(proc, [sys.executable, "-m", "shmcp", "force", "cli"])
    assert report == {"got": ["NotLoggedOn", "NotLoggedOn"], "hung": 0, "logged_on": False}


ENDED_ELSEWHERE = {"force": [sys.executable, "-m", "shmcp", "force", "cli"],
                   "shutdown": [sys.executable, "-c", "import shmcp; shmcp.shutdown()"]}


@pytest.mark.parametrize("accept_all", [False, True], ids=["plain", "accept_all"])
@pytest.mark.parametrize("how", sorted(ENDED_ELSEWHERE))
@pytest.mark.parametrize("call", ["path.receive(timeout=600)",
                                  "path.send_nowait(b'q').result(timeout=600)"])
def test_another_process_ending_the_vm_severs_a_paths_blocking_waits(system, how, accept_all,
                                                                     call):
    """FORCE, or a shutdown from another process, while two threads block
    on a path: the path ended with the VM, so PathSevered in both, as at
    LOGOFF by another thread.  Before: NotLoggedOn (LOGOFF's hook never
    ran), then, with accept_all's thread to join, NotLoggedOn in the
    thread that found the other one ending the router, and SystemDown
    after a shutdown."""
    setup = f"vm.accept_all() if {accept_all} else None; path = vm.connect('srv', timeout=30)"
    with serving(SILENT_SERVER):
        report = report_once_ended(child(blocked_in_two_threads(setup, call)),
                                   ENDED_ELSEWHERE[how])
    assert report == {"got": ["PathSevered", "PathSevered"], "hung": 0}


def report_once_ended(proc, command: list[str]):
    """The JSON ``proc`` (a child) prints once ``command``, run when the
    child said WAITING, ended its VM from another process."""
    try:
        assert line(proc) == "WAITING"
        ended = subprocess.run(command, capture_output=True, text=True, timeout=60,
                               env=dict(os.environ, PYTHONPATH=ROOT))
        assert ended.returncode == 0, ended.stderr
        report = json.loads(line(proc, 90))
        assert proc.wait(60) == 0
    finally:
        finish(proc)
    return report
