"""IUCV paths (DECLARE BUFFER ... SEVER, the path interrupts 01-05, path
states, termination), between real processes: the test process is VM A,
children are B and C."""
from __future__ import annotations

import os

import pytest

import shmcp
from shmcp import iucv
from iucv_rpc import LocalVM, RpcError, connect_pair, local, only, pair, send, spawn  # noqa: F401
from vms import eventually

ALL_FUNCTIONS = ["connect", "accept", "sever", "quiesce", "resume", "send", "receive", "reply",
                 "reject", "purge", "testcmpl", "describe", "setmask", "setcmask", "testmsg"]


def mask_image(byte: int) -> bytes:
    return bytes([byte]) + bytes(39)


# -- DECLARE BUFFER, QUERY, RETRIEVE BUFFER -------------------------------------

def test_dclbfr_twice_is_rc19(local):
    got = local.call("dclbfr", "PathPlist")
    assert got["cc"] == 1 and got["fields"]["rcode"] == iucv.IPRC_ALREADY_DECLARED == 19


def test_functions_before_dclbfr_are_operation_exceptions(spawn):
    b = spawn("B", "--no-dclbfr")
    for fn in ALL_FUNCTIONS:
        cls = "MsgPlist" if fn in ("send", "receive", "reply", "reject", "describe") else \
            "CompPlist" if fn in ("purge", "testcmpl") else "PathPlist"
        with pytest.raises(RpcError) as err:
            b.call(fn, cls, **({"vmid": "B"} if fn == "connect" else {}))
        assert (err.value.type, err.value.exception) == ("ProgramCheck", "operation"), fn
    # QUERY is allowed, and DECLARE BUFFER still works afterwards
    assert b.call("query")["value"] == [40, 64]
    assert b.cc("dclbfr", "PathPlist") == 0


def test_query_gives_buffer_size_and_maxconn(local):
    got = local.call("query")
    assert got["cc"] == 0 and got["value"] == [iucv.BUFFER_SIZE, 64] == [40, 64]


def test_declared_buffer_receives_each_interrupt_image(local, spawn):
    b = spawn("B", "--no-dclbfr")
    assert b.cc("dclbfr", "PathPlist", bf1={"buf": "ib", "size": 40}) == 0
    local.call("connect", "PathPlist", vmid="B", user="X")
    ev = only(b.drain(), 1)
    assert b.buf("ib") == ev["image"]


def test_rtrvbfr_severs_every_path_and_ends_iucv(local, spawn):
    b = spawn("B")
    pa, pb = connect_pair(local, b)
    pa2, _ = connect_pair(local, b)
    assert b.cc("rtrvbfr") == 0
    got = local.drain()
    assert sorted((i["type"], i["fields"]["pathid"]) for i in got) == [(3, pa), (3, pa2)]
    with pytest.raises(RpcError) as err:
        b.call("describe", "MsgPlist")
    assert err.value.exception == "operation"
    c = local.call("connect", "PathPlist", vmid="B")
    assert c["cc"] == 1 and c["fields"]["rcode"] == 12
    assert b.cc("dclbfr", "PathPlist") == 0  # a new DECLARE BUFFER, not rc 19


# -- CONNECT ------------------------------------------------------------------------

def _connect_fails(a, rc, **fields):
    got = a.call("connect", "PathPlist", **fields)
    assert got["cc"] == 1 and got["fields"]["rcode"] == rc, got


def _nothing_leaked(a, b):
    """No pending connection reached b, and a's lowest path id is still free."""
    assert b.drain() == []
    got = a.call("connect", "PathPlist", vmid=b.userid)
    assert got["cc"] == 0 and got["fields"]["pathid"] == 0


def test_connect_rc11_target_not_logged_on(local, spawn):
    b = spawn("B")
    _connect_fails(local, 11, vmid="NOBODY")
    _nothing_leaked(local, b)


def test_connect_rc12_target_has_not_declared_a_buffer(local, spawn):
    b = spawn("B", "--no-dclbfr")
    _connect_fails(local, 12, vmid="B")
    assert b.drain() == []


