"""VMCF between real processes: every return code and data transfer error
code IBM's manuals document, the protocols, SMSG, bad input."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

import shmcp
from shmcp import vmcf
from vmcf_vms import VM, running, start
from vms import eventually

V = vmcf


@pytest.fixture
def ab(system):
    with running("A", "B") as vms:
        yield vms


@pytest.fixture
def abc(system):
    with running("A", "B", "C") as vms:
        yield vms


def hdr(took: dict) -> vmcf.Vmcmhdr:
    assert "hdr" in took, took
    h = vmcf.Vmcmhdr.from_bytes(bytes.fromhex(took["hdr"]) + bytes.fromhex(took["buf"]))
    assert took["ib_ok"], "header and data must also be in the AUTHORIZE buffer"
    return h


def auth(*vms: VM, **kw: object) -> None:
    for vm in vms:
        assert vm.rc(V.VMCPAUTH, **kw) == 0


def none_left(*vms: VM) -> None:
    for vm in vms:
        assert vm.take() == {"none": True}


# -- the protocols -------------------------------------------------------------

def test_send_receive_response_headers(ab):
    a, b = ab
    auth(a, b)
    assert a.rc(V.VMCPSEND, user="B", mid=7, data=b"hello".hex(), use=b"USERDW".hex()) == 0
    h = hdr(b.take())
    assert (h.stat, h.eflg, h.func, h.mid, h.user, h.lena) == (0, 0, V.VMCPSEND, 7, b"A       ", 5)
    assert h.use == b"USERDW\0\0"
    got = b.diag(V.VMCPRECV, user="A", mid=7, size=8, use=b"SINK".hex())
    assert got == {"rc": 0, "buf": (b"hello" + bytes(3)).hex()}
    r = hdr(a.take())
    assert r.stat == V.VMCMRESP and r.eflg == 0 and r.func == V.VMCPSEND and r.mid == 7
    assert r.user == b"B       " and r.lena == 0
    assert r.use == bytes(8), "the sink's doubleword reaches the source only for SEND/RECV"
    none_left(a, b)


def test_send_recv_reply_lands_before_response(ab):
    a, b = ab
    auth(a, b)
    assert a.rc(V.VMCPSENR, user="B", mid=1, data=b"question".hex(), reply=10) == 0
    h = hdr(b.take())
    assert h.func == V.VMCPSENR and h.lena == 8 and h.lenb == 10
    assert b.diag(V.VMCPRECV, user="A", mid=1, size=8)["rc"] == 0
    assert a.take() == {"none": True}, "no RESPONSE before the REPLY"
    assert b.rc(V.VMCPREPL, user="A", mid=1, data=b"answer".hex(), use=b"OK".hex()) == 0
    took = a.take()
    r = hdr(took)
    assert took["reply"] == (b"answer" + bytes(4)).hex()
    assert r.stat == V.VMCMRESP and r.lenb == 4 and r.use == b"OK" + bytes(6)


def test_reply_without_receive_and_zero_length(ab):
    a, b = ab
    auth(a, b)
    assert a.rc(V.VMCPSENR, user="B", mid=1, data=b"ignored".hex(), reply=4) == 0
    b.take()
    assert b.rc(V.VMCPREPL, user="A", mid=1, data=b"data".hex()) == 0
    took = a.take()
    assert took["reply"] == b"data".hex() and hdr(took).lenb == 0
    assert hdr(took).lena == 7, "the SEND data was never moved: residual is all of it"
    assert a.rc(V.VMCPSENR, user="B", mid=2, reply=4) == 0
    b.take()
    assert b.rc(V.VMCPREPL, user="A", mid=2) == 0
    took = a.take()
    assert hdr(took).lenb == 4 and took["reply"] == bytes(4).hex()


def test_sendx_data_in_interrupt_buffer_then_response(ab):
    a, b = ab
    auth(a, b)
    assert a.rc(V.VMCPSENX, user="B", mid=3, data=b"expedited".hex(), lenb=99) == 0
    assert a.take() == {"none": True}, "the RESPONSE comes when the data is given"
    h = hdr(b.take())
    assert h.func == V.VMCPSENX and h.buf == b"expedited" and h.lena == 9 and h.lenb == 99
    r = hdr(a.take())
    assert r.stat == V.VMCMRESP and r.func == V.VMCPSENX and r.eflg == 0


def test_identify_has_resp_bit_and_no_response(ab):
    a, b = ab
    auth(a, b)
    assert a.rc(V.VMCPIDEN, user="B", mid=5, lena=1234, vadb=77, use=b"AVAIL".hex()) == 0
    h = hdr(b.take())
    assert h.stat == V.VMCMRESP and h.func == V.VMCPIDEN and not h.response
    assert (h.mid, h.lena, h.vadb, h.use) == (5, 1234, 77, b"AVAIL\0\0\0")
    none_left(a, b)


def test_reject_carries_sink_doubleword_for_send_recv_only(ab):
    a, b = ab
    auth(a, b)
    a.rc(V.VMCPSENR, user="B", mid=1, reply=4)
    a.rc(V.VMCPSEND, user="B", mid=2)
    b.take(), b.take()
    assert b.rc(V.VMCPRJCT, user="A", mid=1, use=b"REASON".hex()) == 0
    assert b.rc(V.VMCPRJCT, user="A", mid=2, use=b"REASON".hex()) == 0
    r1, r2 = hdr(a.take()), hdr(a.take())
    assert r1.stat == V.VMCMRESP | V.VMCMRJCT and r1.use == b"REASON\0\0"
    assert r2.stat == V.VMCMRESP | V.VMCMRJCT and r2.use == bytes(8)


def test_priority_ahead_of_non_priority(ab):
    a, b = ab
    auth(a)
    auth(b, flg1=V.VMCPPRTY)
    for mid, prio in ((1, 0), (2, V.VMCPPRTY), (3, 0), (4, V.VMCPPRTY)):
        assert a.rc(V.VMCPSEND, user="B", mid=mid, flg1=prio) == 0
    got = [hdr(b.take()) for _ in range(4)]
    assert [h.mid for h in got] == [2, 4, 1, 3]
    assert [bool(h.stat & V.VMCMPRTY) for h in got] == [True, True, False, False]


def test_handler_called_once_per_interrupt_with_vmcmhdr(system):
    srv = VM("SRV", "handler", 6)
    cli, = start("CLI")
    try:
        srv.expect("READY")
        auth(cli)
        for mid in range(1, 4):
            assert cli.rc(V.VMCPSENR, user="SRV", mid=mid, data=b"abc".hex(), reply=3) == 0
        assert cli.rc(V.VMCPIDEN, user="SRV") == 0
        assert cli.rc(V.VMCPSENX, user="SRV", mid=9, data=b"x".hex()) == 0
        assert cli.rc(V.VMCPSEND, user="SRV", mid=10) == 0
        got = srv.json()
        assert got["outside"]
        assert [s["type"] for s in got["seen"]] == ["Vmcmhdr"] * 6
        assert [(s["func"], s["mid"]) for s in got["seen"]] == [
            (3, 1), (3, 2), (3, 3), (10, 0), (4, 9), (2, 10)]
        assert all(s["ib_ok"] for s in got["seen"])
        for mid in range(1, 4):
            took = cli.take()
            assert hdr(took).mid == mid and took["reply"] == b"ABC".hex()
        assert hdr(cli.take()).func == V.VMCPSENX
        srv.tell()
        assert srv.wait() == 0
    finally:
        srv.kill()
        cli.close()
        cli.kill()


# -- return codes ----------------------------------------------------------------

def test_rc1_invalid_buffers_change_nothing(ab):
    a, b = ab
    before = a.do("info")
    assert a.rc(V.VMCPAUTH, size=39) == 1
    assert a.rc(V.VMCPAUTH, size=40, lena=41) == 1
    assert a.rc(V.VMCPAUTH, vada=4096, lena=200) == 1, "an int is no storage"
    assert a.do("info") == before
    auth(a, b)
    before = a.do("info"), b.do("info")
    assert a.rc(V.VMCPSEND, user="B", mid=1, data="00", lena=5) == 1
    assert a.rc(V.VMCPSEND, user="B", mid=1, vada=4096, lena=5) == 1
    assert a.rc(V.VMCPSENR, user="B", mid=1, reply=4, lenb=8) == 1
    assert b.rc(V.VMCPRECV, user="A", mid=1, size=4, lena=8) == 1
    assert (a.do("info"), b.do("info")) == before
    none_left(a, b)


def test_rc2_unknown_subfunction(ab):
    a, _ = ab
    before = a.do("info")
    assert a.rc(12) == 2 and a.rc(0xFFFF) == 2
    assert a.do("info") == before


def test_rc3_protocol_violations(ab):
    a, b = ab
    auth(a, b)
    a.rc(V.VMCPSEND, user="B", mid=1, data="01")
    b.take()
    assert b.rc(V.VMCPREPL, user="A", mid=1) == 3, "REPLY to a SEND"
    assert b.rc(V.VMCPCANC, user="A", mid=1) == 3, "CANCEL of a message B did not originate"
    assert b.diag(V.VMCPRECV, user="A", mid=1, size=1)["rc"] == 0
    assert b.diag(V.VMCPRECV, user="A", mid=1, size=1)["rc"] == 3, "second RECEIVE"
    a.rc(V.VMCPSENR, user="B", mid=2, reply=1)
    b.take()
    assert b.diag(V.VMCPRECV, user="A", mid=2, size=0)["rc"] == 0
    assert b.diag(V.VMCPRECV, user="A", mid=2, size=0)["rc"] == 3


def test_rc4_not_authorized(ab):
    a, _ = ab
    for func in range(1, 12):
        assert a.rc(func, user="B", mid=1) == 4


def test_rc5_user_not_available(abc):
    a, b, c = abc
    auth(a, c)
    assert a.rc(V.VMCPSEND, user="NOSUCH", mid=1) == 5, "not logged on"
    assert a.rc(V.VMCPSEND, user="B", mid=1) == 5, "not authorized"
    assert b.rc(V.VMCPAUTH, flg1=V.VMCPAUTS, user="C") == 0
    assert a.rc(V.VMCPSEND, user="B", mid=1) == 5, "authorized SPECIFIC for another"
    assert a.rc(V.VMCPIDEN, user="B") == 5
    assert c.rc(V.VMCPSEND, user="B", mid=1) == 0
    assert a.rc(V.VMCPRECV, user="NOSUCH", mid=1, size=0) == 5


def test_rc6_protection(ab):
    a, b = ab
    before = a.do("info")
    assert a.rc(V.VMCPAUTH, readonly=True) == 6
    assert a.do("info") == before
    auth(a, b)
    a.rc(V.VMCPSEND, user="B", mid=1, data="01")
    b.take()
    assert b.rc(V.VMCPRECV, user="A", mid=1, size=1, readonly=True) == 6
    assert b.diag(V.VMCPRECV, user="A", mid=1, size=1) == {"rc": 0, "buf": "01"}


def test_rc7_sendx_too_large_and_error_code_7(ab):
    a, b = ab
    auth(a)
    auth(b, size=50)
    assert a.rc(V.VMCPSENX, user="B", mid=1, data=bytes(11).hex()) == 7
    assert a.rc(V.VMCPSENX, user="B", mid=1, data=bytes(10).hex()) == 0
    assert b.rc(V.VMCPAUTH, size=45) == 0  # shrink: the queued SENDX no longer fits
    assert b.take() == {"none": True}, "the SENDX that did not fit is not presented"
    r = hdr(a.take())
    assert r.stat == V.VMCMRESP and r.eflg == 7 and r.lena == 10


def test_rc8_duplicate_message_id(abc):
    a, b, c = abc
    auth(a, b, c)
    assert a.rc(V.VMCPSEND, user="B", mid=1) == 0
    assert a.rc(V.VMCPSENR, user="B", mid=1) == 8
    assert a.rc(V.VMCPSENX, user="B", mid=1) == 8
    assert a.rc(V.VMCPSEND, user="C", mid=1) == 0, "same id to another sink"
    b.take()
    b.diag(V.VMCPRECV, user="A", mid=1, size=0)
    assert a.rc(V.VMCPSEND, user="B", mid=1) == 8, "active until the RESPONSE is taken"
    hdr(a.take())
    assert a.rc(V.VMCPSEND, user="B", mid=1) == 0, "reusable after the RESPONSE"


def test_rc9_quiesce_and_resume(ab):
    a, b = ab
    auth(a, b)
    assert a.rc(V.VMCPSEND, user="B", mid=1, data="aa") == 0
    assert b.rc(V.VMCPQUIE) == 0
    for func in (V.VMCPSEND, V.VMCPSENR, V.VMCPSENX, V.VMCPIDEN):
        assert a.rc(func, user="B", mid=2) == 9
    assert b.rc(V.VMCPSEND, user="A", mid=3) == 0, "a quiesced VM may keep sending"
    b.take()
    assert b.diag(V.VMCPRECV, user="A", mid=1, size=1)["buf"] == "aa", "queued ones still come"
    assert b.rc(V.VMCPRESM) == 0
    assert a.rc(V.VMCPSEND, user="B", mid=2) == 0


def test_rc10_fifty_active_messages(abc):
    a, b, c = abc
    auth(a, b, c)
    for mid in range(50):
        assert a.rc(V.VMCPSEND if mid % 2 else V.VMCPIDEN, user="B", mid=mid) == 0
    assert a.rc(V.VMCPSEND, user="C", mid=99) == 10
    assert a.rc(V.VMCPIDEN, user="C") == 10
    assert b.rc(V.VMCPSEND, user="C", mid=99) == 0, "the limit is per source"
    hdr(b.take())  # an IDENTIFY: presented, it ends and frees its place
    assert a.rc(V.VMCPSEND, user="C", mid=99) == 0


def test_rc11_cancel_after_receive_and_late_reply_rc12(ab):
    a, b = ab
    auth(a, b)
    a.rc(V.VMCPSENR, user="B", mid=1, data="0102", reply=4)
    b.take()
    assert b.diag(V.VMCPRECV, user="A", mid=1, size=2)["rc"] == 0
    assert a.rc(V.VMCPCANC, user="B", mid=1) == 11
    assert b.rc(V.VMCPREPL, user="A", mid=1, data="ff") == 12
    none_left(a, b)


def test_rc12_message_not_found(ab):
    a, b = ab
    auth(a, b)
    assert b.rc(V.VMCPRECV, user="A", mid=42, size=0) == 12
    assert b.rc(V.VMCPRJCT, user="A", mid=42) == 12
    assert a.rc(V.VMCPCANC, user="B", mid=42) == 12


def test_rc13_synchronization_error(ab):
    a, b = ab
    auth(a, b)
    a.rc(V.VMCPSENR, user="B", mid=1, reply=1)
    for func in (V.VMCPRECV, V.VMCPREPL, V.VMCPRJCT):
        assert b.rc(func, user="A", mid=1, size=0) == 13
    b.take()
    assert b.rc(V.VMCPRJCT, user="A", mid=1) == 0


def test_rc14_cancel_too_late_and_cancel_before(ab):
    a, b = ab
    auth(a, b)
    a.rc(V.VMCPSEND, user="B", mid=1)
    a.rc(V.VMCPSENX, user="B", mid=2, data="00")
    a.rc(V.VMCPSENR, user="B", mid=3)
    a.rc(V.VMCPSEND, user="B", mid=4)
    assert a.rc(V.VMCPCANC, user="B", mid=4) == 0, "not yet given: withdrawn"
    for _ in range(3):
        b.take()
    assert b.take() == {"none": True}, "a cancelled message is never presented"
    b.diag(V.VMCPRECV, user="A", mid=1, size=0)
    assert a.rc(V.VMCPCANC, user="B", mid=1) == 14, "SEND already received"
    assert a.rc(V.VMCPCANC, user="B", mid=2) == 14, "SENDX already given"
    b.rc(V.VMCPRJCT, user="A", mid=3)
    assert a.rc(V.VMCPCANC, user="B", mid=3) == 14, "SEND/RECV already rejected"


def test_rc16_incorrect_length_and_error_code_16(ab):
    a, b = ab
    auth(a, b)
    a.rc(V.VMCPSEND, user="B", mid=1, data=b"abcdef".hex())
    b.take()
    assert b.diag(V.VMCPRECV, user="A", mid=1, size=4) == {"rc": 16, "buf": b"abcd".hex()}
    r = hdr(a.take())
    assert r.eflg == 16 and r.lena == 2
    a.rc(V.VMCPSENR, user="B", mid=2, reply=3)
    b.take()
    assert b.rc(V.VMCPREPL, user="A", mid=2, data=b"toolong".hex()) == 16
    took = a.take()
    assert hdr(took).eflg == 16 and took["reply"] == b"too".hex()


def test_rc17_destructive_overlap_talking_to_oneself(system):
    vm = shmcp.logon("SELF")
    ib = bytearray(64)
    assert vmcf.authorize(ib) == 0
    area = bytearray(b"0123456789")
    assert vmcf.send("SELF", 1, area) == 0
    assert isinstance(vm.wait(0), vmcf.Vmcmhdr)
    assert vmcf.receive("SELF", 1, memoryview(area)[5:]) == 17
    r = vm.wait(0)
    assert r.response and r.eflg == 17
    reply = bytearray(8)
    assert vmcf.send_recv("SELF", 2, b"q", reply) == 0
    vm.wait(0)
    assert vmcf.reply("SELF", 2, memoryview(reply)[:4]) == 17
    assert vm.wait(0).eflg == 17
    assert vmcf.send("SELF", 3, area) == 0
    vm.wait(0)
    assert vmcf.receive("SELF", 3, bytearray(10)) == 0, "a separate buffer is fine"
    vm.logoff()


def test_rc18_priority_not_authorized(ab):
    a, b = ab
    auth(a, b)
    for func in (V.VMCPSEND, V.VMCPSENR, V.VMCPSENX, V.VMCPIDEN):
        assert a.rc(func, user="B", mid=1, flg1=V.VMCPPRTY) == 18


# -- error code 5: the sink goes away --------------------------------------------

def test_unauthorize_answers_waiting_sources_with_error_5(abc):
    a, b, c = abc
    auth(a, b, c)
    a.rc(V.VMCPSEND, user="C", mid=1, data="00")
    b.rc(V.VMCPSENR, user="C", mid=2, reply=2)
    c.take()
    assert c.rc(V.VMCPUAUT) == 0
    ra, rb = hdr(a.take()), hdr(b.take())
    assert (ra.eflg, ra.user, ra.lena) == (5, b"C       ", 1)
    assert (rb.eflg, rb.lenb) == (5, 2)
    assert c.take() == {"none": True}, "queued messages are purged"
    assert c.rc(V.VMCPSEND, user="A", mid=1) == 4


def test_logoff_and_death_answer_waiting_sources_with_error_5(abc):
    a, b, c = abc
    auth(a, b, c)
    a.rc(V.VMCPSEND, user="B", mid=1)
    a.rc(V.VMCPSENR, user="C", mid=2, reply=1)
    assert b.do("logoff") == {"ok": True}
    assert hdr(a.take()).eflg == 5
    c.kill()  # death: the watchdog logs C off
    took = eventually(lambda: (lambda t: t if "hdr" in t else None)(a.take()),
                      what="error code 5 after the sink died")
    assert hdr(took).eflg == 5 and hdr(took).mid == 2


def test_reauthorize_specific_answers_others_with_error_5(abc):
    a, b, c = abc
    auth(a, b, c)
    a.rc(V.VMCPSEND, user="C", mid=1)
    b.rc(V.VMCPSEND, user="C", mid=1)
    assert c.rc(V.VMCPAUTH, flg1=V.VMCPAUTS, user="B") == 0
    assert hdr(a.take()).eflg == 5
    assert b.take() == {"none": True}, "the new partner's message stands"


# -- SMSG --------------------------------------------------------------------------

def test_smsg_delivered_as_sendx_from_system(ab):
    a, b = ab
    auth(b, size=169, flg1=V.VMCPSMSG)
    text = "Q" * 129
    assert a.do("smsg", to="B", str=text) == {"ok": True}
    h = hdr(b.take())
    assert h.func == V.VMCPSENX and h.user == b"SYSTEM  " and h.use == b"A       "
    assert h.buf == text.encode() and h.lena == 129
    assert a.take() == {"none": True}, "SMSG needs no VMCF set-up of the issuer"


def test_smsg_errors_are_clear(ab):
    a, b = ab
    got = a.do("smsg", to="NOBODY", str="hi")
    assert got["error"] == "NotLoggedOn" and "NOBODY not logged on" in got["msg"]
    got = a.do("smsg", to="B", str="hi")
    assert got["error"] == "NotReceiving" and "not receiving" in got["msg"]
    auth(b, size=169)
    assert a.do("smsg", to="B", str="hi")["error"] == "NotReceiving", "SMSG option off"
    auth(b, size=50, flg1=V.VMCPSMSG)
    got = a.do("smsg", to="B", str="x" * 11)
    assert got["error"] == "NotReceiving" and got["rc"] == 7
    got = a.do("smsg", to="B", str="x" * 130)
    assert got["error"] == "ValueError" and "130 bytes" in got["msg"]
    assert b.take() == {"none": True}


def test_smsg_command_line(ab, system):
    _, b = ab
    auth(b, size=169, flg1=V.VMCPSMSG)
    run = [sys.executable, "-m", "shmcp", "smsg", "--system", system]
    done = subprocess.run([*run, "B", "QUERY", "STATUS"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    h = hdr(b.take())
    assert h.buf == b"QUERY STATUS" and h.use == b"OPERATOR"
    done = subprocess.run([*run, "NOBODY", "hi"], capture_output=True, text=True)
    assert done.returncode == 1 and "NOBODY not logged on" in done.stderr
    done = subprocess.run([*run, "B", "y" * 130], capture_output=True, text=True)
    assert done.returncode == 1 and "at most 129" in done.stderr
    assert b.take() == {"none": True}


# -- bad input ---------------------------------------------------------------------

def test_bad_python_input_is_a_clear_error(system):
    with pytest.raises(ValueError, match="longer than 8"):
        vmcf.Vmcparm(user="NINECHARS")
    with pytest.raises(TypeError, match="vada must be a buffer"):
        vmcf.Vmcparm(vada="text")
    # the helpers name their own arguments, with the field behind each
    with pytest.raises(TypeError, match=r"^data \(vada\) must be a buffer"):
        vmcf.send_recv("B", 1, "text")
    with pytest.raises(TypeError, match=r"^reply_buffer \(vadb\) must be a buffer"):
        vmcf.send_recv("B", 1, b"x", "text")
    with pytest.raises(TypeError, match=r"^buffer \(vada\) must be a buffer"):
        vmcf.receive("B", 1, 2.5)
    for helper in (vmcf.send, vmcf.sendx, vmcf.reply):
        with pytest.raises(TypeError, match=r"^data \(vada\) must be a buffer"):
            helper("B", 1, "text")
    with pytest.raises(TypeError, match=r"^buffer \(vada\) must be a buffer"):
        vmcf.authorize("text")
    with pytest.raises(ValueError, match="^mid"):
        vmcf.send("B", -1, b"x")
    with pytest.raises(ValueError, match="mid"):
        vmcf.Vmcparm(mid=-1)
    with pytest.raises(TypeError, match="no field"):
        vmcf.Vmcparm(bogus=1)
    with pytest.raises(shmcp.NotLoggedOn):
        vmcf.quiesce()
    with pytest.raises(ValueError, match="at most 129"):
        shmcp.smsg("B", b"z" * 130)
    p = vmcf.Vmcparm(flg1=V.VMCPPRTY, func=V.VMCPSENR, mid=9, user="AB", vada=b"xyz",
                     vadb=bytearray(5), use=b"U")
    image = bytes(p)
    assert len(image) == 40 and image[0x14:0x18] == (3).to_bytes(4, "big")
    assert image[0x1C:0x20] == (5).to_bytes(4, "big")
    back = vmcf.Vmcparm.from_bytes(image)
    assert (back.flg1, back.func, back.mid, back.user, back.lena, back.lenb, back.use) == (
        V.VMCPPRTY, V.VMCPSENR, 9, b"AB      ", 3, 5, b"U" + bytes(7))


def test_constants_exported():
    assert (V.VMCPAUTH, V.VMCPRJCT, V.VMCPAUTS, V.VMCPPRTY, V.VMCPSMSG) == (0, 11, 0x80, 0x40, 0x20)
    assert (V.VMCMRESP, V.VMCMRJCT, V.VMCMPRTY) == (0x80, 0x40, 0x20)
    assert V.RC_MESSAGE_LIMIT == 10 and V.RC_PRIORITY_NOT_AUTHORIZED == 18
    assert shmcp.Vmcparm is vmcf.Vmcparm and shmcp.Vmcmhdr is vmcf.Vmcmhdr
    assert os.path.basename(vmcf.__file__) == "vmcf.py"


def test_query_vmcf_command(ab, system):
    a, b = ab
    auth(b, size=169, flg1=V.VMCPSMSG | V.VMCPAUTS, user="A")
    done = subprocess.run([sys.executable, "-m", "shmcp", "query", "vmcf", "--system", system],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = sorted(done.stdout.splitlines())
    assert lines == ["A        VMCF not authorized",
                     "B        VMCF authorized buffer 169 SPECIFIC=A SMSG out 0 in 0"]


@contextlib.contextmanager
def _b_and_me() -> Iterator[tuple[VM, shmcp.VirtualMachine, bytearray]]:
    """B in a process of its own and A in this one, both authorized, and
    A's AUTHORIZE buffer."""
    with running("B") as (b,):
        auth(b)
        with shmcp.logon("A") as me:
            ib = bytearray(64)
            assert vmcf.authorize(ib) == 0
            yield b, me, ib


