"""VMCF's DIAGNOSE X'68' in C (csrc/pyext/vmcfcall.c) against its Python
path (vmcf._diag68): the same return codes and errors, case by case, and
the C call's own common case end to end in one process."""
from __future__ import annotations

import array
import sys

import pytest

import shmcp
from shmcp import _native, vmcf
from shmcp.errors import NotLoggedOn

V = vmcf


def _cases():
    """(name, VMCPARM fields) whose outcome is a return code with nothing
    changed: bad areas, unknown partners and messages."""
    return [
        ("SEND data shorter than lena", dict(func=V.VMCPSEND, user="A", mid=1, vada=bytes(4), lena=8)),
        ("SEND an int area with a length", dict(func=V.VMCPSEND, user="A", mid=1, vada=5, lena=3)),
        ("SEND to nobody", dict(func=V.VMCPSEND, user="NOBODY", mid=1, vada=b"x")),
        ("SEND/RECV into bytes", dict(func=V.VMCPSENR, user="A", mid=1, vada=b"q", vadb=b"ro")),
        ("SEND/RECV reply buffer short", dict(func=V.VMCPSENR, user="A", mid=1, vada=b"q",
                                               vadb=bytearray(2), lenb=4)),
        ("SEND/RECV bad data and bad buffer", dict(func=V.VMCPSENR, user="A", mid=1, vada=b"",
                                                    lena=9, vadb=b"ro")),
        ("RECEIVE into bytes", dict(func=V.VMCPRECV, user="A", mid=1, vada=b"abc")),
        ("RECEIVE no such message", dict(func=V.VMCPRECV, user="A", mid=99, vada=bytearray(8))),
        ("RECEIVE an array (the Python path's)", dict(func=V.VMCPRECV, user="A", mid=99,
                                                       vada=array.array("b", bytes(8)))),
        ("RECEIVE into a read-only memoryview", dict(func=V.VMCPRECV, user="A", mid=1,
                                                     vada=memoryview(b"abc"))),
        ("RECEIVE into a strided memoryview", dict(func=V.VMCPRECV, user="A", mid=1,
                                                   vada=memoryview(bytearray(16))[::2])),
        ("SEND a memoryview shorter than lena", dict(func=V.VMCPSEND, user="A", mid=1,
                                                     vada=memoryview(bytearray(8))[2:], lena=8)),
        ("SEND/RECV into a read-only memoryview", dict(func=V.VMCPSENR, user="A", mid=1,
                                                       vada=b"q", vadb=memoryview(b"ro"))),
        ("REPLY a memoryview, no such message", dict(func=V.VMCPREPL, user="A", mid=99,
                                                     vada=memoryview(bytearray(b"r")))),
        ("REPLY no such message", dict(func=V.VMCPREPL, user="A", mid=99, vada=b"r")),
        ("REJECT no such message", dict(func=V.VMCPRJCT, user="A", mid=99)),
        ("SENDX too large", dict(func=V.VMCPSENX, user="A", mid=1, vada=bytes(64))),
        ("IDENTIFY to nobody", dict(func=V.VMCPIDEN, user="NOBODY")),
        ("subfunction 77", dict(func=77)),
    ]


@pytest.mark.parametrize("name,fields", _cases(), ids=[c[0] for c in _cases()])
def test_c_and_python_paths_agree(system, name, fields):
    with shmcp.logon("A"):
        assert vmcf.authorize(bytearray(64)) == 0
        c_rc = vmcf.diag68(V.Vmcparm(**fields))
        py_rc = vmcf._diag68(V.Vmcparm(**fields))
        assert c_rc == py_rc != 0, name
        assert vmcf.info()["active_out"] == 0, "nothing was queued"


def test_the_c_call_is_vmcf_diag68_and_needs_a_vm(system):
    assert vmcf.diag68 is _native.vmcf_diag68
    with pytest.raises(NotLoggedOn):
        vmcf.diag68(V.Vmcparm(func=V.VMCPSEND, user="A", vada=b"x"))
    with pytest.raises(TypeError, match="Vmcparm"):
        vmcf.diag68(b"\0" * 40)