def test_connect_rc13_and_rc14_max_connections(local, spawn):
    b = spawn("B")
    for i in range(32):  # a path to oneself has two ends: 64 path ids in use
        got = local.call("connect", "PathPlist", vmid="A")
        assert got["cc"] == 0, (i, got)
    _connect_fails(local, iucv.IPRC_MAXCONN_SELF, vmid="B")
    _connect_fails(b, iucv.IPRC_MAXCONN_TARGET, vmid="A")
    assert b.drain() == []


def test_connect_rc15_not_authorized_by_the_directory(system, tmp_path):
    directory = tmp_path / "directory.toml"
    directory.write_text('[A]\niucv = ["C"]\n\n[B]\niucv = []\n\n[default]\niucv = []\n')
    try:
        shmcp.ipl(system, directory=str(directory))
    except shmcp.ShmcpError as e:
        if "does not have yet" in str(e):
            pytest.skip(f"ipl(directory=...) is not implemented yet: {e}")
        raise
    from iucv_rpc import RpcVM
    a = LocalVM("A")
    b = RpcVM("B")
    try:
        _connect_fails(a, 15, vmid="B")
        assert b.drain() == []
    finally:
        b.close()
        a.close()


def test_connect_rc16_invalid_cp_system_service(local):
    _connect_fails(local, 16, vmid="*NOSUCH")


def test_connect_rc17_function_code_for_a_userid(local, spawn):
    b = spawn("B")
    _connect_fails(local, 17, vmid="B", fcncd=1)
    _nothing_leaked(local, b)


def test_connect_rc18_msglim_over_255(local, spawn):
    b = spawn("B")
    _connect_fails(local, 18, vmid="B", msglim=256)
    _nothing_leaked(local, b)


def test_connect_to_oneself(local):
    got = local.call("connect", "PathPlist", vmid="A", user="SELF")
    assert got["cc"] == 0
    pend = only(local.drain(), 1)
    assert pend["vmid"] == b"A       " and pend["pathid"] != got["fields"]["pathid"]
    assert local.cc("accept", "PathPlist", image=pend["image"], type=0) == 0
    assert only(local.drain(), 2)["pathid"] == got["fields"]["pathid"]
    send(local, got["fields"]["pathid"], b"to me", answer=None)
    assert only(local.drain(), 9)["pathid"] == pend["pathid"]


# -- interrupt layouts (types 01, 02: docs/reference.md, "4. IUCV, faithful") --------

def test_pending_connection_interrupt_layout(local, spawn):
    b = spawn("B")
    got = local.call("connect", "PathPlist", vmid="b", msglim=7,
                     flags1=iucv.IPRMDATA | iucv.IPQUSCE | iucv.IPPRTY, pgm="PROG", user="DATA")
    assert got["cc"] == 0
    ev = only(b.drain(), 1)
    img = ev["image"]
    assert ev["type"] == iucv.IPTYPE_PENDING_CONNECTION == 1
    assert img[2] == iucv.IPRMDATA | iucv.IPQUSCE | iucv.IPPRTY
    assert int.from_bytes(img[4:6], "big") == 7
    assert img[6] == 0 and img[7] == 0           # IPFCNCD, reserved
    assert img[8:16] == b"A       "              # originator's userid
    assert img[16:32] == b"PROG    DATA    "     # originator's IPUSER
    assert img[32:40] == bytes(8)                # reserved
    # B's own new path id, usable to ACCEPT
    assert local.call("connect", "PathPlist", vmid="B")["cc"] == 0
    ev2 = only(b.drain(), 1)
    assert ev2["pathid"] != ev["pathid"]


def test_connection_complete_interrupt_layout_and_accept_outputs(local, spawn):
    b = spawn("B")
    pa = local.call("connect", "PathPlist", vmid="B", msglim=7, flags1=iucv.IPPRTY,
                    pgm="PROG")["fields"]["pathid"]
    pend = only(b.drain(), 1)
    acc = b.call("accept", "PathPlist", image=pend["image"], type=0, msglim=5,
                 flags1=iucv.IPRMDATA | iucv.IPPRTY, pgm="ACCEPTED", user="BY B")
    assert acc["cc"] == 0
    assert acc["fields"]["msglim"] == 5 and acc["fields"]["flags1"] & iucv.IPPRTY
    ev = only(local.drain(), 2)
    img = ev["image"]
    assert int.from_bytes(img[0:2], "big") == pa
    assert img[2] == iucv.IPRMDATA | iucv.IPPRTY
    assert img[3] == iucv.IPTYPE_CONNECTION_COMPLETE == 2
    assert int.from_bytes(img[4:6], "big") == 5
    assert img[6:16] == bytes(10)
    assert img[16:32] == b"ACCEPTEDBY B    "
    assert img[32:40] == bytes(8)


