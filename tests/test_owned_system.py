"""``shmcp.ipl()`` as a program's own system (shmcp.session.OwnedSystem):
``with`` makes it the default of this process and of the processes it
starts, and shuts it down on leaving, by an exception too; the plain
statement leaves the system up and the environment as it was."""
from __future__ import annotations

import multiprocessing as mp
import os
import re

import pytest

import shmcp
from shmcp.system import shm_name
from shmcp.testing import private_system_name


def up(name: str) -> bool:
    return os.path.exists("/dev/shm" + shm_name(name))


def _log_on_and_report(userid: str, report) -> None:
    """A child: log on with no system= and say which system it reached."""
    with shmcp.logon(userid) as vm:
        report.put(vm.system)


@pytest.fixture
def no_default(monkeypatch):
    """No $SHMCP_SYSTEM in this test, whatever the environment had."""
    monkeypatch.delenv("SHMCP_SYSTEM", raising=False)


@pytest.mark.parametrize("start", ["fork", "spawn"])
def test_with_is_the_default_of_its_children_and_shuts_down(no_default, start):
    name = private_system_name("owned")
    ctx = mp.get_context(start)
    report = ctx.Queue()
    with shmcp.ipl(name, max_vms=8) as system:
        assert isinstance(system, shmcp.OwnedSystem) and system.name == name
        assert os.environ["SHMCP_SYSTEM"] == name and up(name)
        child = ctx.Process(target=_log_on_and_report, args=("child", report))
        child.start()
        assert report.get(timeout=60) == name   # found it without system=
        child.join(60)
        assert child.exitcode == 0
        with shmcp.logon("parent") as vm:       # this process's default too
            assert vm.system == name
    assert not up(name)
    assert "SHMCP_SYSTEM" not in os.environ


def test_leaving_by_an_exception_shuts_down_and_restores(monkeypatch):
    monkeypatch.setenv("SHMCP_SYSTEM", "before")
    name = private_system_name("owned")
    with pytest.raises(RuntimeError, match="inside"):
        with shmcp.ipl(name):
            vm = shmcp.logon("inside")
            raise RuntimeError("inside")
    assert not up(name)
    assert not vm.logged_on                      # shutdown logged this process's VM off
    assert os.environ["SHMCP_SYSTEM"] == "before"


def test_the_plain_statement_leaves_the_system_up(no_default):
    name = private_system_name("owned")
    system = shmcp.ipl(name)
    try:
        assert system.name == name and up(name)
        assert "SHMCP_SYSTEM" not in os.environ  # only `with` changes the default
        with pytest.raises(shmcp.ShmcpError, match="already up"):
            with shmcp.logon("holder", system=name):
                shmcp.ipl(name)                  # as before: a live system is not replaced
    finally:
        assert system.shutdown() is True
    assert not up(name)
    assert system.shutdown() is False            # as shmcp.shutdown: it was not up


def test_unique_names_are_new_and_named_after_the_base(no_default):
    with shmcp.ipl("owned", unique=True) as a, shmcp.ipl("owned", unique=True) as b:
        assert a.name != b.name
        for system in (a, b):
            assert re.fullmatch(rf"owned-{os.getpid()}-\d+", system.name), system.name
            assert up(system.name)
        assert os.environ["SHMCP_SYSTEM"] == b.name   # the inner block's
    assert not up(a.name) and not up(b.name)


def test_unique_passes_over_a_segment_that_is_there(no_default):
    """A name whose segment exists (a leftover of a dead process with this
    pid, say) is not taken, and the leftover is not touched."""
    first = shmcp.ipl("owned", unique=True)
    try:
        taken = first.name
        prefix, n = taken.rsplit("-", 1)
        for later in range(int(n) + 1, int(n) + 4):  # the next names are there already
            shmcp.ipl(f"{prefix}-{later}")
        with shmcp.ipl("owned", unique=True) as fresh:
            assert int(fresh.name.rsplit("-", 1)[1]) >= int(n) + 4
    finally:
        for k in range(int(n), int(n) + 4):
            shmcp.shutdown(f"{prefix}-{k}")
    assert not up(fresh.name)


def test_a_forked_child_leaving_the_block_does_not_shut_down(no_default):
    name = private_system_name("owned")
    with shmcp.ipl(name) as system:
        pid = os.fork()
        if pid == 0:  # the child leaves the block as a copy would: no shutdown
            system.__exit__(None, None, None)
            os._exit(0 if up(name) else 1)
        assert os.waitpid(pid, 0)[1] == 0
        assert up(name)
    assert not up(name)


def test_bad_arguments():
    with pytest.raises(TypeError, match="unique"):
        shmcp.ipl("owned", unique=1)
    with pytest.raises(ValueError, match="system name"):
        shmcp.ipl("no/slash", unique=True)
    with pytest.raises(TypeError, match="limit"):
        shmcp.ipl("owned", unique=True, bogus=1)
