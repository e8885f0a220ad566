"""The Pythonic layer between two real processes: connections, messages,
errors from real conditions.  The test process is one VM (CLIENT or
SERVER), a child the other."""
from __future__ import annotations

import os
import signal
import tempfile

import pytest

import shmcp
from script_child import child, finish, line, serving, tell

ECHO_SERVER = """
    import shmcp
    vm = shmcp.logon("server")
    vm.accept_all()
    print("READY", flush=True)
    for msg in vm.messages():
        if msg.data == b"reject":
            msg.reject()
        elif msg.data.startswith(b"long"):
            msg.reply(b"0123456789")
        elif msg.data == b"die":
            import os, signal
            os.kill(os.getpid(), signal.SIGKILL)
        elif not msg.one_way:
            msg.reply(msg.data.upper())
        else:
            print("ONE-WAY", msg.data.decode(), msg.trgcls, msg.priority, flush=True)
    """


@pytest.fixture
def server(system):
    with serving(ECHO_SERVER) as proc:
        yield proc


def test_request_reply_and_one_way(server):
    with shmcp.logon("client") as vm:
        with vm.connect("server", timeout=30) as path:
            assert isinstance(path, shmcp.Path)
            assert path.partner == "SERVER" and not path.severed and not path.quiesced
            assert 1 <= path.msglim <= 255
            assert vm.paths == [path]
            assert path.send(b"hello") == b"HELLO"
            assert path.send(bytearray(b"abc")) == b"ABC"
            assert path.send(memoryview(b"xyz")) == b"XYZ"
            assert path.send(b"") == b""
            big = bytes(range(256)) * 1000
            assert path.send(big, reply_size=len(big)) == big.upper()
            assert path.send(b"tick", one_way=True, trgcls=7) is None
            assert line(server) == "ONE-WAY tick 7 False"
            pendings = [path.send_nowait(b"n%d" % i) for i in range(20)]
            assert [p.result(timeout=30) for p in pendings] == [b"N%d" % i for i in range(20)]
            assert path.send_nowait(b"x", one_way=True).result() is None
        assert path.severed and vm.paths == []
        path.sever()  # idempotent
        with pytest.raises(shmcp.PathSevered):
            path.send(b"after")


def test_rejected_and_truncated(server):
    with shmcp.logon("client") as vm:
        path = vm.connect("server", timeout=30)
        with pytest.raises(shmcp.MessageRejected) as rej:
            path.send(b"reject")
        assert isinstance(rej.value, shmcp.IUCVError)
        with pytest.raises(shmcp.ReplyTruncated) as cut:
            path.send(b"long", reply_size=4)
        assert cut.value.data == b"0123" and cut.value.missing == 6
        assert path.send(b"long", reply_size=10) == b"0123456789"
        assert path.send(b"still") == b"STILL"  # the path is fine


def test_crashed_partner_is_path_severed(server):
    with shmcp.logon("client") as vm:
        path = vm.connect("server", timeout=30)
        with pytest.raises(shmcp.PathSevered):
            path.send(b"die", timeout=30)  # the server is killed -9 on reading it
        server.wait(timeout=30)
        with pytest.raises(shmcp.PathSevered):
            path.receive(timeout=30)
        with pytest.raises(shmcp.PathSevered):
            path.send(b"more")
        assert path.severed


def test_not_logged_on(system):
    with shmcp.logon("client") as vm:
        with pytest.raises(shmcp.NotLoggedOn) as err:
            vm.connect("nobody")
        assert err.value.rc == 11 and isinstance(err.value, shmcp.IUCVError)
        with pytest.raises(TimeoutError):
            vm.connect("nobody", wait=True, timeout=0.2)


def test_connect_waits_for_the_target(system):
    with shmcp.logon("client") as vm:
        proc = child(ECHO_SERVER)
        try:
            path = vm.connect("server", wait=True, timeout=30)
            assert line(proc) == "READY"
            assert path.send(b"late") == b"LATE"
        finally:
            finish(proc)


