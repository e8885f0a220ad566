"""The IUCV reference model (tests/iucv_model.py) alone, against the worked
rules of IBM's IUCV and docs/decisions.md.  No shmcp: these run before the
facility exists and pin down what the stateful test compares."""
from __future__ import annotations


import pytest

import iucv_model as M  # noqa: E402  (tests/ is on the path: pytest puts it there)
from iucv_model import (  # noqa: E402
    IPADPRMD, IPADRJCT, IPADRPLE, IPADSVRD, IPALL, IPFGMCL, IPFGMID, IPFGPID, IPNORPY,
    IPPRTY, IPQUSCE, IPRMDATA, CP, ProgramCheck, Unsettled, plain,
)

FULL = IPFGMID | IPFGPID | IPFGMCL


def cp(*users: str) -> CP:
    c = CP(users or ("A", "B", "C"))
    for u in c.vms:
        assert c.dclbfr(u).cc == 0
    return c


def types(c: CP, user: str) -> list[int]:
    return [p.type for p in c.drain(user)]


def field(pres: M.Presented, off: int, n: int) -> int:
    return int.from_bytes(pres.image[off:off + n], "big")


def path(c: CP, a: str = "A", b: str = "B", cflags: int = 0, aflags: int = 0,
         msglim: int = 0, amsglim: int = 0, cuser: bytes = bytes(16)) -> tuple[int, int]:
    """CONNECT a->b and ACCEPT: (a's path id, b's path id); interrupts drained."""
    r = c.connect(a, {"vmid": b, "flags1": cflags, "msglim": msglim, "user": cuser})
    assert r.cc == 0
    pend = c.drain(b)
    assert [p.type for p in pend] == [1]
    bpid = field(pend[0], 0, 2)
    assert c.accept(b, {"pathid": bpid, "flags1": aflags, "msglim": amsglim}).cc == 0
    assert types(c, a) == [2]
    return plain(r.out["pathid"]), bpid


def send(c: CP, user: str, pid: int, data: bytes = b"x", flags: int = 0, **kw) -> M.Result:
    p = dict(pathid=pid, flags1=flags, **kw)
    if flags & IPRMDATA:
        p["data"] = data
    else:
        p["bf1len"] = len(data)
    return c.send(user, p, data)


# --- paths ---------------------------------------------------------------

def test_path_ids_lowest_free_and_self_connect():
    c = cp()
    a0, b0 = path(c)
    assert (a0, b0) == (0, 0)
    r = c.connect("A", {"vmid": "A"})
    assert plain(r.out["pathid"]) == 1
    pend = c.drain("A")
    assert [p.type for p in pend] == [1] and field(pend[0], 0, 2) == 2
    assert pend[0].image[8:16] == b"A       "
    assert c.sever("A", {"pathid": 0}).cc == 0
    assert c.connect("A", {"vmid": "C"}).out["pathid"] == 0   # freed at once


def test_pending_connection_image():
    c = cp()
    user = bytes(range(16))
    r = c.connect("A", {"vmid": "B", "flags1": IPRMDATA | IPPRTY | IPQUSCE, "msglim": 7,
                        "user": user})
    assert r.cc == 0
    (p,) = c.drain("B")
    assert p.image[:4] == bytes([0, 0, 0xE0, 1])
    assert field(p, 4, 2) == 7 and p.image[0x10:0x20] == user and p.image[0x20:] == bytes(8)


def test_connect_return_codes():
    c = cp()
    c.logon("D")  # logged on, no DECLARE BUFFER
    assert c.connect("A", {"vmid": "NOBODY"}).rcode == 11
    assert c.connect("A", {"vmid": "D"}).rcode == 12
    assert c.connect("A", {"vmid": "*FOO"}).rcode == 16
    assert c.connect("A", {"vmid": "B", "fcncd": 1}).rcode == 17
    assert c.connect("A", {"vmid": "B", "msglim": 256}).rcode == 18
    assert c.connect("A", {"vmid": "B", "msglim": 255}).cc == 0
    with pytest.raises(ProgramCheck):
        c.connect("D", {"vmid": "A"})
    assert c.dclbfr("A").rcode == 19


