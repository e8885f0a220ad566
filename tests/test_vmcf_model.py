"""Random VMCF sequences among 3 VMs (3 child processes) against a pure-Python
model of VMCF (docs/reference.md, "5. VMCF, faithful"): every return code,
interrupt header, data byte and REPLY buffer is compared.  `make stress`
runs many more examples."""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, rule, run_state_machine_as_test

from shmcp import vmcf as V
from vmcf_vms import start

NAMES = ["A", "B", "C"]
LIMIT = V.MSG_LIMIT
FREE, QUEUED, NOTIFIED, RECEIVED, DONE = range(5)
SEND_TYPES = (V.VMCPSEND, V.VMCPSENR, V.VMCPSENX, V.VMCPIDEN)


def u8(name: str) -> bytes:
    return name.encode().ljust(8)


def image(stat: int, eflg: int, func: int, mid: int, user: bytes, lena: int = 0,
          vadb: int = 0, lenb: int = 0, use: bytes = bytes(8)) -> bytes:
    return bytes(V.Vmcmhdr(stat=stat, eflg=eflg, func=func, mid=mid, user=user, lena=lena,
                           vadb=vadb, lenb=lenb, use=use))


class Msg:
    def __init__(self, src: str, sink: str, func: int, mid: int, prio: bool, data: bytes,
                 lenb: int, seq: int) -> None:
        self.src, self.sink, self.func, self.mid, self.prio = src, sink, func, mid, prio
        self.data, self.lenb, self.seq = data, lenb, seq
        self.sink_gen = 0
        self.state = QUEUED
        self.reply = b""


class VMState:
    def __init__(self) -> None:
        self.on = False
        self.flags = 0
        self.lena = 0
        self.partner = b""
        self.quiesced = False
        self.epoch = 0
        self.gen = 0
        self.queue: tuple[list, list] = ([], [])   # priority, normal
        self.msgs: list[Msg | None] = [None] * LIMIT
        self.replybufs: dict[tuple[str, int], int] = {}


