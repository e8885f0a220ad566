"""Shared fixtures: a fresh system per test, and the /dev/shm check (shmcp.testing)."""
from __future__ import annotations

import os
import signal

import pytest
from hypothesis import settings

import shmcp
from shmcp.system import shm_name
from shmcp.testing import private_system_name, shm_left

# CI runs the same examples every time (a submission must not fail on a new
# random draw); `make stress` and developers' runs explore fresh ones.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# The suite tests Ctrl-C.  A shell starts a background job (`make test &`,
# nohup) with SIGINT ignored, and Python then installs no KeyboardInterrupt
# handler; its children would inherit the ignoring too.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def nothing_left_in_dev_shm():
    """Every test must leave /dev/shm as it found it."""
    before = shm_left()
    yield
    vm = shmcp.current()
    if vm is not None:
        vm.logoff()
    left = shm_left() - before
    for name in left:  # clean up so one failure does not cascade
        try:
            os.unlink("/dev/shm" + shm_name(name))
        except FileNotFoundError:
            pass
    assert not left, f"left in /dev/shm: {sorted(left)}"


@pytest.fixture
def system(monkeypatch):
    """A unique system name for this test, set as $SHMCP_SYSTEM for the
    children too; shut down afterwards."""
    name = private_system_name("test")
    monkeypatch.setenv("SHMCP_SYSTEM", name)
    yield name
    shmcp.shutdown(name)
    assert not os.path.exists("/dev/shm" + shm_name(name))