def test_not_authorized(system):
    fd, name = tempfile.mkstemp(suffix=".toml")
    with os.fdopen(fd, "w") as f:
        f.write('[default]\niucv = ["ANY"]\n[CLIENT]\niucv = ["OTHER"]\n')
    try:
        shmcp.ipl(system, directory=name)
        proc = child(ECHO_SERVER)
        try:
            assert line(proc) == "READY"
            with shmcp.logon("client") as vm:
                with pytest.raises(shmcp.NotAuthorized) as err:
                    vm.connect("server")
                assert err.value.rc == 15
        finally:
            finish(proc)
    finally:
        os.unlink(name)


def test_connection_refused(system):
    refuser = child("""
        import shmcp
        from shmcp import iucv, PathPlist
        vm = shmcp.logon("server")
        iucv.dclbfr(PathPlist())
        print("READY", flush=True)
        while (ev := vm.wait()).type != iucv.IPTYPE_PENDING_CONNECTION:
            pass
        iucv.sever(PathPlist(pathid=ev.pathid))
        print("SEVERED", flush=True)
        input()
        """)
    try:
        assert line(refuser) == "READY"
        with shmcp.logon("client") as vm:
            with pytest.raises(shmcp.ConnectionRefused):
                vm.connect("server", timeout=30)
            assert vm.paths == []
    finally:
        finish(refuser)


def test_accept_and_path_receive(system):
    """The test process is the server: accept() one connection, take its
    messages with path.receive and iter(path), see it severed."""
    with shmcp.logon("server") as vm:
        with pytest.raises(TimeoutError):
            vm.accept(timeout=0.05)
        client = child("""
            import shmcp
            vm = shmcp.logon("client")
            path = vm.connect("server", timeout=30)
            assert path.send(b"two-way", trgcls=3, priority=False) == b"ok"
            for i in range(5):
                path.send(b"m%d" % i, one_way=True)
            path.sever()
            print("DONE", flush=True)
            input()
            """)
        try:
            path = vm.accept(timeout=30)
            assert path.partner == "CLIENT"
            msg = path.receive(timeout=30)
            assert (msg.data, msg.trgcls, msg.one_way, msg.path) == (b"two-way", 3, False, path)
            msg.reply(b"ok")
            with pytest.raises(ValueError):
                msg.reply(b"twice")
            assert line(client) == "DONE"
            first = path.receive(timeout=30)
            assert first.one_way and first.data == b"m0"
            with pytest.raises(ValueError, match="one-way"):
                first.reply(b"x")
            assert [m.data for m in path] == [b"m%d" % i for i in range(1, 5)]
            with pytest.raises(shmcp.PathSevered):
                path.receive(timeout=30)
            with pytest.raises(TimeoutError):
                vm.receive(timeout=0.05)  # no error for the severed path
            assert list(vm.messages(timeout=0.05)) == []
        finally:
            finish(client)


def test_bad_arguments(server):
    with shmcp.logon("client") as vm:
        with pytest.raises(ValueError, match="timeout"):
            vm.connect("server", timeout=-1)
        with pytest.raises(ValueError, match="msglim"):
            vm.connect("server", msglim=0)
        with pytest.raises(TypeError, match="msglim"):
            vm.connect("server", msglim="10")
        with pytest.raises(ValueError, match="userid"):
            vm.connect("much-too-long")
        path = vm.connect("server", timeout=30)
        with pytest.raises(TypeError, match="data must be a bytes-like object"):
            path.send("text")
        with pytest.raises(ValueError, match="trgcls"):
            path.send(b"x", trgcls=-1)
        for falsy in (None, False, 0.0, ""):  # (not taken for 0)
            with pytest.raises(TypeError, match="trgcls"):
                path.send(b"x", trgcls=falsy)
            with pytest.raises(TypeError, match="srccls"):
                path.send_nowait(b"x", srccls=falsy)
            with pytest.raises(TypeError, match="msgtag"):
                path.send(b"x", one_way=True, msgtag=falsy)
        with pytest.raises(TypeError, match="reply_size"):
            path.send(b"x", reply_size=1.5)
        with pytest.raises(TypeError, match="timeout"):
            vm.receive(timeout="soon")
        assert path.send(b"fine") == b"FINE"


def test_notloggedon_is_both(system):
    err = shmcp.NotLoggedOn("x is not logged on")
    assert isinstance(err, shmcp.ShmcpError) and isinstance(err, shmcp.IUCVError)
    assert err.rc == 11