class Model:
    """VMCF as implemented: docs/decisions.md, "VMCF (issue 4)", has the choices."""

    def __init__(self) -> None:
        self.vm = {n: VMState() for n in NAMES}
        self.seq = 0

    def all_msgs(self):
        for n in NAMES:  # entry order: source slot (A, B, C log on in order), then index
            for i, m in enumerate(self.vm[n].msgs):
                if m is not None:
                    yield n, i, m

    def lookup(self, src: str, sink: str, mid: int) -> Msg | None:
        for m in self.vm[src].msgs:
            if m is not None and m.func != V.VMCPIDEN and m.sink == sink and m.mid == mid \
                    and m.sink_gen == self.vm[sink].gen:
                return m
        return None

    def free(self, m: Msg) -> None:
        msgs = self.vm[m.src].msgs
        msgs[msgs.index(m)] = None

    def enqueue(self, who: str, prio: bool, rec: tuple) -> None:
        self.vm[who].queue[0 if prio else 1].append(rec)

    def complete(self, m: Msg, eflg: int, stat: int, use: bytes | None, resa: int, resb: int) -> None:
        if m.func == V.VMCPIDEN:
            self.free(m)
            return
        st_ = V.VMCMRESP | stat | (V.VMCMPRTY if m.prio else 0)
        hdr = image(st_, eflg, m.func, m.mid, u8(m.sink), resa, 0, resb, use or bytes(8))
        self.enqueue(m.src, m.prio, ("RESP", m, m.seq, hdr))
        m.state = DONE

    def answer_waiting(self, who: str, keep: str | None) -> None:
        for src, _, m in list(self.all_msgs()):
            if m.sink != who or m.state == DONE or src == keep:
                continue
            resa = 0 if m.state == RECEIVED else len(m.data)
            resb = m.lenb if m.func == V.VMCPSENR else 0
            self.complete(m, 5, 0, None, resa, resb)

    def unauthorize(self, who: str) -> None:
        s = self.vm[who]
        if s.on:
            self.answer_waiting(who, None)
        s.msgs = [None] * LIMIT
        s.replybufs.clear()
        s.on, s.flags, s.lena, s.partner, s.quiesced = False, 0, 0, b"", False
        s.epoch += 1

    def logoff(self, who: str) -> None:
        # a RESPONSE for a message to oneself is not queued: the source is gone
        s = self.vm[who]
        if s.on:
            for src, _, m in list(self.all_msgs()):
                if m.sink == who and m.state != DONE:
                    if src == who:
                        self.free(m)
        self.unauthorize(who)
        s.queue = ([], [])
        s.gen += 1

    # -- DIAGNOSE X'68' -------------------------------------------------------
    def diag(self, who: str, func: int, c: dict) -> dict:
        s = self.vm[who]
        if func > 11:
            return {"rc": 2}
        if func == V.VMCPRECV and c.get("size", 0) < c.get("lena", c.get("size", 0)):
            return {"rc": 1}
        if func != V.VMCPAUTH and not s.on:
            return {"rc": 4}
        user = c.get("user", "")
        mid = c.get("mid", 0)
        use = bytes.fromhex(c.get("use", "")).ljust(8, b"\0")
        flg1 = c.get("flg1", 0)
        if func == V.VMCPAUTH:
            lena = c["size"]
            if lena < 40:
                return {"rc": 1}
            was = s.on
            if was and flg1 & V.VMCPAUTS:
                self.answer_waiting(who, user)
            if not was:
                s.quiesced = False
            s.flags = flg1 & (V.VMCPAUTS | V.VMCPPRTY | V.VMCPSMSG)
            s.lena = lena
            s.partner = u8(user) if flg1 & V.VMCPAUTS else b""
            s.on = True
            return {"rc": 0}
        if func == V.VMCPUAUT:
            self.unauthorize(who)
            return {"rc": 0}
        if func in (V.VMCPQUIE, V.VMCPRESM):
            s.quiesced = func == V.VMCPQUIE
            return {"rc": 0}
        if func in SEND_TYPES:
            return self.send(who, func, user, mid, flg1, c, use)
        if func == V.VMCPCANC:
            m = self.lookup(who, user, mid)
            if m is None:
                if self.lookup(user, who, mid):
                    return {"rc": 3}
                if not self.vm[user].on:
                    return {"rc": 5}
                return {"rc": 12}
            if m.state in (QUEUED, NOTIFIED):
                self.free(m)
                s.replybufs.pop((user, mid), None)
                return {"rc": 0}
            if m.state == RECEIVED:
                self.free(m)
                s.replybufs.pop((user, mid), None)
                return {"rc": 11}
            return {"rc": 14}
        # RECEIVE, REPLY, REJECT
        if not self.vm[user].on:
            return {"rc": 12 if func == V.VMCPRJCT else 5}
        m = self.lookup(user, who, mid)
        if m is None:
            return {"rc": 12}
        if m.state == QUEUED:
            return {"rc": 13}
        sr = m.func == V.VMCPSENR
        if func == V.VMCPRECV:
            size = c.get("size", 0)
            if m.func == V.VMCPSENX or m.state != NOTIFIED:
                return {"rc": 3}
            n = min(size, len(m.data))
            buf = (m.data[:n] + bytes(size - n)).hex()
            if size < len(m.data):
                self.complete(m, 16, 0, use if sr else None, len(m.data) - n, m.lenb)
                return {"rc": 16, "buf": buf}
            if not sr:
                self.complete(m, 0, 0, None, 0, 0)
            else:
                m.data = b""
                m.state = RECEIVED
            return {"rc": 0, "buf": buf}
        if func == V.VMCPREPL:
            if not sr:
                return {"rc": 3}
            if m.state == DONE:
                return {"rc": 12}
            data = bytes.fromhex(c.get("data", ""))
            resa = 0 if m.state == RECEIVED else len(m.data)
            n = min(len(data), m.lenb)
            m.reply = data[:n]
            eflg = 16 if len(data) > m.lenb else 0
            self.complete(m, eflg, 0, use, resa, m.lenb - n)
            return {"rc": eflg}
        if m.func == V.VMCPSENX:
            return {"rc": 3}
        if m.state == DONE:
            return {"rc": 12}
        self.complete(m, 0, V.VMCMRJCT, use if sr else None,
                      0 if m.state == RECEIVED else len(m.data), m.lenb)
        return {"rc": 0}

    def send(self, who: str, func: int, user: str, mid: int, flg1: int, c: dict, use: bytes) -> dict:
        s, t = self.vm[who], self.vm.get(user)
        prio = bool(flg1 & V.VMCPPRTY)
        data = bytes.fromhex(c.get("data", ""))
        if t is None or not t.on or (t.flags & V.VMCPAUTS and t.partner != u8(who)):
            return {"rc": 5}
        if prio and not t.flags & V.VMCPPRTY:
            return {"rc": 18}
        if t.quiesced:
            return {"rc": 9}
        if func == V.VMCPSENX and len(data) + 40 > t.lena:
            return {"rc": 7}
        if func != V.VMCPIDEN and self.lookup(who, user, mid):
            return {"rc": 8}
        if None not in s.msgs:
            return {"rc": 10}
        self.seq += 1
        lenb = c.get("reply", 0) if func == V.VMCPSENR else 0
        m = Msg(who, user, func, mid, prio, data if func != V.VMCPIDEN else b"", lenb, self.seq)
        m.sink_gen = t.gen
        s.msgs[s.msgs.index(None)] = m
        stat = (V.VMCMPRTY if prio else 0) | (V.VMCMRESP if func == V.VMCPIDEN else 0)
        lena = c.get("lena", 0) if func == V.VMCPIDEN else len(data)
        hdr = image(stat, 0, func, mid, u8(who), lena, 0, lenb, use)
        self.enqueue(user, prio, ("SEND", m, m.seq, hdr))
        if func == V.VMCPSENR:
            s.replybufs[(user, mid)] = lenb
        return {"rc": 0}

    def smsg(self, frm: str, to: str, text: bytes) -> dict:
        t = self.vm[to]
        if not t.on or not t.flags & V.VMCPSMSG:
            return {"rc": 5}
        if t.quiesced:
            return {"rc": 9}
        if len(text) + 40 > t.lena:
            return {"rc": 7}
        hdr = image(0, 0, V.VMCPSENX, 0, b"SYSTEM  ", len(text), use=u8(frm))
        self.enqueue(to, False, ("SMSG", t.epoch, text, hdr))
        return {"ok": True}

    def take(self, who: str) -> dict:
        s = self.vm[who]
        while s.queue[0] or s.queue[1]:
            rec = (s.queue[0] or s.queue[1]).pop(0)
            if rec[0] == "SMSG":
                _, epoch, text, hdr = rec
                if epoch == s.epoch and s.on and s.flags & V.VMCPSMSG and len(text) + 40 <= s.lena:
                    return {"hdr": hdr.hex(), "buf": text.hex(), "ib_ok": True}
                continue
            kind, m, seq, hdr = rec
            alive = m in self.vm[m.src].msgs and m.seq == seq
            if kind == "SEND" and alive and m.state == QUEUED:
                if m.func == V.VMCPIDEN:
                    self.free(m)
                elif m.func == V.VMCPSENX:
                    fits = len(m.data) + 40 <= s.lena
                    self.complete(m, 0 if fits else 7, 0, None, 0 if fits else len(m.data), 0)
                    if not fits:
                        continue
                    return {"hdr": hdr.hex(), "buf": m.data.hex(), "ib_ok": True}
                else:
                    m.state = NOTIFIED
                return {"hdr": hdr.hex(), "buf": "", "ib_ok": True}
            if kind == "RESP" and alive and m.state == DONE:
                self.free(m)
                out = {"hdr": hdr.hex(), "buf": "", "ib_ok": True}
                lenb = s.replybufs.pop((m.sink, m.mid), None)
                if m.func == V.VMCPSENR and lenb is not None:
                    out["reply"] = (m.reply + bytes(lenb - len(m.reply))).hex()
                return out
        return {"none": True}


