"""The Pythonic layer's read-ahead: the thread that waits in vm.receive
RECEIVEs the one-way messages of the batch it took in one core call, and
the receives hand them out from the inbox (bench/NOTES.md, "Pythonic
one-way in batches").  Several threads receiving still take each message
once and in order, a path severed or a sender killed while a batch is read
ahead loses nothing that was queued, and Ctrl-C between receives leaves
the batch to the next one.  Real processes, real shared memory."""
from __future__ import annotations

import contextlib
import mmap
import os
import signal
import struct
import threading

import pytest

import shmcp
from script_child import child, finish, line, tell
from shmcp._core import ffi, lib
from shmcp.system import shm_name

IUCV_REGION = 3  # the segment's regions: header, trace, VM table, IUCV, ...

# (The receivers accept with vm.accept, not accept_all: accept_all's thread
# would take the messages while the program is idle, one by one.)

# Sends COUNT numbered one-way messages on one path once told to, then
# ends as its stdin says: "sever" its path, "stay" logged on.
SENDER = """
    import shmcp
    vm = shmcp.logon("sender")
    path = vm.connect("receiver", timeout=30)
    print("READY", flush=True)
    input()
    for i in range({count}):
        path.send(b"%d" % i, one_way=True)
    print("SENT", flush=True)
    if input() == "sever":
        path.sever()
    print("DONE", flush=True)
    input()
    """


def declare(vm: shmcp.VirtualMachine) -> None:
    """The Pythonic layer made on ``vm`` (IUCV declared), so a sender may
    connect before the receiver waits in accept."""
    with pytest.raises(TimeoutError):
        vm.accept(timeout=0)


def accept_and_send(vm: shmcp.VirtualMachine, sender) -> None:
    """Accept ``sender``'s path and tell it to send: back once all it sends
    is queued."""
    vm.accept(timeout=30)
    assert line(sender) == "READY"
    tell(sender)
    assert line(sender) == "SENT"


def test_threads_receiving_a_stream_take_each_message_once_in_order(system):
    """Four threads take a 20,000-message stream by vm.receive: together
    every message once, and each thread's in the order sent."""
    count = 20000
    with shmcp.logon("receiver") as vm:
        declare(vm)
        sender = child(SENDER.format(count=count))
        try:
            vm.accept(timeout=30)
            assert line(sender) == "READY"
            taken: list[list[int]] = [[] for _ in range(4)]

            def work(mine: list[int]) -> None:
                try:
                    while True:
                        mine.append(int(vm.receive(timeout=2).data))
                except TimeoutError:
                    pass
            threads = [threading.Thread(target=work, args=(mine,)) for mine in taken]
            [t.start() for t in threads]
            tell(sender)
            assert line(sender, 120) == "SENT"
            [t.join(120) for t in threads]
            assert not any(t.is_alive() for t in threads)
            assert all(mine == sorted(mine) for mine in taken)
            assert sorted(n for mine in taken for n in mine) == list(range(count))
        finally:
            finish(sender)


@pytest.mark.parametrize("end", ["sever", "kill"])
def test_a_path_ended_while_a_batch_is_read_ahead_loses_nothing(system, end):
    """200 messages queued; one vm.receive reads a batch ahead; then the
    sender severs the path (or is killed).  Every message still comes,
    once and in order, then the path is over."""
    with shmcp.logon("receiver") as vm:
        declare(vm)
        sender = child(SENDER.format(count=200))
        try:
            accept_and_send(vm, sender)
            first = vm.receive(timeout=30)
            assert first.data == b"0"
            path = first.path
            if end == "kill":
                finish(sender)
            else:
                tell(sender, "sever")
                assert line(sender) == "DONE"
            rest = [int(path.receive(timeout=30).data) for _ in range(199)]
            assert rest == list(range(1, 200))
            with pytest.raises(shmcp.PathSevered):
                path.receive(timeout=30)
            with pytest.raises(TimeoutError):
                vm.receive(timeout=0.05)
            assert vm.paths == []
        finally:
            finish(sender)