def test_priority_only_when_both_ends_ask(local, spawn):
    b = spawn("B")
    local.call("connect", "PathPlist", vmid="B")  # no IPPRTY
    pend = only(b.drain(), 1)
    acc = b.call("accept", "PathPlist", image=pend["image"], type=0, flags1=iucv.IPPRTY)
    assert not acc["fields"]["flags1"] & iucv.IPPRTY
    assert not only(local.drain(), 2)["flags1"] & iucv.IPPRTY


@pytest.mark.parametrize("asked,accepted,final", [(7, 5, 5), (3, 9, 3), (0, 0, 10), (0, 4, 4)])
def test_message_limit_in_force(local, spawn, asked, accepted, final):
    b = spawn("B")
    local.call("connect", "PathPlist", vmid="B", msglim=asked)
    pend = only(b.drain(), 1)
    acc = b.call("accept", "PathPlist", image=pend["image"], type=0, msglim=accepted)
    assert acc["fields"]["msglim"] == final
    assert only(local.drain(), 2)["msglim"] == final


# -- ACCEPT ---------------------------------------------------------------------------

def test_accept_rc1_not_a_pending_connection(pair):
    a, b, pa, pb = pair
    assert b.call("accept", "PathPlist", pathid=99)["fields"]["rcode"] == 1
    got = b.call("accept", "PathPlist", pathid=pb)  # already active
    assert got["cc"] == 1 and got["fields"]["rcode"] == 1
    pa2 = a.call("connect", "PathPlist", vmid="B")["fields"]["pathid"]
    got = a.call("accept", "PathPlist", pathid=pa2)  # the originator's own end
    assert got["cc"] == 1 and got["fields"]["rcode"] == 1


def test_accept_rc18_leaves_the_connection_pending(local, spawn):
    b = spawn("B")
    local.call("connect", "PathPlist", vmid="B")
    pend = only(b.drain(), 1)
    got = b.call("accept", "PathPlist", image=pend["image"], type=0, msglim=256)
    assert got["cc"] == 1 and got["fields"]["rcode"] == 18
    assert local.drain() == []
    assert b.cc("accept", "PathPlist", image=pend["image"], type=0) == 0
    only(local.drain(), 2)


def test_accept_rc20_originator_has_severed(local, spawn):
    b = spawn("B")
    pa = local.call("connect", "PathPlist", vmid="B")["fields"]["pathid"]
    pend = only(b.drain(), 1)
    assert local.cc("sever", "PathPlist", pathid=pa) == 0
    got = b.call("accept", "PathPlist", image=pend["image"], type=0)
    assert got["cc"] == 1 and got["fields"]["rcode"] == iucv.IPRC_ORIGINATOR_SEVERED == 20
    assert local.drain() == []  # no connection complete
    b.drain()
    assert b.cc("sever", "PathPlist", pathid=pend["pathid"]) == 0


# -- SEVER ------------------------------------------------------------------------------

def test_sever_carries_ipuser_and_partner_must_sever(pair):
    a, b, pa, pb = pair
    assert a.cc("sever", "PathPlist", pathid=pa, pgm="GOODBYE", user="12345678") == 0
    ev = only(b.drain(), 3)
    img = ev["image"]
    assert int.from_bytes(img[0:2], "big") == pb
    assert img[2] == 0 and img[3] == iucv.IPTYPE_PATH_SEVERED == 3
    assert img[4:16] == bytes(12) and img[32:40] == bytes(8)
    assert img[16:32] == b"GOODBYE 12345678"
    # A's end is gone; B's still exists until B severs it
    assert a.call("sever", "PathPlist", pathid=pa)["fields"]["rcode"] == 1
    got = b.call("send", "MsgPlist", pathid=pb, flags1=iucv.IPNORPY, bf1=b"late")
    assert got["cc"] == 1 and got["fields"]["rcode"] == 1
    assert b.cc("sever", "PathPlist", pathid=pb) == 0
    assert b.call("sever", "PathPlist", pathid=pb)["fields"]["rcode"] == 1
    assert a.drain() == []
    # both ends severed: the ids are free at once
    assert connect_pair(a, b) == (pa, pb)