names = st.sampled_from(NAMES)
mids = st.integers(1, 3)
payload = st.integers(0, 24)
uses = st.binary(max_size=8)


class VMCFMachine(RuleBasedStateMachine):
    vms: dict = {}

    @initialize()
    def fresh(self) -> None:
        self.model = Model()
        self.count = 0
        for vm in self.vms.values():
            assert vm.do("relogon") == {"ok": True}

    def data(self, n: int) -> str:
        self.count += 1
        return bytes((self.count * 7 + i) % 256 for i in range(n)).hex()

    def check(self, who: str, op: str, **c: object) -> None:
        got = self.vms[who].do(op, **c)
        if op == "diag":
            want = self.model.diag(who, c["func"], c)
            if c["func"] == V.VMCPRECV:
                want.setdefault("buf", bytes(c["size"]).hex())
        elif op == "take":
            want = self.model.take(who)
            if "hdr" in got and bytes.fromhex(got["hdr"])[8:16] == b"SYSTEM  ":
                got["hdr"] = got["hdr"][:8] + "00000000" + got["hdr"][16:]  # clock mid
        elif op == "smsg":
            want = self.model.smsg(who, c["to"], bytes.fromhex(c["text"]))
            if "error" in got:
                got = {"rc": got["rc"]}
        else:
            raise AssertionError(op)
        assert got == want, f"{who} {op} {c}: got {got}, model {want}"

    @rule(who=names, size=st.sampled_from([39, 40, 56, 64, 169]), specific=st.sampled_from([None, *NAMES]),
          prio=st.booleans(), smsg=st.booleans())
    def authorize(self, who, size, specific, prio, smsg):
        flg1 = (V.VMCPAUTS if specific else 0) | (V.VMCPPRTY if prio else 0) | (V.VMCPSMSG if smsg else 0)
        self.check(who, "diag", func=V.VMCPAUTH, size=size, flg1=flg1, user=specific or "")

    @rule(who=names)
    def unauthorize(self, who):
        self.check(who, "diag", func=V.VMCPUAUT)

    @rule(who=names, to=names, func=st.sampled_from(SEND_TYPES), mid=mids, n=payload,
          prio=st.booleans(), use=uses, reply=st.integers(0, 12))
    def send(self, who, to, func, mid, n, prio, use, reply):
        c = dict(func=func, user=to, mid=mid, flg1=V.VMCPPRTY if prio else 0, use=use.hex())
        if func == V.VMCPIDEN:
            c["lena"] = n
        else:
            c["data"] = self.data(n)
        if func == V.VMCPSENR:
            c["reply"] = reply
        self.check(who, "diag", **c)

    @rule(who=names, frm=names, mid=mids, size=payload, use=uses)
    def receive(self, who, frm, mid, size, use):
        self.check(who, "diag", func=V.VMCPRECV, user=frm, mid=mid, size=size, use=use.hex())

    @rule(who=names, frm=names, mid=mids, n=st.integers(0, 14), use=uses)
    def reply(self, who, frm, mid, n, use):
        self.check(who, "diag", func=V.VMCPREPL, user=frm, mid=mid, data=self.data(n), use=use.hex())

    @rule(who=names, frm=names, mid=mids, use=uses)
    def reject(self, who, frm, mid, use):
        self.check(who, "diag", func=V.VMCPRJCT, user=frm, mid=mid, use=use.hex())

    @rule(who=names, to=names, mid=mids)
    def cancel(self, who, to, mid):
        self.check(who, "diag", func=V.VMCPCANC, user=to, mid=mid)

    @rule(who=names, quiesce=st.booleans())
    def quiesce_resume(self, who, quiesce):
        self.check(who, "diag", func=V.VMCPQUIE if quiesce else V.VMCPRESM)

    @rule(who=names)
    def take(self, who):
        self.check(who, "take")

    @rule(who=names, to=names, n=st.integers(0, 30))
    def smsg(self, who, to, n):
        self.check(who, "smsg", to=to, text=self.data(n))

    @rule(who=names)
    def logoff_logon(self, who):
        self.model.logoff(who)
        assert self.vms[who].do("relogon") == {"ok": True}

    @rule(who=names, func=st.sampled_from([12, 13, 0xFFFF]))
    def bad_subfunction(self, who, func):
        self.check(who, "diag", func=func)


def _run(examples: int, steps: int) -> None:
    vms = start(*NAMES)
    try:
        VMCFMachine.vms = dict(zip(NAMES, vms))
        run_state_machine_as_test(VMCFMachine, settings=settings(
            max_examples=examples, stateful_step_count=steps, deadline=None,
            suppress_health_check=list(HealthCheck), database=None))
    finally:
        for vm in vms:
            vm.close()
            vm.kill()


def test_vmcf_against_model(system):
    _run(int(os.environ.get("SHMCP_MODEL_EXAMPLES", "25")), 40)


@pytest.mark.stress
def test_vmcf_against_model_long(system):
    _run(400, 80)
