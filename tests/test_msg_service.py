"""The *MSG CP system service (docs/design.md, "*MSG"):
CONNECT to *MSG, MSG (class 1) and SMSG (class 4) as one-way IUCV messages
whose text starts with the sender's userid, `shmcp msg`; between real
processes: the test process is VM A, children are B and C."""
from __future__ import annotations

import subprocess
import sys

import pytest

import shmcp
from shmcp import iucv, msgservice
from iucv_rpc import LocalVM, RpcVM, local, only, spawn  # noqa: F401

RECV = {"buf": "r", "size": 200}


def connect_msg(vm, **fields) -> dict:
    """CONNECT ``vm`` to *MSG; checks CC0 and the type 02; returns it."""
    got = vm.call("connect", "PathPlist", vmid="*MSG", **fields)
    assert got["cc"] == 0, got
    done = only(vm.drain(), iucv.IPTYPE_CONNECTION_COMPLETE)
    assert done["pathid"] == got["fields"]["pathid"]
    return done


def receive(vm) -> tuple[dict, bytes]:
    """RECEIVE the next message into a 200-byte buffer: (fields, data)."""
    got = vm.call("receive", "MsgPlist", bf1=RECV)
    assert got["cc"] == 0, got
    return got["fields"], got["bufs"]["r"][:200 - got["fields"]["bf1len"]]


def test_connect_to_msg_completes_at_once(spawn):
    b = spawn("B")
    done = connect_msg(b)
    assert done["type"] == 2 and done["msglim"] == iucv.MSGLIM_DEFAULT == 10
    # CP accepted: no priority, no parameter-list data; *MSG takes no
    # messages, so it quiesced B's end (IPQUSCE shown)
    assert done["flags1"] == iucv.IPQUSCE and done["ipuser"] == bytes(16)
    got = b.call("send", "MsgPlist", pathid=done["pathid"], flags1=iucv.IPNORPY, bf1=b"x")
    assert got["cc"] == 1 and got["fields"]["rcode"] == iucv.IPRC_QUIESCED
    # one *MSG path per VM; other services and function codes refused
    for fields, rc in (({}, 14), ({"fcncd": 1}, 17), ({"msglim": 256}, 18)):
        got = b.call("connect", "PathPlist", vmid="*MSG", **fields)
        assert got["cc"] == 1 and got["fields"]["rcode"] == rc, (fields, got)
    got = b.call("connect", "PathPlist", vmid="*BLOCKIO")
    assert got["cc"] == 1 and got["fields"]["rcode"] == iucv.IPRC_INVALID_SERVICE == 16
    assert b.drain() == []


def test_msg_and_smsg_arrive_as_one_way_messages(local, spawn):
    b = spawn("B")
    start = b.storage()
    pathid = connect_msg(b, msglim=3)["pathid"]
    shmcp.msg("B", "hello, B")
    shmcp.smsg("b", b"STATUS \x00\xff")
    shmcp.msg("B", "x" * msgservice.TEXT_MAX, issuer="OPERATOR")
    shmcp.msg("B", "")
    got = b.drain()  # CP's messages do not count against the limit (3)
    assert [(i["type"], i["fields"]["trgcls"], i["fields"]["bf1len"]) for i in got] == [
        (9, 1, 16), (9, 4, 17), (9, 1, 137), (9, 1, 8)]
    assert all(i["fields"]["pathid"] == pathid and i["fields"]["flags1"] == iucv.IPNORPY
               for i in got)
    assert len({i["fields"]["msgid"] for i in got}) == 4
    texts = []
    for want in got:
        fields, data = receive(b)
        assert (fields["msgid"], fields["trgcls"], fields["pathid"]) == (
            want["fields"]["msgid"], want["fields"]["trgcls"], pathid)
        texts.append(msgservice.split(data))
    assert texts == [("A", b"hello, B"), ("A", b"STATUS \x00\xff"),
                     ("OPERATOR", b"x" * 129), ("A", b"")]
    # nobody to tell: no completion anywhere, nothing left
    assert b.drain() == [] and local.drain() == []
    assert b.cc("testcmpl", "CompPlist") == 2
    assert b.storage() == start, "received messages are destroyed"


def test_text_too_long_is_refused_and_nothing_is_sent(local, spawn):
    b = spawn("B")
    connect_msg(b)
    for send in (shmcp.msg, shmcp.smsg):
        with pytest.raises(ValueError, match="130 bytes; at most 129"):
            send("B", "y" * 130)
    with pytest.raises(TypeError, match="str or bytes"):
        shmcp.msg("B", 12)
    assert b.drain() == []


