"""A VM killed inside the control lock leaves nothing stuck."""
from __future__ import annotations

import signal

import pytest

import shmcp
from shmcp.system import System
from vms import Child, eventually


@pytest.mark.parametrize("point", ["post", "logoff", "logon"])
def test_sigkill_inside_the_control_lock(system, point):
    """The victim dies by SIGKILL at a fault point inside the lock (post: with
    a claimed, unpublished queue slot).  The next holder repairs the lock;
    the other VMs carry on; the victim's userid logs on again."""
    rx = Child("receive", "RX", 2, 200, "sigpause")
    rx.expect("READY")
    victim = Child("fault", "VICTIM", "RX", point, env={"SHMCP_FAULT": point})
    try:
        if point != "logon":
            victim.expect("READY")
            victim.tell()
        assert victim.wait() == -signal.SIGKILL
        # another VM goes on queueing through the repaired lock
        tx = Child("send", "TX", "RX", 0, 100)
        tx.expect("READY")
        tx.tell()
        assert tx.json()["sent"] == 100
        tx2 = Child("send", "TX2", "RX", 1, 100)
        tx2.expect("READY")
        tx2.tell()
        assert tx2.json()["sent"] == 100
        got = rx.json()
        assert got["errors"] == [] and got["calls"] == 200 and got["next"] == [100, 100]
        assert not got["left"], "the dead producer's slot must not become an interrupt"
        tx.tell()
        tx2.tell()
        with System.attach(system) as s:
            assert s.lock_repairs() == 1
            eventually(lambda: "VICTIM" not in [u for u, _ in s.names()],
                       what="LOGOFF of the killed VM")
        with shmcp.logon("victim"):
            pass
    finally:
        for c in (rx, victim):
            c.kill()


def test_storage_is_back_after_killed_vm_with_queued_data(system):
    """Trailing data queued for a VM that dies is freed with its LOGOFF."""
    victim = Child("idle", "VICTIM", "hang")
    victim.expect("READY")
    with shmcp.logon("sender") as vm:
        with System.attach(system) as s:
            free = s.storage_free()
            for i in range(50):
                vm.queue_interrupt("victim", bytes(40), facility="VMCF", data=b"x" * (1000 + i))
            assert s.storage_free() < free
            victim.kill()
            eventually(lambda: s.live_count() == 1, what="LOGOFF of the killed VM")
            assert s.storage_free() == free