def test_send_recv_reply_lands_when_another_thread_takes_the_response(system):
    """The C path of DIAGNOSE X'68' (csrc/pyext/vmcfcall.c): a thread waits
    in the core while the SEND/RECV is made, so the RESPONSE is presented
    (and the REPLY written) in the core, in that thread, as soon as the
    sink answers."""
    with _b_and_me() as (b, me, ib):
        seen = []
        waiter = threading.Thread(target=lambda: seen.append(me.wait(10)))
        waiter.start()
        answer = bytearray(6)
        assert vmcf.diag68 is not vmcf._diag68, "the C call is in use"
        assert vmcf.send_recv("B", 9, b"question", answer) == 0
        with pytest.raises(BufferError):
            answer.append(0)  # the core writes the reply there: it must not move
        b.take()
        assert b.rc(V.VMCPREPL, user="A", mid=9, data=b"answer".hex()) == 0
        waiter.join(10)
        assert seen and seen[0].response and seen[0].mid == 9 and seen[0].lenb == 0
        assert vmcf.Vmcmhdr.from_bytes(bytes(ib[:40])) == seen[0]
        assert bytes(answer) == b"answer", "the REPLY is in the buffer when its RESPONSE is shown"
        assert not vmcf._state(me).replies, "no stale REPLY-buffer record is left"
        answer.append(0)  # let go with its RESPONSE