def test_no_path_quiesce_and_resume(local, spawn):
    b = spawn("B")
    with pytest.raises(shmcp.NotLoggedOn, match="NOBODY not logged on"):
        shmcp.msg("NOBODY", "hi")
    with pytest.raises(shmcp.NotReceiving, match=r"B not receiving \(no path to \*MSG\)") as err:
        shmcp.msg("B", "hi")
    assert err.value.rc == 5
    pathid = connect_msg(b)["pathid"]
    assert b.cc("quiesce", "PathPlist", pathid=pathid) == 0
    for send in (shmcp.msg, shmcp.smsg):  # SMSG does not fall back to VMCF then
        with pytest.raises(shmcp.NotReceiving, match="quiesced") as err:
            send("B", "hi")
        assert err.value.rc == 9
    assert b.drain() == []
    assert b.cc("resume", "PathPlist", pathid=pathid) == 0
    shmcp.msg("B", "again")
    assert msgservice.split(receive(b)[1]) == ("A", b"again")


def test_sever_ends_the_path_and_its_messages(local, spawn):
    b = spawn("B")
    start = b.storage()
    pathid = connect_msg(b)["pathid"]
    shmcp.msg("B", "one")
    shmcp.smsg("B", "two")
    assert b.cc("sever", "PathPlist", pathid=pathid) == 0
    assert b.drain() == [], "the 09s of destroyed messages are withdrawn"
    assert b.cc("describe", "MsgPlist") == 2
    assert b.storage() == start
    with pytest.raises(shmcp.NotReceiving, match="no path"):
        shmcp.msg("B", "three")
    assert connect_msg(b)["pathid"] == pathid, "the path id is free again"


def test_logoff_and_death_leave_nothing(local, spawn, system):
    start = local.storage()
    for how in ("logoff", "kill"):
        b = spawn("B")
        connect_msg(b)
        for i in range(5):
            shmcp.msg("B", f"message {i}")
        assert local.storage() < start
        if how == "logoff":
            b.logoff()
        else:
            b.kill()
            with shmcp.System.attach(system) as s:
                s.live_count()  # LOGOFF of the dead
        assert local.storage() == start, how
        with pytest.raises(shmcp.NotLoggedOn):
            shmcp.msg("B", "gone")
        b.close()


def test_directory_must_allow_msg(system, tmp_path):
    directory = tmp_path / "directory.toml"
    directory.write_text('[B]\niucv = ["*MSG"]\n\n[default]\niucv = ["B"]\n')
    shmcp.ipl(system, directory=str(directory))
    a = LocalVM("A")
    b = RpcVM("B")
    try:
        got = a.call("connect", "PathPlist", vmid="*MSG")
        assert got["cc"] == 1 and got["fields"]["rcode"] == iucv.IPRC_NOT_AUTHORIZED == 15
        assert a.drain() == []
        connect_msg(b)
        shmcp.msg("B", "allowed")
        assert msgservice.split(receive(b)[1]) == ("A", b"allowed")
    finally:
        b.close()
        a.close()


def test_storage_exhausted_is_a_clear_error(system):
    shmcp.ipl(system, storage=4096)
    a = LocalVM("A")
    try:
        connect_msg(a)
        sent = 0
        with pytest.raises(shmcp.StorageExhausted, match="MSG to A"):
            for _ in range(100):
                shmcp.msg("A", "z" * 129)
                sent += 1
        assert 0 < sent < 100
        assert [i["type"] for i in a.drain()] == [9] * sent, "nothing half-delivered"
    finally:
        a.close()


def test_smsg_without_a_msg_path_still_goes_through_vmcf(local, spawn):
    from shmcp import vmcf
    b = spawn("B")  # neither a *MSG path nor VMCF
    with pytest.raises(shmcp.NotReceiving, match="SMSG: B not receiving") as err:
        shmcp.smsg("B", "hi")
    assert err.value.rc == vmcf.RC_USER_NOT_AVAILABLE


def test_msg_command_line(local, spawn, system):
    b = spawn("B")
    run = [sys.executable, "-m", "shmcp", "msg", "--system", system]
    done = subprocess.run([*run, "B", "hi"], capture_output=True, text=True)
    assert done.returncode == 1 and "MSG: B not receiving (no path to *MSG)" in done.stderr
    connect_msg(b)
    done = subprocess.run([*run, "B", "QUERY", "STATUS"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "", done.stderr
    done = subprocess.run([*run, "--from", "maint", "b", "x"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert [i["fields"]["trgcls"] for i in b.drain()] == [1, 1]
    assert [msgservice.split(receive(b)[1]) for _ in range(2)] == [
        ("OPERATOR", b"QUERY STATUS"), ("MAINT", b"x")]
    done = subprocess.run([*run, "NOBODY", "hi"], capture_output=True, text=True)
    assert done.returncode == 1 and "NOBODY not logged on" in done.stderr
    done = subprocess.run([*run, "B", "y" * 130], capture_output=True, text=True)
    assert done.returncode == 1 and "at most 129" in done.stderr
    assert b.drain() == []