def test_exchange_in_one_process_through_the_c_calls(system):
    """SEND/RECV to itself: the C call queues it, wait() shows the SEND and
    the RESPONSE from C, the reply is in the buffer, the AUTHORIZE buffer
    holds the last header, nothing is left over."""
    with shmcp.logon("A") as vm:
        ib = bytearray(64)
        assert vmcf.authorize(ib) == 0
        answer = bytearray(16)
        sr = V.Vmcparm(func=V.VMCPSENR, user="A", vadb=answer, use=b"CLIENT")
        rbuf = bytearray(16)
        rp = V.Vmcparm(func=V.VMCPRECV, vada=rbuf)
        yp = V.Vmcparm(func=V.VMCPREPL)
        for mid in range(1, 201):
            sr.mid, sr.vada = mid, b"ping %d" % mid
            assert vmcf.diag68(sr) == 0
            h = vm.wait()
            assert type(h) is V.Vmcmhdr and not h.response and h.func == V.VMCPSENR
            assert (h.mid, h.user, h.lena, h.lenb, h.use) == (mid, b"A       ", len(sr.vada),
                                                              16, b"CLIENT\0\0")
            assert bytes(ib[:40]) == bytes(h)
            rp.user, rp.mid, rp.lena = h.user, h.mid, h.lena
            assert vmcf.diag68(rp) == 0
            yp.user, yp.mid, yp.vada = h.user, h.mid, b"pong %d" % mid
            yp.use = mid
            assert vmcf.diag68(yp) == 0
            r = vm.wait()
            assert r.response and r.mid == mid and r.eflg == 0
            assert r.use == mid.to_bytes(8, "big")
            n = 16 - r.lenb
            assert bytes(answer[:n]) == b"pong %d" % mid
            assert bytes(ib[:40]) == bytes(r)
        assert not vmcf._state(vm).replies
        assert vmcf.info()["active_out"] == 0 and vm.pending() == 0


def _python_calls(record):
    """A profile function noting each call of vmcf.py's Python path."""
    def note(frame, event, arg):
        if event == "call" and frame.f_code is vmcf._diag68.__code__:
            record.append(frame.f_code.co_name)
    return note


def test_exchange_of_memoryview_slices_through_the_c_calls(system):
    """A server echoing what it RECEIVEd passes slices of its buffer:
    memoryviews go the C call's way (never the Python path), the data
    lands where each slice points, and the REPLY buffer can be neither
    resized nor released while its SEND/RECV is in flight."""
    python_path: list = []
    with shmcp.logon("A") as vm:
        assert vmcf.authorize(bytearray(64)) == 0
        answer = bytearray(b"." * 24)
        rbuf = bytearray(b"_" * 24)
        rp = V.Vmcparm(func=V.VMCPRECV)
        yp = V.Vmcparm(func=V.VMCPREPL)
        sys.setprofile(_python_calls(python_path))
        for mid in range(1, 51):
            window = memoryview(answer)[4:20]
            sr = V.Vmcparm(func=V.VMCPSENR, user="A", mid=mid, vadb=window,
                           vada=memoryview(b"request %02d" % mid)[:10])
            assert vmcf.diag68(sr) == 0
            assert vmcf._state(vm).replies[(b"A       ", mid)] == (window, 16)
            with pytest.raises(BufferError):
                window.release()  # its export is held until the RESPONSE
            with pytest.raises(BufferError):
                answer.append(0)
            del sr, window
            h = vm.wait()
            assert (h.mid, h.lena, h.lenb) == (mid, 10, 16)
            got = memoryview(rbuf)[8:8 + h.lena]
            rp.user, rp.mid, rp.vada = h.user, h.mid, got
            assert vmcf.diag68(rp) == 0
            assert bytes(rbuf) == b"_" * 8 + (b"request %02d" % mid)[:10] + b"_" * 6
            yp.user, yp.mid, yp.vada = h.user, h.mid, got[:7]
            assert vmcf.diag68(yp) == 0
            r = vm.wait()
            assert r.response and r.mid == mid and r.eflg == 0 and r.lenb == 16 - 7
            assert bytes(answer) == b"...." + (b"request %02d" % mid)[:7] + b"." * 13
            answer[:] = b"." * 24
            answer.append(0)  # let go: resizable again
            del answer[-1]
        sys.setprofile(None)
        assert python_path == []
        assert not vmcf._state(vm).replies
        assert vmcf.info()["active_out"] == 0 and vm.pending() == 0


def _released() -> memoryview:
    view = memoryview(bytearray(4))
    view.release()
    return view


