"""What a newcomer gets wrong, and the error that says so: objects kept
after LOGOFF, a faithful call before DECLARE BUFFER, arguments of the
wrong kind.  The test process is the client, a child the echo server."""
from __future__ import annotations

import pytest

import shmcp
from shmcp import iucv
from script_child import UPPER_ECHO, serving


@pytest.fixture
def server(system):
    with serving(UPPER_ECHO) as proc:
        yield proc


def test_a_path_kept_after_logoff_is_severed_not_the_next_vms(server):
    """Before: the old Path sent as the VM logged on next (ProgramCheck
    "operation exception"), and that VM's Pythonic layer was broken."""
    vm = shmcp.logon("client")
    path = vm.connect("server", timeout=30)
    assert path.send(b"a") == b"A"
    vm.logoff()
    assert path.severed and vm.paths == []
    with shmcp.logon("other") as vm2:
        for call in (lambda: path.send(b"x"), lambda: path.send(b"x", one_way=True),
                     lambda: path.send_nowait(b"x"), path.quiesce):
            with pytest.raises(shmcp.PathSevered, match="CLIENT logged off"):
                call()
        with vm2.connect("server", timeout=30) as path2:
            assert path2.send(b"b") == b"B"


def test_a_vm_object_after_logoff_says_so(server):
    """Before: connect ran as the VM logged on next; accept_all and
    events went on silently (events even yielded an old Event)."""
    vm = shmcp.logon("client")
    with vm.connect("server", timeout=30) as path:
        path.send(b"a")
    vm.logoff()
    with shmcp.logon("other") as vm2:
        for call in (lambda: vm.connect("server"), vm.accept_all, lambda: vm.accept(timeout=0),
                     lambda: next(vm.events(timeout=0))):
            with pytest.raises(shmcp.NotLoggedOn, match="CLIENT is not logged on.*logged off"):
                call()
        with vm2.connect("server", timeout=30) as path2:
            assert path2.send(b"b") == b"B"


def test_a_faithful_call_before_declare_does_not_break_the_layer(server):
    """Before: a two-way iucv.send before DECLARE BUFFER (a ProgramCheck,
    rightly) made the layer skip its own DECLARE BUFFER, so every later
    connect was a ProgramCheck too."""
    with shmcp.logon("client") as vm:
        with pytest.raises(shmcp.ProgramCheck, match="operation"):
            iucv.send(shmcp.MsgPlist(pathid=0, bf1=b"x", bf2=bytearray(8)))
        with vm.connect("server", timeout=30) as path:
            assert path.send(b"c") == b"C"


def test_a_connect_nobody_accepts_says_so_when_it_times_out(system):
    """Before: TimeoutError('timed out'), which named neither the call nor
    the target.  (A VM may connect to itself; nobody accepts here.)"""
    with shmcp.logon("client") as vm:
        with pytest.raises(TimeoutError, match="connect: CLIENT did not accept the "
                                               "connection within 0.2 seconds"):
            vm.connect("client", timeout=0.2)
        assert vm.paths == []


def test_user_data_is_bytes_or_ascii_text_for_connect_and_sever_alike(server):
    """Before: connect took user="text" but sever raised TypeError for it,
    and a non-ASCII str was UnicodeEncodeError naming no argument."""
    with shmcp.logon("client") as vm:
        with pytest.raises(ValueError, match="user 'é' is not ASCII"):
            vm.connect("server", user="é", timeout=30)
        path = vm.connect("server", user="hello", timeout=30)
        with pytest.raises(ValueError, match="user is 17 bytes; at most 16"):
            path.sever(user="x" * 17)
        with pytest.raises(TypeError, match="user must be bytes or str, not int"):
            path.sever(user=5)
        assert not path.severed
        path.sever(user="goodbye")
        assert path.severed


def test_a_second_logon_in_one_process_is_already_logged_on(system):
    """The reference lists it under AlreadyLoggedOn; before, it was a bare
    ShmcpError, which `except shmcp.AlreadyLoggedOn` missed."""
    with shmcp.logon("dave"):
        for userid in ("dave", "erin"):
            with pytest.raises(shmcp.AlreadyLoggedOn, match="already logged on as DAVE"):
                shmcp.logon(userid)


def test_the_core_calls_name_a_wrong_kind_of_argument(system):
    """Before: sigmask('x') was int()'s 'invalid literal', queue_interrupt
    with a str record bytes()'s 'string argument without an encoding',
    and with an int record (bytes(40): zeros) it queued silently."""
    with pytest.raises(TypeError, match="sigmask.. takes a signal number, not str"):
        shmcp.sigmask("x")
    assert shmcp.sigmask(shmcp.SIGIUCV) == 1 << (shmcp.SIGIUCV - 1)
    with shmcp.logon("alice") as vm:
        for record, kind in (("x" * 40, "str"), (40, "int")):
            with pytest.raises(TypeError, match=f"record must be a bytes-like object, not {kind}"):
                vm.queue_interrupt("alice", record)
        with pytest.raises(TypeError, match="data must be a bytes-like object, not str"):
            vm.queue_interrupt("alice", bytes(40), data="text")
        assert vm.pending() == 0
        vm.queue_interrupt("alice", memoryview(bytes(40)))
        assert vm.pending() == 1