def test_ctrl_c_between_receives_leaves_the_batch_to_the_next(system):
    """A receiver interrupted by Ctrl-C after a receive that read a batch
    ahead takes the rest of the batch, and what follows, afterwards."""
    receiver = child("""
        import time, shmcp
        vm = shmcp.logon("receiver")
        try:  # the layer declared before the sender connects
            vm.accept(timeout=0)
        except TimeoutError:
            pass
        print("READY", flush=True)
        vm.accept(timeout=30)
        input()
        print("FIRST", vm.receive(timeout=30).data.decode(), flush=True)
        try:
            print("WAITING", flush=True)
            time.sleep(60)
        except KeyboardInterrupt:
            print("KI", flush=True)
        rest = [int(vm.receive(timeout=30).data) for _ in range(199)]
        print("REST", rest == list(range(1, 200)), flush=True)
        """)
    try:
        assert line(receiver) == "READY"
        with shmcp.logon("sender") as vm:
            path = vm.connect("receiver", timeout=30)
            for i in range(200):
                path.send(b"%d" % i, one_way=True)
            tell(receiver)
            assert line(receiver) == "FIRST 0"
            assert line(receiver) == "WAITING"
            receiver.send_signal(signal.SIGINT)
            assert line(receiver) == "KI"
            assert line(receiver) == "REST True"
    finally:
        finish(receiver)


def test_bind_receive_many_checks_its_argument():
    """The binding takes the core's address as an int, and nothing else."""
    from shmcp import _native
    with pytest.raises(TypeError, match="bind_receive_many"):
        _native._iparml.bind_receive_many("shmcp_iucv_receive_many")
    with pytest.raises(ValueError, match="bind_receive_many"):
        _native._iparml.bind_receive_many(0)


def test_large_messages_are_not_read_ahead(system):
    """A batch of large one-way messages stays in CP's storage until the
    program takes each: the wait that took their interrupts does not copy
    them all into the process at once (64 messages of megabytes, with the
    GIL held throughout, before the first is handed out)."""
    big = 1 << 20
    sender_code = """
        import shmcp
        vm = shmcp.logon("sender")
        path = vm.connect("receiver", timeout=30)
        print("READY", flush=True)
        input()
        for i in range(8):
            path.send(bytes([i]) * %d, one_way=True)
        for i in range(8):
            path.send(b"%%d" %% i, one_way=True)
        print("SENT", flush=True)
        input()
        """ % big
    with shmcp.logon("receiver") as vm:
        declare(vm)
        sender = child(sender_code)
        try:
            accept_and_send(vm, sender)
            first = vm.receive(timeout=30)
            assert first.data == bytes([0]) * big
            # what the wait copied out ahead (Message._data: set once RECEIVEd)
            ahead = [m._data for m in vm._router.inbox if m._data is not None]
            assert all(len(data) < big for data in ahead)
            rest = [vm.receive(timeout=30).data for _ in range(15)]
            assert rest == [bytes([i]) * big for i in range(1, 8)] + \
                [b"%d" % i for i in range(8)]
        finally:
            finish(sender)


def corrupt_reply_word(vm: shmcp.VirtualMachine, msgid: int) -> None:
    """Make the MSGBLOK of queued message ``msgid`` name a reply block at
    pool offset 8, where no block starts: its RECEIVE copies the data,
    then the free of that "reply" is refused -- a corrupt segment, the
    message gone.  (The MSGBLOK's layout is csrc/iucv/iucv.h's struct
    shmcp_msgblok: in_use, msgid at 0, 4; data_len at 72; reply_off at
    88; 128 bytes, in IUCV's region.)"""
    bounds = ffi.new("uint64_t[]", lib.SHMCP_NREGIONS + 1)
    lib.shmcp_regions(vm.attached.handle, bounds, ffi.new("uint64_t[2]"))
    lo, hi = bounds[IUCV_REGION], bounds[IUCV_REGION + 1]
    fd = os.open("/dev/shm" + shm_name(vm.system), os.O_RDWR)
    try:
        with mmap.mmap(fd, bounds[lib.SHMCP_NREGIONS]) as seg:
            found = [off for off in range(lo, hi - 128, 64)
                     if struct.unpack_from("<II", seg, off) == (1, msgid)
                     and struct.unpack_from("<I", seg, off + 72)[0] == 1
                     and struct.unpack_from("<Q", seg, off + 88)[0] == 2**64 - 1]
            assert len(found) == 1, "struct shmcp_msgblok's layout changed?"
            struct.pack_into("<Q", seg, found[0] + 88, 8)
    finally:
        os.close(fd)