_FIELD_VALUES = {
    "mid": [0, 7, 0xFFFFFFFF, 1 << 32, -1, True, 2.0, "7", None],
    "lena": [0, 64, 0xFFFFFFFF, 1 << 32, -1, None, False],
    "lenb": [3, None, 1 << 40, "3"],
    "vada": [b"abc", bytearray(4), 5, None, memoryview(b"xy"), -1, 1 << 32, "text", 1.5,
             memoryview(bytearray(8))[2:6], memoryview(bytearray(8))[::2], _released()],
    "vadb": [bytearray(8), b"", 0, object()],
    "user": ["A", "a", b"SERVER", b"SERVER  ", "TOOLONGUSER", "", "B C", None, 5, bytearray(b"X")],
    "func": [0, 3, 0xFFFF, 1 << 16, -1, True, "3", None],
    "use": [b"CLIENT", "x", 5, 1 << 64, b"123456789", None, 1.0],
    "flg1": [0, 64, 255, 256, -1, False, None],
    "flg2": [1, 1 << 8, "1"],
    "stat": [128, 0, 255, 256, -3, None, 2.0],
    "eflg": [5, 300, "5"],
}


def _store(parm, name, value, setter):
    try:
        setter(parm, value)
    except (TypeError, ValueError) as exc:
        return type(exc), str(exc)
    slot = {"flg1": "_f1", "stat": "_f1", "flg2": "_f2", "eflg": "_f2"}.get(name, "_" + name)
    return getattr(parm, name), getattr(parm, slot)


@pytest.mark.parametrize("name", sorted(_FIELD_VALUES))
def test_field_stores_in_c_agree_with_the_properties(name):
    """vmcfcall.c's Field reads a set field and stores the common values
    itself: whatever the value, the field ends as the property would leave
    it and reads alike, errors alike (a userid twice: the second store is
    the C path's, once checked)."""
    classes = [c for c in (V.Vmcparm, V.Vmcmhdr) if name in c._names()]
    for cls in classes:
        field = next(k.__dict__[name] for k in cls.__mro__ if name in k.__dict__)
        assert type(field).__name__ == "VmcfField"
        prop = field.__wrapped__
        assert isinstance(prop, property) and field.__doc__ == prop.__doc__
        assert getattr(cls(), name) == prop.__get__(cls()), "a fresh field reads alike"
        for value in _FIELD_VALUES[name] * 2:
            via_c = _store(cls(), name, value, lambda p, v: setattr(p, name, v))
            via_py = _store(cls(), name, value, prop.__set__)
            assert via_c == via_py, (cls.__name__, name, value)


def test_reply_buffers_table_holds_each_export_until_let_go():
    """VmcfReplies, the REPLY buffers in flight: a mapping (user, mid) ->
    (buffer, lenb) whose entries hold their buffer's export, one per key,
    let go by del, pop, a replacement, clear and its own end."""
    r = _native.VmcfReplies()
    a, b = bytearray(8), bytearray(4)
    key = (b"SERVER  ", 7)
    assert len(r) == 0 and not r and r.get(key) is None and key not in r
    r[key] = (a, 8, "ignored")
    r[(b"SERVER  ", 8)] = (b, 4)
    assert len(r) == 2 and key in r and r[key] == (a, 8) and r.get(key, 0) == (a, 8)
    with pytest.raises(BufferError):
        a.append(0)
    r[key] = (b, 2)  # a replacement lets the first buffer go
    a.append(0)
    assert r[key] == (b, 2) and len(r) == 2
    assert r.pop(key) == (b, 2) and r.pop(key, "none") == "none"
    with pytest.raises(KeyError):
        r.pop(key)
    with pytest.raises(KeyError):
        del r[key]
    with pytest.raises(BufferError):
        b.append(0)  # still held by (SERVER, 8)
    del r[(b"SERVER  ", 8)]
    b.append(0)
    for mid in range(200):
        r[(b"X       ", mid)] = (memoryview(a), mid)
    assert len(r) == 200 and r[(b"X       ", 150)][1] == 150
    r.clear()
    assert not r
    a.append(0)
    r[key] = (a, 1)
    del r  # its end lets go too
    a.append(0)


@pytest.mark.parametrize("key", [("SERVER", 1), (b"SHORT", 1), (b"SERVER  ", -1),
                                 (b"SERVER  ", 1 << 32), (b"SERVER  ", "1"), b"SERVER  ", None])
def test_reply_buffers_table_refuses_bad_keys(key):
    r = _native.VmcfReplies()
    for call in (lambda: r.get(key), lambda: r.pop(key, None), lambda: key in r,
                 lambda: r.__setitem__(key, (bytearray(1), 1))):
        with pytest.raises(TypeError, match="user: 8 bytes, mid: uint32"):
            call()


