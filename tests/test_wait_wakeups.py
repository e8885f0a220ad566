"""What ends a blocked wait: Ctrl-C always, and a doorbell in any thread.

Each test runs a VM in a child process whose sleep slices are set by
SHMCP_WAIT_SLICE_MS: very short to make a SIGINT land at a slice's end
often, or very long so that only the doorbell can end a wait in time.
"""
from __future__ import annotations

import os
import queue
import random
import select
import signal
import subprocess
import sys
import textwrap
import threading

import shmcp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child(code: str, slice_ms: float) -> subprocess.Popen:
    """A child running ``code``; its output lines go to ``proc.lines``.
    SIGINT gets Python's default handler whatever the test runner's is."""
    env = dict(os.environ, SHMCP_WAIT_SLICE_MS=str(slice_ms), PYTHONPATH=ROOT)
    code = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n" + \
        textwrap.dedent(code)
    proc = subprocess.Popen([sys.executable, "-c", code], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    proc.lines = queue.Queue()  # type: ignore[attr-defined]
    threading.Thread(target=lambda: [proc.lines.put(x.strip()) for x in proc.stdout],
                     daemon=True).start()
    return proc


def line(proc: subprocess.Popen, within: float = 30.0) -> str:
    """The child's next line, or "" if none came within ``within`` seconds
    (a generous bound: it is there to end a hung test, not to time one)."""
    try:
        return proc.lines.get(timeout=within)  # type: ignore[attr-defined]
    except queue.Empty:
        return ""


def finish(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait()


def test_ctrl_c_interrupts_every_wait(system):
    """Issue 13 (4): a SIGINT that lands as a sleep slice ends was lost and
    the wait slept on.  With 50 us slices most SIGINTs land near one's end;
    every one must raise KeyboardInterrupt in the waiting main thread."""
    proc = child("""
        import shmcp
        vm = shmcp.logon("sleeper")
        while True:
            try:
                print("WAITING", flush=True)
                vm.wait()
            except KeyboardInterrupt:
                print("KI", flush=True)
        """, slice_ms=0.05)
    try:
        rng = random.Random(4)
        for n in range(40):
            assert line(proc) == "WAITING", f"round {n}: the child did not wait again"
            select.select([], [], [], rng.uniform(0.001, 0.02))
            os.kill(proc.pid, signal.SIGINT)
            assert line(proc) == "KI", f"SIGINT {n} did not interrupt the wait"
    finally:
        finish(proc)


def test_ctrl_c_interrupts_sigpause(system):
    """The same for sigpause(), which sleeps in the same wait."""
    proc = child("""
        import signal, shmcp
        signal.signal(shmcp.SIGIUCV, lambda s, f: None)
        vm = shmcp.logon("pauser")
        while True:
            try:
                print("WAITING", flush=True)
                shmcp.sigpause(0)
            except KeyboardInterrupt:
                print("KI", flush=True)
        """, slice_ms=0.05)
    try:
        for n in range(20):
            assert line(proc) == "WAITING"
            select.select([], [], [], 0.001 * (n % 7 + 1))
            os.kill(proc.pid, signal.SIGINT)
            assert line(proc) == "KI", f"SIGINT {n} did not interrupt sigpause"
    finally:
        finish(proc)


def test_a_thread_wakes_by_its_doorbell(system):
    """Issue 13 (5): a wait in a thread other than the main one woke only
    when its sleep slice ended (the doorbell went to the main thread).  The
    slice here is ten minutes: the wait must end by the doorbell, each of
    five times, while the main thread is blocked elsewhere."""
    proc = child("""
        import sys, threading, shmcp
        vm = shmcp.logon("worker")
        def waits():
            for _ in range(5):
                got = vm.wait()
                print("WOKE", got.raw[4:8].hex(), flush=True)
        t = threading.Thread(target=waits)
        t.start()
        print("READY", flush=True)
        t.join()
        """, slice_ms=600_000)
    try:
        assert line(proc) == "READY"
        with shmcp.logon("poker") as vm:
            for n in range(5):
                select.select([], [], [], 0.05)  # let the thread go to sleep
                vm.queue_interrupt("worker", bytes(4) + n.to_bytes(4, "big") + bytes(32))
                assert line(proc) == f"WOKE {n:08x}", f"interrupt {n} did not wake the thread"
        proc.wait(timeout=30)
        assert proc.returncode == 0
    finally:
        finish(proc)
