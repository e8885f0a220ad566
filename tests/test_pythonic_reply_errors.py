"""Answering a message when it goes wrong, between real processes: a
sender that gave up (its message purged), a reply the core could not take
(no storage) or that is not a buffer REPLY can use, and looking at a
message without taking it."""
from __future__ import annotations

import asyncio

import pytest

import shmcp
from script_child import line, serving, tell

# A server VM that runs each line of its stdin as an expression, ``vm``
# (which accepts every path), ``events`` (its events, recorded from the
# start: the first look at them, which finds none, starts the recording)
# and what the lines assign (``msg := ...``) in scope, and prints
# "OK <repr of the result>" or "<exception class> <its rc>: <its text>".
ANSWERING_SERVER = """
    import shmcp
    vm = shmcp.logon("server")
    vm.accept_all()
    assert not list(vm.events(timeout=0))
    scope = {"vm": vm, "events": vm.events(timeout=30)}
    print("READY", flush=True)
    while True:
        code = input()
        try:
            print("OK", repr(eval(code, scope)), flush=True)
        except Exception as e:
            print(type(e).__name__, f"{getattr(e, 'rc', None)}:", e, flush=True)
    """


def ask(server, code: str) -> str:
    """What the server printed for ``code``."""
    tell(server, code)
    return line(server)


@pytest.fixture
def server(system):
    with serving(ANSWERING_SERVER) as proc:
        yield proc


@pytest.fixture
def small_server(system):
    """The server on a system with 64 KiB of storage."""
    shmcp.ipl(system, storage=65536)
    with serving(ANSWERING_SERVER) as proc:
        yield proc


# each way of answering: REPLY of bytes (MessageCore.reply, in C), of
# another bytes-like object (_reply_slow, in Python), REJECT
ANSWERS = ["msg.reply(b'late')", "msg.reply(memoryview(b'late'))", "msg.reject()"]


@pytest.mark.parametrize("answer", ANSWERS)
@pytest.mark.parametrize("taken", [True, False], ids=["received", "event"])
def test_answering_a_message_its_sender_gave_up_raises_path_severed_9(server, answer, taken):
    """A sender that stops waiting purges its message; the late reply or
    reject raises PathSevered with rc 9 ("message purged"), every time,
    whether the message was RECEIVEd before the purge (vm.receive) or is a
    message_pending event's that nobody RECEIVEd; the path goes on."""
    async def main():
        with shmcp.logon("client") as vm:
            path = await vm.aconnect("server", timeout=30)
            sending = asyncio.ensure_future(path.asend(b"question"))
            loop = asyncio.get_running_loop()
            take = ("(msg := vm.receive(timeout=30)).data" if taken else
                    "(msg := next(e for e in events if e.name == 'message_pending').message).msgid")
            got = await loop.run_in_executor(None, ask, server, take)
            assert got.startswith("OK"), got
            sending.cancel()  # as a timeout does: the message is purged
            with pytest.raises(asyncio.CancelledError):
                await sending
            for _ in range(2):  # not marked answered: the core says it again
                said = await loop.run_in_executor(None, ask, server, answer)
                assert said.startswith("PathSevered 9:"), said
                assert "purged by its sender" in said
            answered = asyncio.ensure_future(path.asend(b"next", timeout=30))
            said = await loop.run_in_executor(
                None, ask, server, "(msg := vm.receive(timeout=30)).reply(msg.data.upper())")
            assert said == "OK None"
            assert await answered == b"NEXT"
    asyncio.run(main())


@pytest.mark.parametrize("failing, raised", [
    ("msg.reply(bytes(200_000))", "StorageExhausted"),            # C: more than the storage
    ("msg.reply(memoryview(bytes(200_000)))", "StorageExhausted"),  # Python: the same
    ("msg.reply(memoryview(b'abcdef')[::2])", "TypeError"),       # not contiguous
    ("msg.reply(12)", "TypeError"),                               # not bytes-like
])
@pytest.mark.parametrize("then, outcome", [("msg.reply(b'fallback')", b"fallback"),
                                           ("msg.reject()", shmcp.MessageRejected)])
