"""A Message or a Pending kept after its VM logged off, used once this
process logged on as another VM: LOGOFF ended it (CP severed its paths),
so it raises PathSevered saying so, and never acts as the VM logged on
next.  The test process is the server, a child the client."""
from __future__ import annotations

import asyncio

import pytest

import shmcp
from script_child import child, finish, line, tell

# a client that sends two two-way messages to SRV (each waits in flight),
# says SENT, then, told to, connects to SRV2 and sends one more
CLIENT = """
    import shmcp
    vm = shmcp.logon("client")
    path = vm.connect("srv", wait=True, timeout=30)
    pending = [path.send_nowait(b"one"), path.send_nowait(b"two")]
    print("SENT", flush=True)
    input()
    path2 = vm.connect("srv2", wait=True, timeout=30)
    print("REPLY", path2.send(b"three").decode(), flush=True)
    input()
    """


@pytest.fixture
def client(system):
    proc = child(CLIENT)
    yield proc
    finish(proc)


def _two_messages(client):
    """SRV's two messages from the client: the first RECEIVEd (its data
    read), the second only announced (a message_pending event's)."""
    vm = shmcp.logon("srv")
    path = vm.accept(timeout=30)
    assert line(client) == "SENT"
    events = vm.events(timeout=30)
    first = second = None
    for event in events:
        if event.name == "message_pending":
            if first is None:
                first = event.message
                assert first.data == b"one"
            else:
                second = event.message
                break
    return vm, path, first, second


def _srv2_still_answers(client):
    """SRV2, logged on next, serves the client's new path as itself."""
    with shmcp.logon("srv2") as vm2:
        vm2.accept_all()
        tell(client)
        msg = vm2.receive(timeout=30)
        assert msg.data == b"three"
        msg.reply(b"THREE")
        assert line(client) == "REPLY THREE"


def test_a_message_kept_after_logoff_is_not_answered_as_the_next_vm(client):
    """Before: reply ran as SRV2 (ProgramCheck "IUCV REPLY by SRV2") and
    marked the message answered; reject the same."""
    vm, _, first, second = _two_messages(client)
    vm.logoff()
    with shmcp.logon("srv2"):
        for msg in (first, second):
            for call in (lambda: msg.reply(b"x"), lambda: msg.reply(bytearray(b"x")),
                         lambda: msg.reply(memoryview(b"x")), msg.reject):
                with pytest.raises(shmcp.PathSevered, match="SRV logged off"):
                    call()
    _srv2_still_answers(client)


def test_data_of_a_message_kept_after_logoff_is_what_it_was_or_gone(client):
    """Data RECEIVEd before LOGOFF stays; data nobody RECEIVEd is gone
    with the VM (b"", as for a message purged or its path severed),
    never RECEIVEd as the VM logged on next, and a receive on the kept
    path finds nothing left.  Before: the RECEIVE ran as SRV2."""
    vm, path, first, second = _two_messages(client)
    vm.logoff()
    with shmcp.logon("srv2"):
        assert first.data == b"one"
        with pytest.raises(shmcp.PathSevered, match="SRV logged off"):
            path.receive(timeout=0)  # the second is gone: nothing left on it
        assert second.data == b""
        with pytest.raises(shmcp.PathSevered, match="SRV logged off"):
            second.reply(b"x")
    _srv2_still_answers(client)


# a server that takes one message and never answers it, saying GOT
SILENT_SERVER = """
    import shmcp
    vm = shmcp.logon("server")
    vm.accept_all()
    print("READY", flush=True)
    msg = vm.receive()
    print("GOT", flush=True)
    input()
    """


def test_a_pending_kept_after_logoff_is_severed(system):
    """Before: result() waited under the VM logged on next for a
    completion that could never come to it (NotLoggedOn at its first
    core wait)."""
    server = child(SILENT_SERVER)
    try:
        assert line(server) == "READY"
        vm = shmcp.logon("cli")
        path = vm.connect("server", timeout=30)
        pending = path.send_nowait(b"x")
        assert line(server) == "GOT"
        vm.logoff()
        with shmcp.logon("cli2"):
            with pytest.raises(shmcp.PathSevered, match="CLI logged off"):
                pending.result(timeout=5)
            with pytest.raises(shmcp.PathSevered, match="CLI logged off"):
                asyncio.run(pending.aresult(timeout=5))
            assert pending.done()
    finally:
        finish(server)


def test_an_asend_in_flight_at_logoff_is_severed(system):
    """A coroutine waiting on its reply when another logs the VM off
    gets PathSevered at once.  Before: it waited out its timeout (for
    ever without one), then its purge raised NotLoggedOn."""
    server = child(SILENT_SERVER)

    async def main():
        vm = shmcp.logon("cli")
        path = await vm.aconnect("server", timeout=30)
        reply = asyncio.create_task(path.asend(b"x", timeout=30))
        while line(server, 0.01) != "GOT":
            await asyncio.sleep(0.01)
        vm.logoff()
        with pytest.raises(shmcp.PathSevered, match="CLI logged off"):
            await reply
        with shmcp.logon("cli2") as vm2:
            with pytest.raises(shmcp.NotLoggedOn, match="CLI is not logged on"):
                await vm.areceive(timeout=0)
            with pytest.raises(TimeoutError):
                await vm2.areceive(timeout=0.05)

    try:
        assert line(server) == "READY"
        asyncio.run(main())
    finally:
        finish(server)
