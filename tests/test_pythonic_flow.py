"""The Pythonic layer's flow control, threads, events, accept-all and
Ctrl-C, between real processes."""
from __future__ import annotations

import signal
import threading

import pytest

import shmcp
from script_child import child, finish, line, serving, tell

# A server that accepts one connection, then does what its stdin says:
# "take N" receives N messages (printing them), "quiesce" / "resume".
CONTROLLED_SERVER = """
    import shmcp
    vm = shmcp.logon("server")
    vm.accept_all(msglim={msglim})
    print("READY", flush=True)
    while True:
        cmd = input().split()
        if cmd[0] == "take":
            got = [vm.receive(timeout=30).data.decode() for _ in range(int(cmd[1]))]
            print(" ".join(got), flush=True)
        elif cmd[0] in ("quiesce", "resume"):
            getattr(vm.paths[0], cmd[0])()
            print("DONE", flush=True)
    """


@pytest.fixture
def controlled(system):
    with serving(CONTROLLED_SERVER.format(msglim=2)) as proc:
        yield proc


def test_message_limit_back_pressure(controlled):
    """At the limit a send waits (or raises with block=False, or times
    out); every message still arrives, in order: back-pressure, never loss."""
    with shmcp.logon("client") as vm:
        path = vm.connect("server", timeout=30)
        assert path.msglim == 2
        path.send(b"a", one_way=True)
        path.send(b"b", one_way=True)
        with pytest.raises(shmcp.MessageLimitExceeded) as err:
            path.send(b"c", one_way=True, block=False)
        assert err.value.rc == 3
        with pytest.raises(TimeoutError):
            path.send(b"c", one_way=True, timeout=0.1)
        done = threading.Event()

        def more() -> None:
            for i in range(20):
                path.send(b"m%d" % i, one_way=True, timeout=60)
            done.set()
        sender = threading.Thread(target=more)
        sender.start()
        tell(controlled, "take 22")
        assert line(controlled) == "a b " + " ".join(f"m{i}" for i in range(20))
        sender.join(60)
        assert done.is_set()


def test_quiesce_and_resume(controlled):
    with shmcp.logon("client") as vm:
        path = vm.connect("server", timeout=30)
        tell(controlled, "quiesce")
        assert line(controlled) == "DONE"
        with pytest.raises(shmcp.PathQuiesced) as err:
            for _ in range(1000):  # until the quiesce is seen
                path.send(b"q", one_way=True, block=False)
                tell(controlled, "take 1")
                assert line(controlled) == "q"
        assert err.value.rc == 2
        sent = threading.Event()
        t = threading.Thread(target=lambda: (path.send(b"waited", one_way=True, timeout=60),
                                             sent.set()))
        t.start()
        tell(controlled, "resume")
        assert line(controlled) == "DONE"
        t.join(60)
        assert sent.is_set() and not path.quiesced
        tell(controlled, "take 1")
        assert line(controlled) == "waited"


def test_threads_share_a_vm(system):
    """Four server threads take messages and four client threads send on
    one path at once: every reply goes to its own sender."""
    server = child("""
        import threading, shmcp
        vm = shmcp.logon("server")
        vm.accept_all()
        def work():
            for msg in vm.messages(timeout=5):
                msg.reply(msg.data[::-1])
        ts = [threading.Thread(target=work) for _ in range(4)]
        [t.start() for t in ts]
        print("READY", flush=True)
        [t.join() for t in ts]
        print("END", flush=True)
        """)
    try:
        assert line(server) == "READY"
        with shmcp.logon("client") as vm:
            path = vm.connect("server", timeout=30)
            wrong: list = []

            def client(n: int) -> None:
                for i in range(200):
                    data = b"%d-%d" % (n, i)
                    if path.send(data, timeout=60) != data[::-1]:
                        wrong.append(data)
            ts = [threading.Thread(target=client, args=(n,)) for n in range(4)]
            [t.start() for t in ts]
            [t.join(120) for t in ts]
            assert not any(t.is_alive() for t in ts) and wrong == []
    finally:
        finish(server)


def test_threads_send_one_way_on_one_path_each_with_its_own_data_and_class(system):
    """One-way sends with and without a class, and two-way ones from
    another thread, on one path at once: each message arrives with its own
    data and its own class, in its sender's order."""
    server = child("""
        import shmcp
        vm = shmcp.logon("server")
        vm.accept_all(msglim=4)
        print("READY", flush=True)
        got = {}
        while sum(len(v) for v in got.values()) < 3 * 300:
            msg = vm.receive(timeout=30)
            got.setdefault(msg.trgcls, []).append(msg.data)
            if not msg.one_way:
                msg.reply(msg.data)
        for cls in sorted(got):
            print(cls, ",".join(d.decode() for d in got[cls]), flush=True)
        """)
    try:
        assert line(server) == "READY"
        with shmcp.logon("client") as vm:
            path = vm.connect("server", timeout=30)
            wrong: list = []

            def mixed() -> None:  # a classed SEND, then the fast path's
                for i in range(300):
                    path.send(b"c%d" % i, one_way=True, trgcls=7)
                    path.send(b"p%d" % i, one_way=True)

            def two_way() -> None:
                for i in range(300):
                    if path.send(b"t%d" % i, trgcls=9, timeout=60) != b"t%d" % i:
                        wrong.append(i)
            ts = [threading.Thread(target=f) for f in (mixed, two_way)]
            [t.start() for t in ts]
            [t.join(120) for t in ts]
            assert not any(t.is_alive() for t in ts) and wrong == []
            assert [line(server) for _ in range(3)] == [
                "%d %s" % (cls, ",".join("%s%d" % (tag, i) for i in range(300)))
                for cls, tag in ((0, "p"), (7, "c"), (9, "t"))]
    finally:
        finish(server)