def test_maxconn():
    c = cp()
    c.vms["A"].maxconn = 2
    assert c.connect("A", {"vmid": "B"}).cc == 0
    assert c.connect("A", {"vmid": "A"}).rcode == 14   # needs two ends of A
    assert c.connect("A", {"vmid": "B"}).cc == 0
    assert c.connect("A", {"vmid": "B"}).rcode == 13
    assert c.connect("B", {"vmid": "A"}).rcode == 14


def test_accept_codes_and_limit_in_force():
    c = cp()
    assert c.accept("B", {"pathid": 0}).rcode == 1
    c.connect("A", {"vmid": "B", "msglim": 5, "flags1": IPPRTY})
    c.drain("B")
    assert c.accept("B", {"pathid": 0, "msglim": 256}).rcode == 18
    r = c.accept("B", {"pathid": 0, "msglim": 9, "flags1": IPPRTY})   # never raises
    assert r.cc == 0 and r.out == {"msglim": 5, "flags1": IPPRTY}
    (p,) = c.drain("A")
    assert p.type == 2 and field(p, 4, 2) == 5 and p.image[2] == IPPRTY
    assert c.accept("B", {"pathid": 0}).rcode == 1                     # not pending any more
    c.connect("A", {"vmid": "B"})                                      # 0 means 10
    c.drain("B")
    assert c.accept("B", {"pathid": 1, "msglim": 3}).out["msglim"] == 3
    c.connect("A", {"vmid": "B", "flags1": IPPRTY})
    c.drain("B")
    assert c.accept("B", {"pathid": 2}).out == {"msglim": 10, "flags1": 0}  # one asked only


def test_sever_pending_both_ways():
    c = cp()
    c.connect("A", {"vmid": "B"})
    c.drain("B")
    assert c.sever("A", {"pathid": 0, "user": b"U" * 16}).cc == 0
    (p,) = c.drain("B")
    assert p.type == 3 and p.image[0x10:0x20] == b"U" * 16
    assert c.accept("B", {"pathid": 0}).rcode == 20
    assert c.sever("B", {"pathid": 0}).cc == 0
    assert c.accept("B", {"pathid": 0}).rcode == 1
    # the target refuses
    c.connect("A", {"vmid": "B"})
    c.drain("B")
    assert c.sever("B", {"pathid": 0}).cc == 0
    assert types(c, "A") == [3]
    assert send(c, "A", 0).rcode == 1
    assert c.sever("A", {"pathid": 0}).cc == 0
    assert c.sever("A", {"pathid": 0}).rcode == 1


# --- SEND ------------------------------------------------------------------

def test_send_return_codes():
    c = cp()
    c.connect("A", {"vmid": "B", "msglim": 2, "flags1": IPQUSCE})
    c.drain("B")
    assert send(c, "A", 0).rcode == 1                       # still pending
    c.accept("B", {"pathid": 0})
    c.drain("A")
    assert send(c, "B", 0).rcode == 2                       # IPQUSCE at CONNECT
    assert send(c, "A", 0, flags=IPPRTY).rcode == 4
    assert send(c, "A", 0, b"12345678", flags=IPRMDATA).rcode == 21
    assert send(c, "A", 0).cc == 0
    assert send(c, "A", 0, flags=IPNORPY).cc == 0
    assert send(c, "A", 0).rcode == 3
    assert send(c, "A", 5).rcode == 1
    assert c.resume("A", {"pathid": 0}).cc == 0
    assert types(c, "B") == [9, 9, 5]
    assert send(c, "B", 0).cc == 0


def test_msglim_counts_until_destroyed():
    c = cp()
    a, b = path(c, msglim=1)
    c.setmask("A", 0xF8 & ~M.IPRPYN)                          # hold completions
    assert send(c, "A", a, flags=IPNORPY).cc == 0
    assert send(c, "A", a).rcode == 3
    c.drain("B")
    assert c.receive("B", {"bf1len": 10}).cc == 0           # completes it
    assert send(c, "A", a).rcode == 3                       # not yet taken
    r = c.testcmpl("A", {})
    assert r.cc == 0 and r.out["flags1"].value == IPNORPY
    assert send(c, "A", a).cc == 0
    assert c.purge("A", {"flags1": IPFGMID | IPFGPID, "pathid": a, "msgid": 2}).cc == 0
    assert send(c, "A", a).cc == 0                          # purge freed it
    assert c.drain("A") == []


