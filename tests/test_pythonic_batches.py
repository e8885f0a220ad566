"""The Pythonic layer takes one-way traffic in batches (take_batch): a
stream at a small message limit, one-way and two-way messages mixed on one
path, and events that still see every completion.  Real processes, real
shared memory."""
from __future__ import annotations

import pytest

import shmcp
from shmcp import _native
from script_child import serving

# Receives numbered one-way messages, checks they come in order, answers
# the two-way "END" with how many came and how many were out of order, and
# echoes any other two-way message reversed.
RECEIVER = """
    import shmcp
    vm = shmcp.logon("server")
    vm.accept_all(msglim={msglim})
    print("READY", flush=True)
    count = bad = 0
    for msg in vm.messages(timeout=60):
        if msg.data == b"END":
            msg.reply(b"%d %d" % (count, bad))
            continue
        if msg.one_way:
            bad += int(msg.data) != count
            count += 1
        else:
            msg.reply(msg.data[::-1])
    """


def test_stream_at_a_small_limit_loses_and_reorders_nothing(system):
    """5,000 one-way messages through a limit of 3: the sender waits at the
    limit for completions (taken in batches), every message arrives once,
    in order, and the window is free again at the end."""
    with serving(RECEIVER.format(msglim=3)):
        with shmcp.logon("client") as vm:
            path = vm.connect("server", timeout=30)
            assert path.msglim == 3
            for i in range(5000):
                path.send(b"%d" % i, one_way=True)
            assert path.send(b"END", timeout=60) == b"5000 0"
            # all 5,000 completions were counted: the window holds 3 again
            for i in range(3):
                path.send(b"%d" % (5000 + i), one_way=True, block=False)
            assert path.send(b"END", timeout=60) == b"5003 0"


def test_one_way_and_two_way_mixed_on_one_path(system):
    """Round trips between bursts of one-way messages: each reply is its
    own request's, the one-way messages all arrive in order."""
    with serving(RECEIVER.format(msglim=8)):
        with shmcp.logon("client") as vm:
            path = vm.connect("server", timeout=30)
            seq = 0
            for burst in range(200):
                for _ in range(burst % 13):
                    path.send(b"%d" % seq, one_way=True)
                    seq += 1
                request = b"ask-%d" % burst
                assert path.send(request, timeout=60) == request[::-1]
            assert path.send(b"END", timeout=60) == b"%d 0" % seq


def test_events_see_every_completion(system):
    """With vm.events() in use the completions are not batched away: one
    message_complete event per one-way message."""
    with serving(RECEIVER.format(msglim=4)):
        with shmcp.logon("client") as vm:
            path = vm.connect("server", timeout=30)
            list(vm.events(timeout=0))  # events recorded from now on
            for i in range(50):
                path.send(b"%d" % i, one_way=True)
            assert path.send(b"END", timeout=60) == b"50 0"
            names = [e.name for e in vm.events(timeout=0)]
            assert names.count("message_complete") >= 50  # the END's own too


def test_take_batch_and_receive_data_check_their_arguments():
    """The C calls refuse what they cannot take, naming it."""
    with pytest.raises(TypeError, match="take_batch"):
        _native.take_batch(None, -1, {})
    with pytest.raises(TypeError, match="take_batch"):
        _native.take_batch(_native.Machine(), -1, [])
    # not logged on: the Python path's (NotImplemented)
    assert _native.take_batch(_native.Machine(), 0, {}) is NotImplemented
    assert _native.receive_data(shmcp.MsgPlist()) is NotImplemented
