"""Random CONNECT / ACCEPT / SEND / RECEIVE / REPLY / REJECT / PURGE / QUIESCE /
RESUME / SEVER sequences among three VMs, each a real child process
(tests/iucv_driver.py), run against the reference model (tests/iucv_model.py)
and compared: every condition code, return code, output field of the 40-byte
plist image, interrupt (type and image, in order) and data byte.

Message ids are compared relative: the model counts from 1, the real ids are
mapped to the model's in order of appearance and must be strictly increasing.
Interrupt order is compared within each class (priority: 06, 08; the rest):
IBM's IUCV lets priority interrupts overtake non-priority ones.
Fields the specs leave open (iucv_model.UNSETTLED) are not compared unless
SHMCP_MODEL_STRICT=1.

Each hypothesis example runs on a fresh system; the three children are
started once per test and log on to each example's system by a command.
The tests skip while shmcp.iucv does not exist; test_iucv_model.py runs the
same machine against a model-backed loopback to check the harness itself.
"""
from __future__ import annotations

import itertools
import os
import subprocess

import pytest
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import (  # noqa: E402
    RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test,
)

import shmcp  # noqa: E402
from shmcp.testing import ChildVM

import iucv_model as M  # noqa: E402  (tests/ is on the path: pytest puts it there)
from iucv_model import (  # noqa: E402
    IPALL, IPFGMCL, IPFGMID, IPFGPID, IPNORPY, IPPRTY, IPQUSCE, IPRMDATA, Unsettled,
)

HERE = os.path.dirname(os.path.abspath(__file__))
VMS = ("A", "B", "C")
RECV_FILL = 0xEE
ANSWER_FILL = 0xA5
FULL = IPFGMID | IPFGPID | IPFGMCL
STRICT = os.environ.get("SHMCP_MODEL_STRICT") == "1"
KIND = {1: "PathPlist", 2: "PathPlist", 3: "PathPlist", 4: "PathPlist", 5: "PathPlist",
        6: "CompPlist", 7: "CompPlist", 8: "MsgPlist", 9: "MsgPlist"}
_systems = itertools.count()


class DriverProc(ChildVM):
    """One tests/iucv_driver.py child: a request, an answer."""

    def __init__(self) -> None:
        super().__init__(os.path.join(HERE, "iucv_driver.py"))
        assert self.line(20) == "READY"

    def request(self, cmd: dict, timeout: float = 20) -> dict:
        try:
            answer = super().request(cmd, timeout)
        except TimeoutError:
            raise AssertionError("the driver child did not answer in time (blocked in a call?)") from None
        except EOFError:
            raise AssertionError(f"the driver child ended (rc {self.proc.poll()})") from None
        if "error" in answer:
            raise AssertionError(f"driver error on {cmd}:\n{answer['error']}")
        return answer

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.tell("")
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()


def mismatch(what: str, expected, got, detail: str = "") -> AssertionError:
    return AssertionError(f"{what}: model {expected!r}, real {got!r}{detail}")