def test_message_ids_are_sequential_and_shared():
    c = cp()
    a, b = path(c)
    ids = [send(c, "A", a).out["msgid"] for _ in range(3)]
    assert ids == [1, 2, 3]
    assert [field(p, 4, 4) for p in c.drain("B")] == ids


def test_priority_queued_ahead_fifo_within_class():
    c = cp()
    a, b = path(c, cflags=IPPRTY, aflags=IPPRTY)
    for i, f in enumerate([0, IPPRTY, 0, IPPRTY]):
        send(c, "A", a, bytes([i]), flags=f | IPNORPY)
    assert types(c, "B") == [9, 8, 9, 8]
    got = []
    while (r := c.receive("B", {"bf1len": 1})).cc == 0:
        got.append(r.received)
    assert got == [b"\1", b"\3", b"\0", b"\2"]
    assert types(c, "A") == [6, 6, 7, 7]


# --- RECEIVE ---------------------------------------------------------------

def test_residual_rule_and_partial_receive():
    c = cp()
    a, b = path(c)
    send(c, "A", a, b"0123456789", trgcls=7, bf2len=4)
    c.drain("B")
    r = c.receive("B", {"bf1len": 12})
    assert r.cc == 0 and r.received == b"0123456789" and r.out["bf1len"] == 2
    assert r.out["bf2len"] == 4 and r.out["trgcls"] == 7
    send(c, "A", a, b"0123456789")
    c.drain("B")
    r = c.receive("B", {"bf1len": 4})
    assert (r.cc, r.rcode, r.received, r.out["bf1len"]) == (1, 5, b"0123", 6)
    assert r.out["flags1"] == FULL
    d = c.describe("B")                                     # the head, partial or not,
    assert (d.cc, d.out["bf1len"]) == (0, 6)                # with what is left of it
    assert c.receive("B", {"bf1len": 100}).cc == 2
    again = {"flags1": FULL, "pathid": b, "msgid": r.out["msgid"], "trgcls": 0}
    assert c.receive("B", dict(again, trgcls=1, bf1len=9)).rcode == 8
    r = c.receive("B", dict(again, bf1len=6))
    assert (r.cc, r.received, r.out["bf1len"]) == (0, b"456789", 0)
    assert c.receive("B", dict(again, bf1len=6)).cc == 2    # on the receive queue now


def test_receive_selection():
    c = cp()
    a, b = path(c)
    a2, b2 = path(c, "C", "B")
    send(c, "A", a, b"1", trgcls=1, flags=IPNORPY)
    send(c, "C", a2, b"2", trgcls=2, flags=IPNORPY)
    send(c, "A", a, b"3", trgcls=2, flags=IPNORPY)
    assert c.receive("B", {"flags1": IPFGMCL, "trgcls": 2, "bf1len": 1}).received == b"2"
    assert c.receive("B", {"flags1": IPFGPID, "pathid": b2, "bf1len": 1}).cc == 2
    assert c.receive("B", {"flags1": IPFGPID, "pathid": 9, "bf1len": 1}).rcode == 1
    assert c.receive("B", {"flags1": IPFGPID | IPFGMCL, "pathid": b, "trgcls": 2,
                           "bf1len": 1}).received == b"3"
    with pytest.raises(ProgramCheck):
        c.receive("B", {"flags1": IPFGMID, "msgid": 1})
    assert c.receive("B", {"flags1": FULL, "pathid": b2, "msgid": 1, "trgcls": 1}).rcode == 8
    assert c.receive("B", {"bf1len": 1}).received == b"1"


def test_describe_and_prmdata_receive():
    c = cp()
    a, b = path(c, aflags=IPRMDATA)
    send(c, "A", a, flags=IPRMDATA, data=b"ABCDEFGH", bf2len=3, trgcls=5)
    (p,) = c.drain("B")
    assert p.image[2] == IPRMDATA and p.image[0x0C:0x14] == b"ABCDEFGH"
    assert field(p, 0x20, 4) == 3
    d = c.describe("B")
    assert d.out["flags1"] == IPRMDATA | FULL and d.out["data"] == b"ABCDEFGH"
    r = c.receive("B", {"bf1len": 0})
    assert r.cc == 0 and r.out["data"] == b"ABCDEFGH" and r.received == b""
    assert c.vms["B"].recvq                                  # two-way: awaits REPLY