def test_sever_of_a_pending_connection_refuses_it(local, spawn):
    b = spawn("B")
    pa = local.call("connect", "PathPlist", vmid="B")["fields"]["pathid"]
    pend = only(b.drain(), 1)
    assert b.cc("sever", "PathPlist", pathid=pend["pathid"], user="NO") == 0
    ev = only(local.drain(), 3)
    assert ev["pathid"] == pa and ev["ipuser"] == b"\0" * 8 + b"NO      "
    got = local.call("send", "MsgPlist", pathid=pa, flags1=iucv.IPNORPY, bf1=b"x")
    assert got["cc"] == 1 and got["fields"]["rcode"] == 1
    got = b.call("accept", "PathPlist", image=pend["image"], type=0)
    assert got["cc"] == 1 and got["fields"]["rcode"] == 1
    assert local.cc("sever", "PathPlist", pathid=pa) == 0


def test_sever_rc1_invalid_path_id(local):
    got = local.call("sever", "PathPlist", pathid=5)
    assert got["cc"] == 1 and got["fields"]["rcode"] == 1


def test_sever_all(local, spawn):
    b, c = spawn("B"), spawn("C")
    pb = connect_pair(local, b)[1]
    pc = connect_pair(local, c)[1]
    assert local.cc("sever", "PathPlist", flags1=iucv.IPALL, pathid=77, user="ALL") == 0
    assert only(b.drain(), 3)["pathid"] == pb
    assert only(c.drain(), 3)["pathid"] == pc
    assert local.call("sever", "PathPlist", pathid=0)["fields"]["rcode"] == 1


# -- QUIESCE / RESUME -------------------------------------------------------------------

def test_quiesce_and_resume(pair):
    a, b, pa, pb = pair
    send(b, pb, b"before", answer=8)   # queued before the quiesce: still answerable
    msg = only(a.drain(), 9)
    assert a.cc("quiesce", "PathPlist", pathid=pa, user="HOLD") == 0
    ev = only(b.drain(), 4)
    assert ev["pathid"] == pb and ev["type"] == iucv.IPTYPE_PATH_QUIESCED
    assert ev["image"][16:32] == b"\0" * 8 + b"HOLD    " and ev["image"][4:16] == bytes(12)
    got = b.call("send", "MsgPlist", pathid=pb, flags1=iucv.IPNORPY, bf1=b"no")
    assert got["cc"] == 1 and got["fields"]["rcode"] == iucv.IPRC_QUIESCED == 2
    send(a, pa, b"A may still send", answer=None)   # only the partner is stopped
    assert a.cc("receive", "MsgPlist", bf1={"buf": "r", "size": 8}) == 0
    assert a.cc("reply", "MsgPlist", pathid=pa, msgid=msg["msgid"], bf2=b"ok") == 0
    assert a.cc("resume", "PathPlist", pathid=pa, user="GO") == 0
    types = [i["type"] for i in b.drain()]
    assert 5 in types and 9 in types
    send(b, pb, b"after", answer=None)


def test_quiesce_resume_rc1(local):
    for fn in ("quiesce", "resume"):
        got = local.call(fn, "PathPlist", pathid=3)
        assert got["cc"] == 1 and got["fields"]["rcode"] == 1


def test_ipqusce_at_connect_quiesces_the_target(local, spawn):
    b = spawn("B")
    pa, pb = connect_pair(local, b, cflags=iucv.IPQUSCE)
    assert b.call("send", "MsgPlist", pathid=pb, flags1=iucv.IPNORPY,
                  bf1=b"x")["fields"]["rcode"] == 2
    send(local, pa, b"originator can", answer=None)
    assert local.cc("resume", "PathPlist", pathid=pa) == 0
    assert 5 in [i["type"] for i in b.drain()]
    send(b, pb, b"now", answer=None)