class IUCVMachine(RuleBasedStateMachine):
    procs: dict[str, DriverProc] = {}

    def __init__(self) -> None:
        super().__init__()
        self.system = f"test-{os.getpid()}-iucvmodel-{next(_systems)}"
        self.cp = M.CP(VMS)
        self.real_of: dict[int, int] = {}      # model message id -> real
        self.answer_area: dict[int, int] = {}  # model message id -> answer buffer size
        for u in VMS:
            got = self.procs[u].request({"op": "logon", "system": self.system, "userid": u})
            assert got["ok"], f"DECLARE BUFFER of {u}: {got}"
            self.cp.dclbfr(u)

    def teardown(self) -> None:
        for u in VMS:
            self.procs[u].request({"op": "logoff"})
        if not getattr(self.procs[VMS[0]], "loopback", False):
            shmcp.shutdown(self.system)

    # -- comparing -----------------------------------------------------------

    def to_real(self, image: bytes, care: bytes) -> bytes:
        """The expected image with the model's message id (04-07) made real."""
        mid = int.from_bytes(image[4:8], "big")
        if care[4:8] == b"\xff" * 4 and mid in self.real_of:
            image = image[:4] + self.real_of[mid].to_bytes(4, "big") + image[8:]
        return image

    def check_image(self, what: str, image: bytes, care: bytes, real: bytes) -> None:
        bad = M.differs(real, image, care)
        if bad:
            rows = "\n".join(f"  {o:02X}: model {image[o]:02X} real {real[o]:02X} care {care[o]:02X}"
                             for o in bad)
            raise AssertionError(f"{what}: image differs\n  model {image.hex()}\n"
                                 f"  real  {real.hex()}\n  care  {care.hex()}\n{rows}")

    def register(self, model_id: int, real_id: int) -> None:
        if model_id in self.real_of:
            raise AssertionError(f"message id {model_id} sent twice by the model")
        if real_id in self.real_of.values():
            raise AssertionError(f"real message id {real_id} reused")
        if self.real_of and real_id <= max(self.real_of.values()):
            raise AssertionError(f"real message id {real_id} after {max(self.real_of.values())}: "
                                 "not sequential")
        self.real_of[model_id] = real_id

    def call(self, user: str, fn: str, cls: str, inp: dict, *, bf1: dict | None = None,
             bf2: dict | None = None, keep_bf2: bool = False, mask: int | None = None,
             model_args: tuple = ()) -> M.Result | None:
        """Run ``fn`` in the model and in ``user``'s process; compare."""
        what = f"{user} {fn.upper()} {inp}"
        try:
            if mask is not None:
                res = getattr(self.cp, fn)(user, mask)
            else:
                res = getattr(self.cp, fn)(user, dict(inp), *model_args)
        except M.ProgramCheck as e:
            res = None
            expected_exc = e.name
        cmd: dict = {"op": "call", "fn": fn, "cls": cls}
        if mask is not None:
            cmd["mask"] = mask
        else:
            fields = dict(inp)
            if "msgid" in fields:
                fields["msgid"] = self.real_of.get(fields["msgid"], fields["msgid"])
            for name in ("data", "user"):
                if name in fields:
                    fields[name] = bytes(fields[name]).hex()
            cmd["fields"] = fields
            if bf1 is not None:
                cmd["bf1"] = bf1
            if bf2 is not None:
                cmd["bf2"] = bf2
            cmd["keep_bf2"] = keep_bf2
        got = self.procs[user].request(cmd)
        if res is None:
            if got.get("exc") != "ProgramCheck" or got.get("name") != expected_exc:
                raise mismatch(f"{what}: program check", expected_exc, got)
            return None
        if "exc" in got:
            raise mismatch(f"{what}: condition code", res.cc, got)
        cc_settled = STRICT or not isinstance(res.cc, Unsettled)
        if cc_settled and M.plain(res.cc) != got["cc"]:
            raise mismatch(f"{what}: condition code", M.plain(res.cc), got["cc"],
                           f" (image {got.get('image')})")
        if fn in ("query", "testmsg"):
            if fn == "query" and tuple(got["extra"]) != res.extra:
                raise mismatch(f"{what}: registers", res.extra, got["extra"])
            return res
        real = bytes.fromhex(got["image"])
        if fn == "send" and res.cc == 0:
            self.register(res.out["msgid"], int.from_bytes(real[4:8], "big"))
        dont_care = []
        if bf1 is not None:
            dont_care.append((0x0C, 4))
        if bf2 is not None:
            dont_care.append((0x1C, 4))
        if mask is None:
            if not cc_settled:
                inp = dict(inp)
                res.out = {}  # only the settled part: nothing else changes
            image, care = M.expect_image(inp, res, STRICT, tuple(dont_care))
            if not cc_settled:
                care = care[:3] + b"\0" + care[4:]
            if cls != "path":
                image = self.to_real(image, care)
            self.check_image(what, image, care, real)
        if bf1 is not None and "in" in bf1 and res.received is not None:
            want = bytearray([RECV_FILL]) * bf1["in"]
            want[:len(res.received)] = res.received
            if bytes.fromhex(got["bf1"]) != bytes(want):
                raise mismatch(f"{what}: receive buffer", bytes(want).hex(), got["bf1"])
        if fn == "testcmpl" and res.cc in (0, 3):
            self.check_answer(what, res.out["msgid"], res.reply, got.get("answer"))
        return res

    def check_answer(self, what: str, mid: int, reply: bytes | None, got: str | None) -> None:
        if reply is None:  # one-way: no answer area
            return
        want = bytearray([ANSWER_FILL]) * self.answer_area[mid]
        want[:len(reply)] = reply
        if got is None or bytes.fromhex(got) != bytes(want):
            raise mismatch(f"{what}: answer area of message {mid}", bytes(want).hex(), got)

    @invariant()
    def interrupts_match(self) -> None:
        """Drain every VM, in the model and for real; compare."""
        for u in VMS:
            want = self.cp.drain(u, STRICT)
            got = self.procs[u].request({"op": "drain"})["irq"]
            for prio in (True, False):
                w = [p for p in want if p.priority == prio]
                g = [i for i in got if bytes.fromhex(i["image"])[3] in (6, 8)] if prio else \
                    [i for i in got if bytes.fromhex(i["image"])[3] not in (6, 8)]
                if [p.type for p in w] != [bytes.fromhex(i["image"])[3] for i in g]:
                    raise mismatch(f"{u} {'priority' if prio else 'other'} interrupts",
                                   [(p.type, p.image.hex()) for p in w],
                                   [(bytes.fromhex(i["image"])[3], i["image"]) for i in g])
                for n, (p, i) in enumerate(zip(w, g)):
                    what = f"{u} interrupt {n} of class {'priority' if prio else 'other'}"
                    if i["kind"] != KIND[p.type]:
                        raise mismatch(f"{what}: wait() class", KIND[p.type], i["kind"])
                    self.check_image(what, self.to_real(p.image, p.care), p.care,
                                     bytes.fromhex(i["image"]))
                    if p.type in (6, 7):
                        self.check_answer(what, p.msgid, p.reply, i.get("answer"))

    # -- helpers for drawing arguments -------------------------------------------

    @staticmethod
    def pick(data, items: list, other=None, p_other: float = 0.15):
        """One of ``items`` (a list), or ``other`` (a strategy) sometimes or if empty."""
        # the usual choice is 0, the value hypothesis draws (and shrinks to) most
        if items and (other is None or data.draw(st.integers(0, 99)) < (1 - p_other) * 100):
            return data.draw(st.sampled_from(items))
        return data.draw(other) if other is not None else None

    def user_with(self, data, want) -> str:
        """A VM for which ``want(vm)`` holds, mostly; any VM sometimes."""
        good = [u for u in VMS if want(self.cp.vms[u])]
        return self.pick(data, good, st.sampled_from(VMS), 0.1)

    def any_vm(self, want) -> bool:
        return any(want(vm) for vm in self.cp.vms.values())

    def bad_pid(self, user: str) -> int:
        paths = self.cp.vms[user].paths
        return next(i for i in range(5, 64) if i not in paths)

    def pid(self, data, user: str, ends: list) -> int:
        """A path id of ``ends`` mostly, else one not in the table."""
        chosen = self.pick(data, [e.pathid for e in ends], st.just(None), 0.1)
        return self.bad_pid(user) if chosen is None else chosen

    # -- rules ---------------------------------------------------------------

    @initialize(data=st.data())
    def some_paths(self, data):
        """Start most examples with a few complete paths (CONNECT + ACCEPT)."""
        for _ in range(data.draw(st.sampled_from([2, 3, 1, 0, 4]))):
            src, dst = data.draw(self.vm), data.draw(self.vm)
            flags = data.draw(self.options)
            res = self.call(src, "connect", "path", {"vmid": dst, "msglim": data.draw(
                st.sampled_from([0, 3, 1, 255])), "flags1": flags, "user": bytes(16)})
            pend = [e for e in self.cp.vms[dst].paths.values()
                    if e.state == "in_pending" and e.partner.pathid == res.out["pathid"]
                    and e.partner.vm.userid == src]
            self.interrupts_match()
            self.call(dst, "accept", "path", {"pathid": pend[0].pathid, "msglim": 0,
                                              "flags1": data.draw(self.options),
                                              "user": bytes(16)})
            self.interrupts_match()
        for u in VMS:  # some VMs hold their completions for TEST COMPLETION
            mask = data.draw(st.sampled_from([0xF8, 0xC8, 0xF8, 0xD8, 0xE8]))
            if mask != 0xF8:
                self.call(u, "setmask", "path", {}, mask=mask)

    vm = st.sampled_from(VMS)
    user16 = st.one_of(st.just(bytes(16)), st.binary(min_size=16, max_size=16))
    cls3 = st.integers(0, 2)
    options = st.sampled_from([0, IPPRTY, IPRMDATA | IPPRTY, IPRMDATA, 0, IPPRTY, IPRMDATA | IPPRTY,
                               IPRMDATA, 0, IPPRTY | IPQUSCE, IPRMDATA | IPPRTY | IPQUSCE])

    def connect(self, src, data):
        kind = data.draw(st.sampled_from(["ok"] * 6 + ["nologon", "service", "msglim"]))
        target = {"nologon": "NOBODY", "service": "*FOO"}.get(kind) or data.draw(self.vm)
        msglim = data.draw(st.sampled_from([256, 1000, 65535] if kind == "msglim"
                                           else [0, 1, 2, 3, 10, 255]))
        flags = data.draw(self.options)
        self.call(src, "connect", "path", {"vmid": target, "msglim": msglim, "flags1": flags,
                                           "user": data.draw(self.user16)})

    @precondition(lambda self: self.any_vm(has_pending))
    @rule(data=st.data())
    def accept(self, data):
        user = self.user_with(data, has_pending)
        vm = self.cp.vms[user]
        ends = [e for e in vm.paths.values() if e.state == "in_pending"]
        pid = self.pid(data, user, ends)
        end = vm.paths.get(pid)
        clean = end is not None and end.state == "in_pending" and not end.partner_severed
        limits = [0, 1, 2, 5, 10, 255] + ([256] if clean else [])
        flags = data.draw(self.options)
        self.call(user, "accept", "path", {"pathid": pid, "msglim": data.draw(st.sampled_from(limits)),
                                           "flags1": flags, "user": data.draw(self.user16)})

    @rule(data=st.data())
    def sever_or_connect(self, data):
        """SEVER or CONNECT (one rule: each half as likely as the others)."""
        if not self.any_vm(lambda vm: vm.paths) or data.draw(st.booleans()):
            return self.connect(data.draw(self.vm), data)
        user = self.user_with(data, lambda vm: vm.paths)
        vm = self.cp.vms[user]
        self_path = any(e.partner is not None and e.partner.vm is vm for e in vm.paths.values())
        if not self_path and data.draw(st.integers(0, 9)) == 9:
            inp = {"flags1": IPALL}   # (a self path would sever its own notified end: CHOICES)
        else:
            inp = {"pathid": self.pid(data, user, list(vm.paths.values()))}
        inp["user"] = data.draw(self.user16)
        self.call(user, "sever", "path", inp)

    def _quiesce_resume(self, fn, data):
        user = self.user_with(data, has_active)
        vm = self.cp.vms[user]
        ends = [e for e in vm.paths.values() if e.state == "active"]
        if vm.paths and len(ends) == len(vm.paths) and data.draw(st.integers(0, 7)) == 7:
            inp = {"flags1": IPALL}
        else:
            inp = {"pathid": self.pid(data, user, ends)}
        inp["user"] = data.draw(self.user16)
        self.call(user, fn, "path", inp)

    @precondition(lambda self: self.any_vm(has_active))
    @rule(data=st.data())
    def quiesce_or_resume(self, data):
        self._quiesce_resume(data.draw(st.sampled_from(["resume", "quiesce"])), data)

    @precondition(lambda self: self.any_vm(has_active))
    @rule(data=st.data())
    def send(self, data):
        user = self.user_with(data, has_usable)
        vm = self.cp.vms[user]
        usable = [e for e in vm.paths.values() if e.usable]
        pid = self.pid(data, user, usable if usable and data.draw(st.integers(0, 5)) < 5 else
                       list(vm.paths.values()))
        oneway = data.draw(st.booleans())
        flags = (IPNORPY if oneway else 0)
        flags |= IPPRTY if data.draw(st.integers(0, 3)) == 3 else 0
        flags |= IPRMDATA if data.draw(st.integers(0, 4)) == 4 else 0
        inp = {"pathid": pid, "flags1": flags, "trgcls": data.draw(self.cls3),
               "srccls": data.draw(self.cls3), "msgtag": data.draw(st.integers(0, 2**32 - 1))}
        body = b""
        bf1 = bf2 = None
        if flags & IPRMDATA:
            inp["data"] = data.draw(st.binary(min_size=8, max_size=8))
        else:
            body = data.draw(st.one_of(st.binary(max_size=12), st.binary(max_size=300)))
            slack = data.draw(st.sampled_from([b"", b"", b"", b"\x01\x02\x03"]))
            inp["bf1len"] = len(body)
            bf1 = {"out": (body + slack).hex()}
        if not oneway:
            ans = data.draw(st.one_of(st.integers(0, 16), st.integers(0, 320)))
            size = ans + data.draw(st.sampled_from([0, 0, 0, 2]))
            inp["bf2len"] = ans
            bf2 = {"in": size, "fill": ANSWER_FILL}
        res = self.call(user, "send", "msg", inp, bf1=bf1, bf2=bf2, keep_bf2=not oneway,
                        model_args=(body,))
        if res is not None and res.cc == 0 and not oneway:
            self.answer_area[res.out["msgid"]] = bf2["in"]

    @precondition(lambda self: self.any_vm(has_active))
    @rule(data=st.data())
    def send_more(self, data):
        """(SEND again: more rules, more weight.)"""
        self.send(data)

    @precondition(lambda self: self.any_vm(has_active))
    @rule(data=st.data())
    def send_even_more(self, data):
        self.send(data)

    def targeted(self, user: str, live_first: list) -> list[M.Message]:
        dead = [m for m in self.cp.all_messages.values() if m.tgt.vm.userid == user]
        return live_first or dead

    @precondition(lambda self: self.cp.messages)
    @rule(data=st.data())
    def receive(self, data):
        user = self.user_with(data, lambda vm: vm.sendq)
        vm = self.cp.vms[user]
        mode = data.draw(st.sampled_from(["any", "any", "path", "class", "both", "full", "full"]))
        inp: dict = {}
        ref = None
        if mode == "full":
            partial = [q for q in vm.sendq if q.moved]
            ref = self.pick(data, partial or vm.sendq, st.sampled_from(
                self.targeted(user, []) or [None]), 0.1)
            if ref is None:
                mode = "any"
            else:
                pid = ref.tgt.pathid if not ref.tgt.gone else self.bad_pid(user)
                if data.draw(st.integers(0, 7)) == 7:
                    pid = self.pid(data, user, list(vm.paths.values()))
                cls = ref.trgcls if data.draw(st.integers(0, 7)) < 7 else data.draw(self.cls3)
                inp = {"flags1": FULL, "pathid": pid, "msgid": ref.id, "trgcls": cls}
        if mode in ("path", "both"):
            inp["flags1"] = inp.get("flags1", 0) | IPFGPID
            inp["pathid"] = self.pid(data, user, list(vm.paths.values()))
        if mode in ("class", "both"):
            inp["flags1"] = inp.get("flags1", 0) | IPFGMCL
            inp["trgcls"] = data.draw(self.cls3)
        if ref is None:  # the message the selectors will find, if any
            f = inp.get("flags1", 0)
            ref = next((q for q in vm.sendq if q.moved == 0
                        and (not f & IPFGPID or q.tgt.pathid == inp["pathid"])
                        and (not f & IPFGMCL or q.trgcls == inp["trgcls"])), None)
        left = 0 if ref is None or ref.prm else len(ref.data) - ref.moved
        size = data.draw(st.sampled_from([left, left, left + 1, left, left + 7, max(left - 1, 0),
                                          left // 2, 0]))
        slack = data.draw(st.sampled_from([0, 0, 0, 3]))
        inp["bf1len"] = size
        self.call(user, "receive", "msg", inp, bf1={"in": size + slack, "fill": RECV_FILL})

    @precondition(lambda self: self.cp.messages)
    @rule(data=st.data())
    def describe(self, data):
        self.call(self.user_with(data, lambda vm: vm.sendq), "describe", "msg", {})

    @precondition(lambda self: self.cp.messages)
    @rule(data=st.data())
    def receive_more(self, data):
        """(RECEIVE again: more rules, more weight.)"""
        self.receive(data)

    @precondition(lambda self: self.cp.messages)
    @rule(data=st.data())
    def receive_even_more(self, data):
        self.receive(data)

    @precondition(lambda self: self.any_vm(lambda vm: vm.recvq))
    @rule(data=st.data())
    def reply_more(self, data):
        """(REPLY again: more rules, more weight.)"""
        self.reply(data)

    @precondition(lambda self: self.any_vm(lambda vm: vm.recvq))
    @rule(data=st.data())
    def reply_even_more(self, data):
        self.reply(data)

    @precondition(lambda self: self.any_vm(lambda vm: vm.recvq))
    @rule(data=st.data())
    def reply(self, data):
        user = self.user_with(data, lambda vm: vm.recvq)
        vm = self.cp.vms[user]
        m = self.pick(data, vm.recvq, st.sampled_from(self.targeted(user, []) or [None]), 0.1)
        if m is None:
            return
        pid = m.tgt.pathid if not m.tgt.gone else self.bad_pid(user)
        if data.draw(st.integers(0, 9)) == 9:
            pid = self.pid(data, user, list(vm.paths.values()))
        cls = m.trgcls if data.draw(st.integers(0, 9)) < 9 else data.draw(self.cls3)
        flags = IPPRTY if data.draw(st.integers(0, 3)) == 3 else 0
        inp = {"pathid": pid, "msgid": m.id, "trgcls": cls}
        body = b""
        bf2 = None
        if data.draw(st.integers(0, 3)) == 3:
            flags |= IPRMDATA
            inp["data"] = data.draw(st.binary(min_size=8, max_size=8))
        else:
            a = m.anslen
            n = data.draw(st.sampled_from([a, a, max(a - 1, 0), a + 1, a + 5, 0]))
            body = data.draw(st.binary(min_size=n, max_size=n))
            inp["bf2len"] = n
            bf2 = {"out": body.hex()}
        inp["flags1"] = flags
        self.call(user, "reply", "msg", inp, bf2=bf2, model_args=(body,))

    @precondition(lambda self: self.cp.messages)
    @rule(data=st.data())
    def reject(self, data):
        user = self.user_with(data, lambda vm: vm.sendq or vm.recvq)
        vm = self.cp.vms[user]
        m = self.pick(data, vm.sendq + vm.recvq,
                      st.sampled_from(self.targeted(user, []) or [None]), 0.1)
        if m is None:
            return
        pid = m.tgt.pathid if not m.tgt.gone else self.bad_pid(user)
        if data.draw(st.integers(0, 9)) == 9:
            pid = self.pid(data, user, list(vm.paths.values()))
        cls = m.trgcls if data.draw(st.integers(0, 9)) < 9 else data.draw(self.cls3)
        self.call(user, "reject", "msg", {"flags1": FULL, "pathid": pid, "msgid": m.id,
                                          "trgcls": cls})

    def sent_by(self, user: str) -> list[M.Message]:
        return [m for m in self.cp.all_messages.values() if m.src.vm.userid == user]

    @precondition(lambda self: self.cp.all_messages)
    @rule(data=st.data())
    def purge(self, data):
        user = self.user_with(data, lambda vm: any(m.src.vm is vm for m in self.cp.messages.values()))
        vm = self.cp.vms[user]
        live = [m for m in self.sent_by(user) if m.where is not None]
        m = self.pick(data, live, st.sampled_from(self.sent_by(user) or [None]), 0.2)
        if m is None:
            return
        pid = m.src.pathid if not m.src.gone else self.pid(data, user, list(vm.paths.values()))
        if data.draw(st.integers(0, 9)) == 9:
            pid = self.pid(data, user, list(vm.paths.values()))
        inp = {"flags1": IPFGMID | IPFGPID, "pathid": pid, "msgid": m.id}
        if data.draw(st.booleans()):
            inp["flags1"] |= IPFGMCL
            inp["srccls"] = m.srccls if data.draw(st.integers(0, 5)) < 5 else data.draw(self.cls3)
        self.call(user, "purge", "comp", inp)

    @precondition(lambda self: self.cp.all_messages)
    @rule(data=st.data())
    def testcmpl(self, data):
        user = self.user_with(data, lambda vm: vm.replyq)
        vm = self.cp.vms[user]
        mode = data.draw(st.sampled_from(["any", "any", "path", "class", "both", "full"]))
        inp: dict = {"flags1": 0}
        if mode == "full":
            m = self.pick(data, vm.replyq, st.sampled_from(self.sent_by(user) or [None]), 0.2)
            if m is None:
                return
            pid = m.src.pathid if not m.src.gone else self.bad_pid(user)
            inp = {"flags1": IPFGMID | IPFGPID, "pathid": pid, "msgid": m.id}
            if data.draw(st.booleans()):
                inp["flags1"] |= IPFGMCL
                inp["srccls"] = m.srccls if data.draw(st.integers(0, 5)) < 5 else data.draw(self.cls3)
        if mode in ("path", "both"):
            inp["flags1"] |= IPFGPID
            inp["pathid"] = self.pid(data, user, list(vm.paths.values()))
        if mode in ("class", "both"):
            inp["flags1"] |= IPFGMCL
            inp["srccls"] = data.draw(self.cls3)
        self.call(user, "testcmpl", "comp", inp)

    @rule(user=vm, what=st.sampled_from(["testmsg", "query", "dclbfr", "receive", "testcmpl"]))
    def odd_ones(self, user, what):
        """TEST MESSAGE (only when it would not wait), QUERY, a second DECLARE
        BUFFER (rc 19), a message id without path id and class (specification)."""
        if what == "testmsg":
            if self.cp.testmsg(user) is not None:
                self.call(user, "testmsg", "", {})
        elif what in ("query", "dclbfr"):
            self.call(user, what, "path" if what == "dclbfr" else "", {})
        elif what == "receive":
            self.call(user, "receive", "msg", {"flags1": IPFGMID, "msgid": 1, "bf1len": 0})
        else:
            self.call(user, "testcmpl", "comp", {"flags1": IPFGMID, "msgid": 1})


def has_pending(vm) -> bool:
    return any(e.state == "in_pending" for e in vm.paths.values())


def has_active(vm) -> bool:
    return any(e.state == "active" for e in vm.paths.values())


def has_usable(vm) -> bool:
    return any(e.usable for e in vm.paths.values())


@pytest.fixture(scope="module")
def drivers():
    pytest.importorskip("shmcp.iucv", reason="shmcp.iucv (issue 3) is not implemented yet")
    procs = {}
    try:
        for u in VMS:
            procs[u] = DriverProc()
        yield procs
    finally:
        for p in procs.values():
            p.close()


def run(drivers, examples: int, steps: int, machine=IUCVMachine) -> None:
    machine.procs = drivers
    run_state_machine_as_test(machine, settings=settings(
        max_examples=examples, stateful_step_count=steps, deadline=None, database=None,
        suppress_health_check=list(HealthCheck)))


def test_iucv_against_model(drivers):
    run(drivers, examples=int(os.environ.get("SHMCP_MODEL_EXAMPLES", "25")), steps=30)


@pytest.mark.stress
def test_iucv_against_model_stress(drivers):
    run(drivers, examples=int(os.environ.get("SHMCP_MODEL_EXAMPLES", "500")), steps=100)
