"""What ends a blocked wait: Ctrl-C always, and a doorbell in any thread.

Each test runs a VM in a child process whose sleep slices are set by
SHMCP_WAIT_SLICE_MS: very short to make a SIGINT land at a slice's end
often, or very long so that only the doorbell can end a wait in time.
"""
from __future__ import annotations

import os
import random
import select
import signal
import subprocess

import script_child
import shmcp
from script_child import finish, line



def child(code: str, slice_ms: float) -> subprocess.Popen:
    return script_child.child(code, SHMCP_WAIT_SLICE_MS=str(slice_ms))


def test_ctrl_c_interrupts_every_wait(system):
    """Issue 13 (4): a SIGINT that lands as a sleep slice ends was lost and
    the wait slept on.  With 50 us slices most SIGINTs land near one's end;
    every one must raise KeyboardInterrupt in the waiting main thread."""
    proc = child(script_child.WAITS_FOR_CTRL_C, slice_ms=0.05)
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