# --- REPLY / REJECT / completion --------------------------------------------

def two_way(c: CP, a: int, ans: int, data: bytes = b"q", flags: int = 0):
    mid = send(c, "A", a, data, flags=flags, bf2len=ans, srccls=3, msgtag=99).out["msgid"]
    c.drain("B")
    c.receive("B", {"bf1len": 100})
    return mid


def test_reply_fits_truncated_and_prmdata():
    c = cp()
    a, b = path(c)
    mid = two_way(c, a, 8)
    r = c.reply("B", {"pathid": b, "msgid": mid, "trgcls": 0, "bf2len": 5}, b"hello")
    assert (r.cc, r.out["bf2len"]) == (0, 3)
    (p,) = c.drain("A")
    assert p.type == 7 and p.reply == b"hello" and field(p, 0x20, 4) == 3
    assert field(p, 0x14, 4) == 3 and field(p, 0x18, 4) == 99 and field(p, 8, 2) == 0
    mid = two_way(c, a, 3)
    r = c.reply("B", {"pathid": b, "msgid": mid, "trgcls": 0, "bf2len": 5}, b"hello")
    assert (r.cc, r.rcode, r.out["bf2len"]) == (1, 5, 2)
    (p,) = c.drain("A")
    assert p.reply == b"hel" and field(p, 8, 2) == IPADRPLE and field(p, 0x20, 4) == 2
    mid = two_way(c, a, 3)                                   # A did not allow IPRMDATA
    r = c.reply("B", {"pathid": b, "msgid": mid, "trgcls": 0, "flags1": IPRMDATA,
                      "data": b"12345678"})
    assert r.cc == 0
    (p,) = c.drain("A")
    assert field(p, 8, 2) == IPADPRMD and p.reply == b"" and p.image[0x0C:0x14] == bytes(8)
    assert c.reply("B", {"pathid": b, "msgid": mid, "trgcls": 0}).cc == 2


def test_reply_prmdata_allowed_and_priority_reply():
    c = cp()
    a, b = path(c, cflags=IPRMDATA | IPPRTY, aflags=IPPRTY)
    mid = two_way(c, a, 4)
    c.reply("B", {"pathid": b, "msgid": mid, "trgcls": 0, "flags1": IPRMDATA | IPPRTY,
                  "data": b"abcdefgh"})
    (p,) = c.drain("A")
    assert p.type == 6 and p.image[2] == IPRMDATA | IPPRTY and p.image[0x0C:0x14] == b"abcdefgh"


def test_reject_and_testcmpl_cc3():
    c = cp()
    a, b = path(c)
    c.setmask("A", 0x08 | M.IPSNDN | M.IPSNDP)
    mid = send(c, "A", a, b"x", bf2len=4, srccls=6).out["msgid"]
    c.drain("B")
    assert c.reject("B", {"flags1": FULL, "pathid": b, "msgid": mid, "trgcls": 0}).cc == 0
    assert c.reject("B", {"flags1": FULL, "pathid": b, "msgid": mid, "trgcls": 0}).cc == 2
    assert c.testcmpl("A", {"flags1": IPFGMCL, "srccls": 5}).cc == 2
    assert c.testcmpl("A", {"flags1": IPFGMID | IPFGPID | IPFGMCL, "pathid": a, "msgid": mid,
                            "srccls": 5}).rcode == 8
    r = c.testcmpl("A", {"flags1": IPFGMCL, "srccls": 6})
    assert r.cc == 3 and r.out["audit"] == IPADRJCT and r.reply == b""
    with pytest.raises(ProgramCheck):
        c.testcmpl("A", {"flags1": IPFGMID, "msgid": mid})
    c.setmask("A", 0xF8)
    assert c.drain("A") == []                                # withdrawn: already taken


def test_reply_queue_priority_order():
    c = cp()
    a, b = path(c, cflags=IPPRTY, aflags=IPPRTY)
    c.setmask("A", 0xC8)
    ids = [send(c, "A", a, bytes([i]), flags=IPNORPY | f, srccls=i).out["msgid"]
           for i, f in enumerate([0, 0, IPPRTY])]
    for _ in ids:
        c.receive("B", {"bf1len": 1})
    assert c.testmsg("A").cc == 2
    assert [c.testcmpl("A", {}).out["msgid"] for _ in ids] == [ids[2], ids[0], ids[1]]
    assert c.testmsg("A") is None                           # would wait