def test_ctrl_c_interrupts_receive_and_send(system):
    proc = child("""
        import shmcp
        vm = shmcp.logon("client")
        vm.accept_all()
        for what in ("receive", "accept"):
            try:
                print("WAITING", flush=True)
                vm.receive() if what == "receive" else vm.accept()
            except KeyboardInterrupt:
                print("KI", what, flush=True)
        """)
    try:
        for what in ("receive", "accept"):
            assert line(proc) == "WAITING"
            line(proc, 0.2)  # let it block
            proc.send_signal(signal.SIGINT)
            assert line(proc) == f"KI {what}"
    finally:
        finish(proc)


def test_accept_all_while_busy_and_events(system):
    """accept_all accepts while the program is busy elsewhere (here: in
    time.sleep); the Pythonic events name what happened."""
    server = child("""
        import time, shmcp
        vm = shmcp.logon("server")
        events = vm.events(timeout=30)
        vm.accept_all()
        print("BUSY", flush=True)
        time.sleep(60)
        """)
    try:
        assert line(server) == "BUSY"
        with shmcp.logon("client") as vm:
            path = vm.connect("server", timeout=30)  # while the server sleeps
            assert not path.severed
            path.send(b"hi", one_way=True)
            events = vm.events(timeout=30)
            finish(server)  # killed: the path is severed
            names = []
            for ev in events:
                names.append(ev.name)
                if ev.name == "path_severed":
                    assert ev.path is path
                    break
            assert "path_severed" in names
            assert path.severed
    finally:
        finish(server)


def test_events_of_a_server(system):
    server = child("""
        import shmcp
        vm = shmcp.logon("server")
        seen = []
        events = vm.events(timeout=10)
        vm.accept_all()
        print("READY", flush=True)
        for ev in events:
            seen.append(ev.name)
            if ev.name == "message_pending":
                ev.message.reply(b"ok")
            if ev.name == "path_severed":
                break
        print(" ".join(seen), flush=True)
        """)
    try:
        assert line(server) == "READY"
        with shmcp.logon("client") as vm:
            with vm.connect("server", timeout=30) as path:
                assert path.send(b"x") == b"ok"
        assert line(server) == "path_pending message_pending path_severed"
    finally:
        finish(server)


def test_events_are_recorded_from_the_call_not_the_first_next(system):
    """With the layer in use, vm.events() records from the call itself: a
    message that comes before the program first iterates is still an
    event (the generator used to start recording at its first next())."""
    with shmcp.logon("server") as vm:
        vm.accept_all()
        events = vm.events(timeout=10)
        sender = child("""
            import shmcp
            with shmcp.logon("client") as vm:
                with vm.connect("server", timeout=30) as path:
                    path.send(b"early", one_way=True)
            print("SENT", flush=True)
            """)
        try:
            assert line(sender) == "SENT"
            pending = next(ev for ev in events if ev.name == "message_pending")
            assert pending.message.data == b"early"
        finally:
            finish(sender)


def test_receive_timeouts(system):
    with shmcp.logon("alone") as vm:
        with pytest.raises(TimeoutError):
            vm.receive(timeout=0)
        with pytest.raises(TimeoutError):
            vm.accept(timeout=0.01)
        assert list(vm.messages(timeout=0.01)) == []
        assert list(vm.events(timeout=0.01)) == []
        assert vm.paths == []


def test_messages_outlive_the_sever(system):
    """A client sends five messages and severs while the server is busy
    elsewhere; accept_all's thread files the sever meanwhile.  The
    messages still arrive, all of them: the server's end waits for them
    to be taken before it severs too."""
    server = child("""
        import time, shmcp
        vm = shmcp.logon("server")
        vm.accept_all()
        print("READY", flush=True)
        input()                      # busy: the acceptor files everything
        time.sleep(0.3)
        print(" ".join(m.data.decode() for m in vm.messages(timeout=1)), flush=True)
        """)
    try:
        assert line(server) == "READY"
        with shmcp.logon("client") as vm:
            with vm.connect("server", timeout=30) as path:
                for i in range(5):
                    path.send(b"m%d" % i, one_way=True)
            tell(server, "go")
            assert line(server) == "m0 m1 m2 m3 m4"
    finally:
        finish(server)