@pytest.mark.parametrize("value", [(b"read-only", 1), (bytearray(1),), (bytearray(1), -1),
                                   (bytearray(1), 1 << 32), [bytearray(1), 1], 5, (object(), 1)])
def test_reply_buffers_table_refuses_bad_entries(value):
    """A REPLY buffer must be writable and its length a uint32: nothing is
    recorded otherwise."""
    r = _native.VmcfReplies()
    with pytest.raises((TypeError, BufferError)):
        r[(b"SERVER  ", 1)] = value
    assert not r


def test_records_taken_as_is_carry_their_tag_in_the_word(system):
    """A SEND or RESPONSE record taken without the core presenting it (as
    a handler's or a stashed interrupt is) names its message in its word,
    no storage behind it; the Python path presents it with that word: the
    SEND given, the reply in the REPLY buffer, a cancelled message's
    record dropped."""
    vmcf_bit = 1 << shmcp.VMCF
    with shmcp.logon("A") as vm:
        assert vmcf.authorize(bytearray(64)) == 0
        free = vm.attached.storage_free()
        answer = bytearray(8)
        assert vmcf.send_recv("A", 1, b"ask", answer) == 0
        assert vmcf.send("A", 2, b"gone") == 0
        assert vmcf.cancel("A", 2) == 0
        staged = vm.attached.storage_free()
        sent = vm._next(vmcf_bit, 0, 0)
        assert not sent.presented and sent.buf == b"" and sent.word != 0
        assert vm.attached.storage_free() == staged < free, "no block behind the record"
        assert vm._present(sent) is sent
        assert vmcf.receive("A", 1, bytearray(3)) == 0
        assert vmcf.reply("A", 1, b"answer") == 0
        cancelled = vm._next(vmcf_bit, 0, 0)
        assert cancelled.word != 0 and vm._present(cancelled) is None, "withdrawn: dropped"
        response = vm._next(vmcf_bit, 0, 0)
        assert response.word != 0 and response.buf == b""
        shown = vm._present(response)
        assert shown is response and vmcf._view(shown).response
        assert bytes(answer[:6]) == b"answer" and not vmcf._state(vm).replies
        assert vm.attached.storage_free() == free and vm.pending() == 0
        assert vmcf.info()["active_out"] == 0


def test_a_message_id_stays_active_for_its_userid_until_its_response(system):
    """A SEND/RECV answered but its RESPONSE not yet taken is still active
    for its sink's userid, also after that sink logged off and on again:
    a second SEND/RECV with the same (user, mid) gets error code 8
    (duplicate), so the first's REPLY buffer stays held -- the core
    writes the reply into it when its RESPONSE is shown -- and no second
    buffer takes its place under the same key.  Once that RESPONSE is
    taken, the id is free again."""
    from vmcf_vms import running
    with shmcp.logon("A") as vm, running("B") as (b,):
        assert vmcf.authorize(bytearray(64)) == 0
        assert b.rc(V.VMCPAUTH) == 0
        first, second = bytearray(8), bytearray(8)
        assert vmcf.diag68(V.Vmcparm(func=V.VMCPSENR, user="B", mid=1, vada=b"one",
                                     vadb=first)) == 0
        assert "hdr" in b.take()
        assert b.rc(V.VMCPREPL, user="A", mid=1, data=b"first".hex()) == 0
        assert b.do("relogon") == {"ok": True}
        assert b.rc(V.VMCPAUTH) == 0
        again = V.Vmcparm(func=V.VMCPSENR, user="B", mid=1, vada=b"two", vadb=second)
        assert vmcf.diag68(again) == V.RC_DUPLICATE_MESSAGE
        second.append(0)  # refused: not held
        with pytest.raises(BufferError):
            first.append(0)  # its RESPONSE is still queued
        r = vm.wait()
        assert r.response and r.mid == 1 and bytes(first[:5]) == b"first"
        del second[8:]
        assert vmcf.diag68(V.Vmcparm(func=V.VMCPSENR, user="B", mid=1, vada=b"two",
                                     vadb=second)) == 0
        with pytest.raises(BufferError):
            second.append(0)  # its SEND/RECV is in flight
        assert "hdr" in b.take()
        assert b.rc(V.VMCPREPL, user="A", mid=1, data=b"second".hex()) == 0
        r = vm.wait()
        assert r.response and r.mid == 1 and bytes(second[:6]) == b"second"
        assert not vmcf._state(vm).replies
        first.append(0)
        second.append(0)