def test_purge_everywhere_withdraws_interrupts():
    c = cp()
    a, b = path(c)
    c.setmask("B", 0x08)
    mid = send(c, "A", a, b"abc", bf2len=2, srccls=1, msgtag=5).out["msgid"]
    r = c.purge("A", {"flags1": IPFGMID | IPFGPID | IPFGMCL, "pathid": a, "msgid": mid,
                      "srccls": 1})
    assert r.cc == 0 and r.out["msgtag"] == 5 and r.out["audit"] == 0
    c.setmask("B", 0xF8)
    assert c.drain("B") == []
    assert c.receive("B", {"bf1len": 5}).cc == 2
    assert c.purge("A", {"flags1": IPFGMID | IPFGPID, "pathid": a, "msgid": mid}).cc == 2
    assert c.purge("A", {"flags1": IPFGMID | IPFGPID, "pathid": 7, "msgid": mid}).rcode == 1


# --- QUIESCE / RESUME / SEVER -------------------------------------------------

def test_quiesce_resume():
    c = cp()
    a, b = path(c)
    assert c.quiesce("A", {"pathid": a, "user": b"Q" * 16}).cc == 0
    (p,) = c.drain("B")
    assert p.type == 4 and p.image[0x10:0x20] == b"Q" * 16
    assert send(c, "B", b).rcode == 2
    assert send(c, "A", a).cc == 0                          # only the partner stops
    assert c.resume("A", {"pathid": a}).cc == 0
    assert types(c, "B") == [9, 5]
    assert send(c, "B", b).cc == 0
    assert c.quiesce("A", {"pathid": 9}).rcode == 1
    assert c.quiesce("A", {"flags1": IPALL}).cc == 0
    assert types(c, "B") == [4]


def test_sever_messages_in_flight():
    c = cp()
    a, b = path(c)
    to_b = send(c, "A", a, b"ab", bf2len=4).out["msgid"]          # A's, queued at B
    to_a1 = send(c, "B", b, b"cd", bf2len=4).out["msgid"]         # B's, queued at A
    to_a2 = send(c, "B", b, b"ef", flags=IPNORPY).out["msgid"]
    c.drain("A"), c.drain("B")
    c.receive("A", {"flags1": FULL, "pathid": a, "msgid": to_a1, "trgcls": 0, "bf1len": 9})
    assert c.sever("A", {"pathid": a}).cc == 0
    got = c.drain("B")
    assert [p.type for p in got] == [7, 7, 3]
    assert [field(p, 4, 4) for p in got[:2]] == [to_a1, to_a2]
    assert all(field(p, 8, 2) == IPADSVRD for p in got[:2])
    assert send(c, "B", b).rcode == 1
    r = c.receive("B", {"bf1len": 9})                            # A's message still there
    assert r.cc == 0 and r.out["msgid"] == to_b
    assert c.reply("B", {"pathid": b, "msgid": to_b, "trgcls": 0}, b"zz").cc == 0
    assert c.drain("A") == [] and c.drain("B") == []           # nobody to complete
    assert c.sever("B", {"pathid": b}).cc == 0
    assert not c.messages


def test_sever_all_and_destroy_when_both_severed():
    c = cp()
    path(c, "A", "B")
    path(c, "A", "C")
    send(c, "B", 0, b"x")
    c.drain("A")
    assert c.sever("A", {"flags1": IPALL}).cc == 0
    assert c.vms["A"].paths == {}
    assert types(c, "B") == [7, 3] and types(c, "C") == [3]
    c.setmask("B", 0x08)
    assert c.sever("B", {"pathid": 0}).cc == 0
    assert c.sever("C", {"pathid": 0}).cc == 0
    assert not c.messages


def test_masked_control_held_then_presented():
    c = cp()
    c.setcmask("B", 0x40)
    c.connect("A", {"vmid": "B"})
    assert c.drain("B") == []
    c.setcmask("B", 0xF8)
    assert types(c, "B") == [1]
    with pytest.raises(ProgramCheck):
        c.setmask("B", 0x01)