@contextlib.contextmanager
def queued_from_a_gone_sender(count: int):
    """A receiver ``count`` one-way messages are queued for, on a path their
    sender has severed: (vm, path, the messages' ids in the order sent)."""
    with shmcp.logon("receiver") as vm:
        declare(vm)
        sender = child(SENDER.format(count=count))
        try:
            accept_and_send(vm, sender)
            [path] = vm.paths
            tell(sender, "sever")
            assert line(sender) == "DONE"
            queued = [m.msgid for m in vm.attached.snapshot().messages
                      if m.userid == "RECEIVER" and m.queue == "send"]
            assert len(queued) == count
            yield vm, path, queued
        finally:
            finish(sender)


def ends_left(vm: shmcp.VirtualMachine) -> list:
    """The receiver's path ends the segment still holds."""
    return [end for end in vm.attached.snapshot().paths if end.userid == "RECEIVER"]


@pytest.mark.parametrize("taker", ["vm.receive", "path.receive"])
def test_a_corrupt_message_raises_when_its_turn_comes(system, taker):
    """Ten one-way messages queued, their sender gone; the fifth's storage
    is made corrupt.  vm.receive (which reads the batch ahead) and
    path.receive (one RECEIVE per message) give the same: the four before
    it, CorruptSegment with the same message, the five after it, then
    nothing."""
    with queued_from_a_gone_sender(10) as (vm, path, queued):
        corrupt_reply_word(vm, queued[4])
        take = vm.receive if taker == "vm.receive" else path.receive
        got: list[object] = []
        for _ in range(10):
            try:
                got.append(take(timeout=30).data)
            except shmcp.CorruptSegment as e:
                got.append(str(e))
        assert got[:4] + got[5:] == [b"0", b"1", b"2", b"3", b"5", b"6", b"7", b"8", b"9"]
        assert got[4] == "IUCV RECEIVE by RECEIVER: the system segment is corrupt"
        with pytest.raises(shmcp.PathSevered):  # nothing more, none twice
            path.receive(timeout=30)
        with pytest.raises(TimeoutError):
            vm.receive(timeout=0.05)


@pytest.mark.parametrize("taker", ["vm.receive", "path.receive"])
def test_a_corrupt_last_message_still_settles_the_owed_sever(system, taker):
    """The last message of a path its partner severed is corrupt: its take
    raises CorruptSegment, and the SEVER the receiver's end owed until its
    messages were taken is made all the same -- the end is freed, not left
    severed in the segment until logoff."""
    with queued_from_a_gone_sender(10) as (vm, path, queued):
        corrupt_reply_word(vm, queued[-1])
        take = vm.receive if taker == "vm.receive" else path.receive
        assert [take(timeout=30).data for _ in range(9)] == [b"%d" % i for i in range(9)]
        with pytest.raises(shmcp.CorruptSegment):
            take(timeout=30)
        with pytest.raises(shmcp.PathSevered):
            path.receive(timeout=30)
        assert ends_left(vm) == []


def test_a_corrupt_event_message_still_settles_the_owed_sever(system):
    """The same for a message_pending event's message read by ``.data``
    (taken then): the last one corrupt raises CorruptSegment, and the
    owed SEVER frees the receiver's end."""
    with queued_from_a_gone_sender(3) as (vm, path, queued):
        events, msgs = [], []
        for event in vm.events(timeout=30):
            events.append(event.name)
            if event.name == "message_pending":
                msgs.append(event.message)
            if event.name == "path_severed":
                break
        assert events == ["message_pending"] * 3 + ["path_severed"]
        corrupt_reply_word(vm, queued[-1])
        assert [m.data for m in msgs[:2]] == [b"0", b"1"]
        with pytest.raises(shmcp.CorruptSegment):
            msgs[2].data  # noqa: B018
        with pytest.raises(shmcp.PathSevered):
            path.receive(timeout=30)
        assert ends_left(vm) == []
