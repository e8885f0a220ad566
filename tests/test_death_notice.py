"""A VM killed at once after its LOGON, or inside it, is noticed by the
other VMs' watchdogs (csrc/core/watchdog.c) like any other dead VM."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import shmcp
from shmcp import PathPlist, iucv
from shmcp.system import System
from vms import eventually

# a VM that logs on, takes IUCV interrupts and waits to be killed
TARGET = """
import sys, time, shmcp
from shmcp import PathPlist, iucv
vm = shmcp.logon(sys.argv[1])
iucv.dclbfr(PathPlist())
print("READY", flush=True)
time.sleep(3600)
"""


def start(userid: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", TARGET, userid], stdout=subprocess.PIPE,
                            text=True, env=dict(os.environ, **(env or {})))


def severed(vm, pathid: int) -> bool:
    """Wait (20 s at most: a hang guard) for the path-severed interrupt of
    ``pathid``; True once it came."""
    for _ in range(20):
        ev = vm.wait(1.0)
        img = bytes(ev) if ev is not None else bytes(40)
        if img[3] == iucv.IPTYPE_PATH_SEVERED:
            return int.from_bytes(img[0:2], "big") == pathid
    return False


def test_a_vm_killed_right_after_logon_severs_its_partners_path(system):
    """SIGKILL as soon as the target can be connected to: the partner's
    path is severed by the LOGOFF a watchdog runs, each of five times."""
    with shmcp.logon("partner") as vm:
        iucv.dclbfr(PathPlist())
        for round_ in range(5):
            target = start(f"target{round_}")
            try:
                assert target.stdout.readline().strip() == "READY"
                p = PathPlist(vmid=f"TARGET{round_}".encode())
                assert iucv.connect(p) == 0
                os.kill(target.pid, signal.SIGKILL)
                assert severed(vm, p.pathid), f"round {round_}: no path-severed interrupt"
                assert target.wait() == -signal.SIGKILL
                iucv.sever(PathPlist(pathid=p.pathid))
            finally:
                target.kill()
                target.wait()
                target.stdout.close()


def test_a_vm_killed_inside_logon_is_logged_off_by_a_watchdog(system):
    """Killed inside LOGON once logged on and the watchdogs' bell rung, the
    control lock still held: another process's watchdog logs it off
    (repairing the lock), and its userid logs on again."""
    with shmcp.logon("watcher"):
        with System.attach(system) as s:
            before = s.logoff_count()
        target = start("dying", env={"SHMCP_FAULT": "logon.rung"})
        try:
            assert target.wait(timeout=60) == -signal.SIGKILL
            assert target.stdout.read() == ""  # died inside LOGON
        finally:
            target.kill()
            target.stdout.close()

        def logged_off() -> bool:
            with System.attach(system) as s:
                return s.logoff_count() == before + 1

        eventually(logged_off, what="LOGOFF of the VM killed inside LOGON")
        with System.attach(system) as s:
            assert "DYING" not in [u for u, _ in s.names()]
        again = start("dying")
        try:
            assert again.stdout.readline().strip() == "READY"
        finally:
            again.kill()
            again.wait()
            again.stdout.close()