def test_expect_image_and_unsettled():
    r = M.Result(0, {"pathid": 3, "msglim": Unsettled(10, "connect.msglim")})
    image, care = M.expect_image({"vmid": "B"}, r, dont_care=((0x0C, 4),))
    assert image[:2] == b"\0\3" and image[8:16] == b"B       "
    assert care[4:6] == b"\0\0" and care[0x0C:0x10] == bytes(4) and care[0] == 0xFF
    _, care = M.expect_image({}, r, strict=True)
    assert care[4:6] == b"\xff\xff"
    assert M.differs(bytes(40), bytes(40), b"\xff" * 40) == []


# --- the stateful test's harness, run against a model-backed loopback --------

class Loopback:
    """Stands in for a tests/iucv_driver.py child: the same requests and
    answers, served by a second model (message ids from 7001) instead of
    shmcp.  Checks the machine's argument drawing, id mapping and
    comparisons, not the facility."""

    loopback = True
    systems: dict = {}

    def __init__(self) -> None:
        self.user = None
        self.answers: dict[int, bytearray] = {}

    @property
    def cp(self) -> CP:
        return self.systems[self.system]

    def request(self, cmd: dict) -> dict:
        op = cmd["op"]
        if op == "logon":
            self.system, self.user = cmd["system"], cmd["userid"]
            if self.system not in self.systems:
                self.systems[self.system] = CP(("A", "B", "C"), msgid_start=7001)
            return {"ok": self.cp.dclbfr(self.user).cc == 0}
        if op == "logoff":
            self.answers.clear()
            return {"ok": True}
        if op == "drain":
            out = []
            for p in self.cp.drain(self.user, strict=True):
                item = {"image": p.image.hex(),
                        "kind": {6: "CompPlist", 7: "CompPlist", 8: "MsgPlist",
                                 9: "MsgPlist"}.get(p.type, "PathPlist")}
                if p.type in (6, 7):
                    item["answer"] = self.answer(p.msgid, p.reply)
                out.append(item)
            return {"irq": out}
        fn = cmd["fn"]
        if fn == "query":
            return {"cc": 0, "extra": list(self.cp.query(self.user).extra)}
        if fn == "testmsg":
            return {"cc": self.cp.testmsg(self.user).cc}
        if "mask" in cmd:
            getattr(self.cp, fn)(self.user, cmd["mask"])
            return {"cc": 0, "image": (bytes([cmd["mask"]]) + bytes(39)).hex()}
        inp = dict(cmd["fields"])
        for name in ("data", "user"):
            if name in inp:
                inp[name] = bytes.fromhex(inp[name])
        args = ()
        if fn == "send" and "bf1" in cmd:
            args = (bytes.fromhex(cmd["bf1"]["out"])[:inp["bf1len"]],)
        if fn == "reply" and "bf2" in cmd:
            args = (bytes.fromhex(cmd["bf2"]["out"])[:inp["bf2len"]],)
        try:
            res = getattr(self.cp, fn)(self.user, dict(inp), *args)
        except ProgramCheck as e:
            return {"exc": "ProgramCheck", "name": e.name}
        image, _ = M.expect_image(inp, res, strict=True)
        out = {"cc": plain(res.cc), "image": image.hex()}
        if "bf1" in cmd and "in" in cmd["bf1"]:
            buf = bytearray([cmd["bf1"]["fill"]]) * cmd["bf1"]["in"]
            got = res.received or b""
            buf[:len(got)] = got
            out["bf1"] = bytes(buf).hex()
        if fn == "send" and res.cc == 0 and cmd.get("keep_bf2"):
            self.answers[res.out["msgid"]] = bytearray([cmd["bf2"]["fill"]]) * cmd["bf2"]["in"]
        if fn == "testcmpl" and res.cc in (0, 3):
            out["answer"] = self.answer(res.out["msgid"], res.reply)
        return out

    def answer(self, msgid: int, reply: bytes | None):
        area = self.answers.pop(msgid, None)
        if area is None:
            return None
        if reply:
            area[:len(reply)] = reply
        return bytes(area).hex()


def test_stateful_harness_against_loopback():
    import test_iucv_stateful as S

    class Machine(S.IUCVMachine):
        pass

    S.run({u: Loopback() for u in S.VMS}, examples=40, steps=40, machine=Machine)