class _LateReturn:
    """The core as the program sees it when the RESPONSE comes first: the
    real DIAGNOSE X'68', then ``meanwhile`` (the sink answers and this VM
    takes the RESPONSE, as another thread or a SIGVMCF handler would) before
    the call returns to Python."""

    def __init__(self, lib, meanwhile) -> None:
        self._lib, self._meanwhile = lib, meanwhile

    def __getattr__(self, name):
        return getattr(self._lib, name)

    def shmcp_vmcf_diag68(self, *args):
        rc = self._lib.shmcp_vmcf_diag68(*args)
        if rc == 0:
            self._meanwhile()
        return rc


def test_send_recv_reply_kept_when_the_response_comes_before_the_call_returns(
        system, monkeypatch):
    with _b_and_me() as (b, me, ib):
        seen = []

        def sink_answers_and_response_is_taken():
            b.take()
            assert b.rc(V.VMCPREPL, user="A", mid=9, data=b"answer".hex()) == 0
            seen.append(me.wait(10))

        # the Python path of DIAGNOSE X'68' is the one that calls vmcf.lib
        monkeypatch.setattr(vmcf, "diag68", vmcf._diag68)
        monkeypatch.setattr(vmcf, "lib", _LateReturn(vmcf.lib, sink_answers_and_response_is_taken))
        answer = bytearray(6)
        assert vmcf.send_recv("B", 9, b"question", answer) == 0
        monkeypatch.undo()
        assert seen and vmcf.Vmcmhdr.from_bytes(bytes(ib[:40])).response
        assert bytes(answer) == b"answer", "the REPLY must land although the RESPONSE came first"
        assert not vmcf._state(me).replies, "no stale REPLY-buffer record is left"
