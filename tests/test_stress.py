"""Opt-in stress and fault runs (`make stress`): beyond what CI runs."""
from __future__ import annotations

import os
import random
import signal
import time

import pytest

import shmcp
from shmcp.system import System
from vms import Child, eventually, run_senders

pytestmark = pytest.mark.stress


def test_a_million_interrupts_from_8_senders(system):
    per = 125_000
    got = run_senders(8, per, "async")
    assert got["errors"] == [] and got["calls"] == 8 * per and not got["left"]


def test_kill_storm_leaves_nothing_stuck(system):
    """Senders are SIGKILLed at random moments, over and over; the system
    never deadlocks, every dead VM is logged off, and a final sender's
    interrupts all arrive in order."""
    rng = random.Random(1)
    watcher = shmcp.logon("watcher")
    try:
        for round_ in range(40):
            kids = [Child("send", f"K{i}", "WATCHER", i, 1_000_000) for i in range(3)]
            for k in kids:
                k.expect("READY")
                k.tell()
            time.sleep(rng.uniform(0.01, 0.2))
            for k in kids:
                os.kill(k.pid, signal.SIGKILL)
                k.wait()
            while watcher.wait(timeout=0) is not None:
                pass  # drain what they managed to queue
        with System.attach(system) as s:
            eventually(lambda: s.live_count() == 1, what="LOGOFF of every killed sender")
        last = Child("send", "LAST", "WATCHER", 0, 10_000)
        last.expect("READY")
        last.tell()
        seq = []
        while len(seq) < 10_000:
            got = watcher.wait(timeout=30)
            assert got is not None, "the final sender's interrupts stopped arriving"
            seq.append(int.from_bytes(got.raw[8:12], "big"))
        assert seq == list(range(10_000))
        last.tell()
    finally:
        watcher.logoff()
