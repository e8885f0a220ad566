"""Bad input gives a clear error naming the problem and changes nothing."""
from __future__ import annotations

import os

import pytest

import shmcp
from shmcp.system import System, shm_name


@pytest.mark.parametrize("userid, message", [
    ("", "empty"),
    ("toolongname", "longer than 8"),
    ("ab-c", "characters '-'"),
    ("a b", "characters ' '"),
    ("*MSG", "characters '\\*'"),
    ("ÄÖ", "ÄÖ"),
    (b"\xff", "not ASCII"),
])
def test_bad_userid_is_a_value_error(system, userid, message):
    with pytest.raises(ValueError, match=message):
        shmcp.logon(userid)
    assert not os.path.exists("/dev/shm" + shm_name(system)), "nothing may be IPLed"


def test_userid_of_wrong_type_is_a_type_error(system):
    with pytest.raises(TypeError, match="str or bytes"):
        shmcp.logon(42)


@pytest.mark.parametrize("name, message", [
    ("a/b", "characters '/'"),
    ("", "empty"),
    ("x" * 60, "longer than"),
    ("sp ace", "characters ' '"),
])
def test_bad_system_name_is_a_value_error(name, message):
    with pytest.raises(ValueError, match=message):
        shmcp.logon("alice", system=name)
    with pytest.raises(ValueError, match=message):
        shmcp.ipl(name)
    assert shmcp.current() is None


@pytest.mark.parametrize("limits, error, message", [
    ({"max_vms": 0}, ValueError, "max_vms=0 is out of range"),
    ({"queue_size": 10}, ValueError, "queue_size=10 is out of range"),
    ({"storage": 2 ** 40}, ValueError, "storage"),
    ({"spin_us": -1}, ValueError, "spin_us"),
    ({"max_vms": "8"}, TypeError, "must be an int"),
    ({"colour": 1}, TypeError, "unknown limit 'colour'"),
])
def test_bad_ipl_limits(system, limits, error, message):
    with pytest.raises(error, match=message):
        shmcp.ipl(system, **limits)
    assert not os.path.exists("/dev/shm" + shm_name(system))


@pytest.mark.parametrize("offset, garbage", [
    (0, b"NOTSHMCP"),          # magic
    (8, b"\x63\0\0\0"),        # layout version
    (16, b"\x01\0\0\0\0\0\0\0"),  # total size
])
def test_corrupted_segment_header_is_refused_and_left_unchanged(system, offset, garbage):
    shmcp.ipl(system)
    path = "/dev/shm" + shm_name(system)
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(garbage)
    before = open(path, "rb").read(8192)
    with pytest.raises(shmcp.ShmcpError, match=system) as err:
        shmcp.logon("alice")
    assert "corrupt" in str(err.value) or "layout" in str(err.value)
    with pytest.raises(shmcp.ShmcpError, match=system):
        shmcp.ipl(system)
    with pytest.raises(shmcp.ShmcpError, match=system):
        shmcp.shutdown(system)
    assert open(path, "rb").read(8192) == before
    os.unlink(path)  # the test's own clean-up: shmcp never destroys what it cannot read


def test_segment_of_another_shape_is_refused(system):
    """A truncated object (size disagrees with its header) is corrupt."""
    shmcp.ipl(system)
    path = "/dev/shm" + shm_name(system)
    os.truncate(path, 4096 * 3)
    with pytest.raises(shmcp.CorruptSegment, match=system):
        System.attach(system)
    os.unlink(path)


def test_bad_interrupt_arguments(system):
    with shmcp.logon("alice") as vm:
        with pytest.raises(ValueError, match="40 bytes"):
            vm.queue_interrupt("alice", b"short")
        with pytest.raises(ValueError, match="facility"):
            vm.queue_interrupt("alice", bytes(40), facility="SNA")
        with pytest.raises(shmcp.NotLoggedOn, match="NOBODY"):
            vm.queue_interrupt("nobody", bytes(40))
        with pytest.raises(ValueError, match="timeout"):
            vm.wait(timeout=-1)
        assert vm.pending() == 0


def test_queue_full_is_an_error_never_a_silent_drop(system):
    shmcp.ipl(system, queue_size=256)
    with shmcp.logon("alice") as vm:
        sent = 0
        with pytest.raises(shmcp.QueueFull):
            while True:
                vm.queue_interrupt("alice", sent.to_bytes(40, "big"))
                sent += 1
        assert vm.pending() == sent == 256 - 128  # the rest is the must-deliver reserve
        vm.queue_interrupt("alice", bytes(40), must=True)  # a sever still fits
        got = [int.from_bytes(vm.wait(0).raw, "big") for _ in range(sent)]
        assert got == list(range(sent))


def test_storage_exhausted_is_an_error_and_nothing_is_queued(system):
    shmcp.ipl(system, storage=65536)
    with shmcp.logon("alice") as vm:
        with pytest.raises(shmcp.StorageExhausted):
            vm.queue_interrupt("alice", bytes(40), facility="VMCF", data=bytes(70000))
        assert vm.pending() == 0
        vm.queue_interrupt("alice", bytes(40), facility="VMCF", data=b"abc")
        assert vm.wait(0).buf == b"abc"