def test_ipqusce_at_accept_quiesces_the_originator(local, spawn):
    b = spawn("B")
    pa, pb = connect_pair(local, b, aflags=iucv.IPQUSCE)
    assert local.call("send", "MsgPlist", pathid=pa, flags1=iucv.IPNORPY,
                      bf1=b"x")["fields"]["rcode"] == 2
    send(b, pb, b"accepter can", answer=None)
    assert b.cc("resume", "PathPlist", pathid=pb) == 0
    assert 5 in [i["type"] for i in local.drain()]
    send(local, pa, b"now", answer=None)


# -- SET MASK / SET CONTROL MASK for control interrupts ------------------------------

def test_setcmask_holds_a_control_interrupt_until_enabled(pair):
    a, b, pa, pb = pair
    all_but_sever = iucv.IPCLPC | iucv.IPCLCC | iucv.IPCLPQ | iucv.IPCLPR
    assert a.cc("setcmask", "PathPlist", image=mask_image(all_but_sever)) == 0
    assert b.cc("quiesce", "PathPlist", pathid=pb) == 0
    assert b.cc("sever", "PathPlist", pathid=pb) == 0
    assert [i["type"] for i in a.drain()] == [4]  # the sever is held
    assert a.cc("setcmask", "PathPlist", image=mask_image(0xF8)) == 0
    assert only(a.drain(), 3)["pathid"] == pa


def test_setmask_without_ipctrl_holds_every_control_interrupt(pair):
    a, b, pa, pb = pair
    assert a.cc("setmask", "PathPlist", image=mask_image(0xF0)) == 0
    assert b.cc("quiesce", "PathPlist", pathid=pb) == 0
    assert b.cc("resume", "PathPlist", pathid=pb) == 0
    assert a.drain() == []
    assert a.cc("setmask", "PathPlist", image=mask_image(0xF8)) == 0
    assert [i["type"] for i in a.drain()] == [4, 5]


# -- LOGOFF and death -----------------------------------------------------------------

def _sent_and_not_completed(a, b, pa, pb):
    """A sends B two two-way messages: one B received, one still queued."""
    send(a, pa, b"received, not replied", answer=8, name="ans1")
    send(a, pa, b"still queued", answer=8, name="ans2")
    b.drain()
    assert b.cc("receive", "MsgPlist", bf1={"buf": "r", "size": 64}) == 0


def _partner_gone(got, pa):
    types = sorted(i["type"] for i in got)
    assert types == [3, 7, 7], got
    for i in got:
        assert i["fields"]["pathid"] == pa
        if i["type"] == 7:
            assert i["fields"]["audit"] & iucv.IPADSVRD
            assert i["fields"]["bf2len"] == 8


def test_logoff_severs_paths_and_completes_messages_with_ipadsvrd(pair):
    a, b, pa, pb = pair
    _sent_and_not_completed(a, b, pa, pb)
    b.logoff()
    _partner_gone(a.drain(), pa)
    assert a.cc("sever", "PathPlist", pathid=pa) == 0


def test_exit_without_logoff_is_logoff(pair):
    a, b, pa, pb = pair
    _sent_and_not_completed(a, b, pa, pb)
    assert b.exit(0) == 0
    _partner_gone(a.drain(), pa)


def test_kill_9_severs_paths_and_completes_messages_with_ipadsvrd(pair):
    a, b, pa, pb = pair
    _sent_and_not_completed(a, b, pa, pb)
    b.proc.kill()
    b.proc.wait()
    got: list = []

    def all_three():
        got.extend(a.drain())
        return len(got) >= 3

    eventually(all_three, what="type 03 and two completions after kill -9")
    _partner_gone(got, pa)
    assert a.cc("sever", "PathPlist", pathid=pa) == 0


def test_logoff_severs_pending_connections_both_ways(local, spawn):
    b = spawn("B")
    pa = local.call("connect", "PathPlist", vmid="B")["fields"]["pathid"]
    b.drain()
    b.call("connect", "PathPlist", vmid="A")
    pend = only(local.drain(), 1)
    b.logoff()
    got = sorted(i["fields"]["pathid"] for i in local.drain() if i["type"] == 3)
    assert got == sorted([pa, pend["pathid"]])
    got = local.call("accept", "PathPlist", image=pend["image"], type=0)
    assert got["cc"] == 1 and got["fields"]["rcode"] in (1, 20)
