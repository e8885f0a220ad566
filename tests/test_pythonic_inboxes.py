"""The Pythonic layer's two inboxes (the VM's, and a path's own, filed only
once the program receives from that path): vm.receive and path.receive
mixed on two paths take every message once, each path's in order, also
the messages that came before the first path.receive; a path severed by
its partner is settled once its last message is taken.  Real processes."""
from __future__ import annotations

import pytest

import shmcp
from script_child import child, finish, line


def test_vm_and_path_receive_mixed_take_each_message_once(system):
    with shmcp.logon("server") as vm:
        vm.accept_all()
        client = child("""
            import shmcp
            vm = shmcp.logon("client")
            a = vm.connect("server", timeout=30)
            b = vm.connect("server", timeout=30)
            print("PATHS", a.pathid, b.pathid, flush=True)
            for i in range(5):
                a.send(b"m%d" % i, one_way=True)
            for i in range(3):
                b.send(b"n%d" % i, one_way=True)
            for i in range(5, 10):
                a.send(b"m%d" % i, one_way=True)
            a.sever()
            b.sever()
            print("SENT", flush=True)
            input()
            """)
        try:
            assert line(client).startswith("PATHS")
            assert line(client) == "SENT"
            first = vm.receive(timeout=30)   # files all 13 in the VM's inbox only
            assert first.data == b"m0"
            a = first.path
            assert a.receive(timeout=30).data == b"m1"   # a's own inbox made now
            assert vm.receive(timeout=30).data == b"m2"  # m1 is passed over
            got = vm.receive(timeout=30)
            assert got.data == b"m3"
            assert a.receive(timeout=30).data == b"m4"
            n0 = vm.receive(timeout=30)
            assert n0.data == b"n0"
            b = n0.path
            assert b is not a
            assert b.receive(timeout=30).data == b"n1"  # b's own inbox made now
            assert vm.receive(timeout=30).data == b"n2"  # n1 passed over
            with pytest.raises(shmcp.PathSevered):
                b.receive(timeout=30)
            assert vm.receive(timeout=30).data == b"m5"
            assert [m.data for m in a] == [b"m%d" % i for i in range(6, 10)]
            with pytest.raises(shmcp.PathSevered):
                a.receive(timeout=30)
            with pytest.raises(TimeoutError):
                vm.receive(timeout=0.05)
            # both ends settled: the owed SEVERs were made once the last was taken
            assert vm.paths == [] and not a._sever_owed and not b._sever_owed
        finally:
            finish(client)


@pytest.mark.parametrize("policy", ["accept_all", "accept"])
def test_a_zero_timeout_takes_what_is_queued(system, policy):
    """timeout=0 looks once: messages already queued (not yet taken from
    the interrupt queue) come back; only an empty queue raises TimeoutError.
    With accept_all its thread may be the one waiting on the queue."""
    with shmcp.logon("server") as vm:
        if policy == "accept_all":
            vm.accept_all()
        client = child("""
            import shmcp
            vm = shmcp.logon("client")
            p = vm.connect("server", timeout=30)
            for i in range(4):
                p.send(b"q%d" % i, one_way=True)
            print("SENT", flush=True)
            input()
            """)
        try:
            if policy == "accept":
                vm.accept(timeout=30)
            assert line(client) == "SENT"
            first = vm.receive(timeout=0)
            assert first.data == b"q0"
            assert first.path.receive(timeout=0).data == b"q1"
            assert [m.data for m in vm.messages(timeout=0)] == [b"q2", b"q3"]
            with pytest.raises(TimeoutError):
                vm.receive(timeout=0)
        finally:
            finish(client)