def test_a_reply_that_raised_leaves_the_message_answerable(small_server, failing, raised, then,
                                                           outcome):
    """A reply that raised queued nothing: the message is not answered,
    and the next reply or reject reaches the sender."""
    server = small_server
    with shmcp.logon("client") as vm:
        path = vm.connect("server", timeout=30)
        pending = path.send_nowait(b"question", reply_size=300_000)
        assert ask(server, "(msg := vm.receive(timeout=30)).data") == "OK b'question'"
        said = ask(server, failing)
        assert said.startswith(raised), said
        if raised == "TypeError":
            assert "reply data must be a C-contiguous bytes-like object" in said
        assert ask(server, then) == "OK None"
        assert ask(server, then).startswith("ValueError None:")  # answered now: once
        if isinstance(outcome, bytes):
            assert pending.result(timeout=30) == outcome
        else:
            with pytest.raises(outcome):
                pending.result(timeout=30)


@pytest.mark.parametrize("one_way", [True, False], ids=["one-way", "two-way"])
def test_repr_of_an_events_message_leaves_it_in_its_inbox(server, one_way):
    """repr() of a message_pending event's message shows its length from
    the interrupt and takes nothing: vm.receive() still returns it, with
    its data."""
    with shmcp.logon("client") as vm:
        path = vm.connect("server", timeout=30)
        pending = None
        if one_way:
            path.send(b"hello", one_way=True)
        else:
            pending = path.send_nowait(b"hello")
        said = ask(server, "repr(next(e for e in events if e.name == 'message_pending').message)")
        kind = "one-way" if one_way else "two-way"
        assert said == f"OK '<Message 1 {kind} trgcls=0 5 bytes, not received>'"
        assert ask(server, "(msg := vm.receive(timeout=10)).data") == "OK b'hello'"
        assert ask(server, "repr(msg)") == f"OK '<Message 1 {kind} trgcls=0 5 bytes>'"
        if pending is not None:
            assert ask(server, "msg.reply(b'seen')") == "OK None"
            assert pending.result(timeout=30) == b"seen"


def test_two_threads_answering_one_message_one_answer_wins(system):
    """A reply in Python (a memoryview) held after its claim while a
    second thread replies in C: the second is ValueError, the first's
    answer is the one the sender gets, and the message stays answered.
    (Before, the check and the mark were apart: both went to the core,
    the loser failed and marked the answered message unanswered.)"""
    import sys
    import threading

    from shmcp.pythonic import message as message_module

    with shmcp.logon("server") as vm:
        vm.accept_all()
        with serving("""
            import shmcp
            with shmcp.logon("client") as vm:
                with vm.connect("server", timeout=30, wait=True) as path:
                    print("READY", flush=True)
                    print(path.send(b"q", timeout=60).decode(), flush=True)
                    input()
            """) as client:
            msg = vm.receive(timeout=30)
            held, go = threading.Event(), threading.Event()
            buffer_code = message_module._reply_buffer.__code__

            def hold_in_reply_buffer(frame, event, arg):
                if event == "call" and frame.f_code is buffer_code:
                    held.set()
                    go.wait(60)
                return None

            got: dict = {}

            def first():
                threading.settrace(hold_in_reply_buffer)
                sys.settrace(hold_in_reply_buffer)
                try:
                    msg.reply(memoryview(b"from-first"))
                    got["first"] = "replied"
                except Exception as exc:
                    got["first"] = repr(exc)
                finally:
                    sys.settrace(None)

            thread = threading.Thread(target=first)
            thread.start()
            assert held.wait(60)
            with pytest.raises(ValueError, match="already answered"):
                msg.reply(b"from-second")  # MessageCore.reply, in C
            go.set()
            thread.join(60)
            assert got == {"first": "replied"}
            assert line(client) == "from-first"
            with pytest.raises(ValueError, match="already answered"):
                msg.reply(b"again")
            tell(client, "")
