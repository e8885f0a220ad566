"""LOGON, LOGOFF and death of virtual machines, IPL and shutdown."""
from __future__ import annotations

import os
import signal

import pytest

import shmcp
from shmcp.system import System
from vms import Child, eventually


def names(system: str) -> list[str]:
    with System.attach(system) as s:
        return [u for u, _ in s.names()]


def logoffs(system: str) -> int:
    with System.attach(system) as s:
        return s.logoff_count()


def test_logon_ipls_the_system_when_it_is_not_up(system):
    assert not os.path.exists(f"/dev/shm/shmcp.{system}")
    with shmcp.logon("alice") as vm:
        assert vm.userid == "ALICE" and vm.system == system
        assert os.path.exists(f"/dev/shm/shmcp.{system}")
        assert oct(os.stat(f"/dev/shm/shmcp.{system}").st_mode & 0o777) == "0o600"
        assert names(system) == ["ALICE"]
    assert names(system) == []


def test_userid_is_folded_and_padded(system):
    assert shmcp.userid_bytes("ab@#$9") == b"AB@#$9  "
    assert shmcp.userid_bytes(b"x") == b"X       "
    with shmcp.logon("bob") as vm:
        assert vm.userid8 == b"BOB     "


def test_userid_held_by_a_live_process_cannot_log_on_again(system):
    child = Child("idle", "CAROL", "logoff")
    try:
        child.expect("READY")
        with pytest.raises(shmcp.AlreadyLoggedOn, match="live process"):
            shmcp.logon("carol")
        child.tell()
        child.expect("DONE")
        assert child.wait() == 0
        with shmcp.logon("carol"):  # at once, after its LOGOFF
            pass
    finally:
        child.kill()


def test_one_virtual_machine_per_process(system):
    with shmcp.logon("dave"):
        with pytest.raises(shmcp.ShmcpError, match="one VM per process"):
            shmcp.logon("erin")
    with shmcp.logon("erin"):
        pass


def test_logoff_is_idempotent_and_runs_the_hook_once(system):
    vm = shmcp.logon("frank")
    before = logoffs(system)
    vm.logoff()
    vm.logoff()
    assert logoffs(system) == before + 1
    assert not vm.logged_on
    with pytest.raises(shmcp.NotLoggedOn):
        vm.queue_interrupt("frank", bytes(40))


@pytest.mark.parametrize("how", ["logoff", "exit", "raise", "kill"])
def test_every_way_a_vm_ends_is_one_logoff(system, how):
    """logoff(), normal exit, an uncaught exception and SIGKILL all free the
    slot, run the hook exactly once, and let the userid log on again."""
    watcher = shmcp.logon("watcher")  # a VM whose watchdog notices deaths
    child = Child("idle", "GONE", "hang" if how == "kill" else how)
    try:
        child.expect("READY")
        before = logoffs(system)
        if how == "kill":
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            # the watchdog of another VM logs it off (no daemon, no logon
            # needed); names() leaves a dead VM out at once, so wait for
            # the LOGOFF itself
            eventually(lambda: logoffs(system) == before + 1, what="LOGOFF of the killed VM")
            assert "GONE" not in names(system)
        else:
            child.tell()
            child.expect("DONE")
            child.wait()
            assert "GONE" not in names(system)
        assert logoffs(system) == before + 1
        # a later reap or logon must not run the hook a second time
        with System.attach(system) as s:
            s.live_count()
        assert logoffs(system) == before + 1
        again = Child("idle", "GONE", "logoff")
        again.expect("READY")
        again.tell()
        again.expect("DONE")
        assert again.wait() == 0
    finally:
        child.kill()
        watcher.logoff()


def test_killed_vm_userid_logs_on_again_at_once(system):
    child = Child("idle", "ZED", "hang")
    try:
        child.expect("READY")
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        with shmcp.logon("zed") as vm:  # logon logs the dead holder off first
            assert vm.logged_on
    finally:
        child.kill()


def test_ipl_of_a_system_that_is_up_is_an_error(system):
    shmcp.ipl(system)
    with shmcp.logon("gina"):
        with pytest.raises(shmcp.ShmcpError, match="already up"):
            shmcp.ipl(system)


def test_segment_whose_vms_all_died_is_recovered_at_ipl_and_logon(system):
    child = Child("idle", "HAL", "hang")
    try:
        child.expect("READY")
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        shmcp.ipl(system, max_vms=8)  # the stale segment is replaced
        with System.attach(system) as s:
            assert s.max_vms == 8 and s.names() == []
    finally:
        child.kill()
    child = Child("idle", "HAL", "hang")
    try:
        child.expect("READY")
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        with shmcp.logon("ivan"):
            assert names(system) == ["IVAN"]
    finally:
        child.kill()


def test_shutdown_removes_the_segment_and_wakes_waiting_vms(system):
    child = Child("idle", "JOE", "hang")
    try:
        child.expect("READY")
        assert shmcp.shutdown(system) is True
        assert not os.path.exists(f"/dev/shm/shmcp.{system}")
        assert shmcp.shutdown(system) is False
    finally:
        child.kill()


def test_shutdown_logs_off_this_process_and_a_waiter_sees_systemdown(system):
    vm = shmcp.logon("kim")
    shmcp.shutdown(system)
    assert not vm.logged_on
    vm2 = shmcp.logon("kim")  # IPLs a fresh system
    with System.attach(system) as s:
        s_handle = s
        import shmcp._native as n
        n.lib.shmcp_mark_down(s_handle.handle)  # another process's shutdown
    with pytest.raises(shmcp.SystemDown):
        vm2.wait(timeout=5)
    assert not vm2.logged_on
    shmcp.shutdown(system)


def test_forced_logoff_is_seen_by_the_vm(system):
    vm = shmcp.logon("lee")
    from shmcp.cli import main
    assert main(["force", "lee", "--system", system]) == 0
    with pytest.raises(shmcp.NotLoggedOn, match="forced"):
        vm.wait(timeout=5)


def test_vms_logging_on_at_once_share_one_embedded_ipl(system):
    """Several processes find the system down and IPL it at the same time:
    all end up on the one system (none is refused, none replaced)."""
    kids = [Child("idle", f"VM{i}", "logoff") for i in range(6)]
    try:
        for k in kids:
            k.expect("READY")
        assert sorted(names(system)) == [f"VM{i}" for i in range(6)]
        for k in kids:
            k.tell()
            k.expect("DONE")
            assert k.wait() == 0
    finally:
        for k in kids:
            k.kill()
