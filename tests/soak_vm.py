"""One VM of the soak (tests/soak.py): a seeded random IUCV workload that
keeps a ledger.

``python tests/soak_vm.py USERID PEERS LEDGER END_AT SEED`` logs on as
USERID (system from $SHMCP_SYSTEM), says READY and, until the wall-clock
time END_AT, makes random IUCV calls through the faithful layer (real
parameter lists): CONNECT to a random peer of PEERS (comma-separated),
ACCEPT (or refuse) pending connections, SEND one- and two-way, priority or
not, RECEIVE and REPLY or REJECT what arrives, PURGE, QUIESCE/RESUME,
SEVER, and LOGOFF/LOGON again.  Then it drains: no more SENDs, its
quiesced paths resumed, serving until every message it sent has an
outcome; it says DRAINED (or HUNG) and serves until a line on stdin, then
logs off and ends.

The ledger (one JSON object a line, flushed per line so a SIGKILLed VM's
ledger survives to its last whole line) records every message: ``S``
before SEND (the intent), ``sc`` its condition code, ``C`` its completion
(audit bits, the reply checked), ``P`` PURGEd or CANCELed (VMCF's rc:
0, or 11 when only a SEND/RECV's reply part was), ``A`` abandoned by
this VM's own SEVER or LOGOFF; ``R`` each message RECEIVEd (sender,
process, sequence, checksum good).  Every message's data names its
sender, process and sequence and ends with a CRC-32 of the rest; a reply
echoes the header with its own CRC.  Every wait is bounded: a VM that makes no
progress stops writing ``stats`` lines, which the parent sees.
"""
from __future__ import annotations

import collections
import json
import os
import random
import select
import struct
import sys
import time
import zlib

import shmcp
from shmcp import MsgPlist, PathPlist, iucv, vmcf
from shmcp.testing import say

HEAD = struct.Struct(">8sIII")  # sender, process id, sequence, payload length
BUFSIZE = 512
ANSWER = 64
MAX_PATHS = 4
DRAIN_BOUND = 60.0   # seconds a drain may take before the VM says HUNG
SEVERED_BOUND = 20.0  # seconds from a 03 to the IPADSVRD completions it owes
PENDING = (iucv.IPTYPE_NONPRIORITY_MESSAGE_PENDING, iucv.IPTYPE_PRIORITY_MESSAGE_PENDING)
COMPLETE = (iucv.IPTYPE_NONPRIORITY_MESSAGE_COMPLETE, iucv.IPTYPE_PRIORITY_MESSAGE_COMPLETE)
SELECT_ALL = iucv.IPFGPID | iucv.IPFGMID | iucv.IPFGMCL
AUDIT_NAMES = {iucv.IPADSVRD: "IPADSVRD", iucv.IPADRJCT: "IPADRJCT", iucv.IPADRPLE: "IPADRPLE"}


def sealed(body: bytes) -> bytes:
    return body + zlib.crc32(body).to_bytes(4, "big")


def unsealed(data: bytes) -> bytes | None:
    """The body if the CRC checks, else None."""
    if len(data) < 4 or zlib.crc32(data[:-4]).to_bytes(4, "big") != data[-4:]:
        return None
    return data[:-4]


class Path:
    def __init__(self, peer: str, state: str) -> None:
        self.peer, self.state = peer, state  # state: out, active, severed
        self.prio = False
        self.quiesced_by_me = self.quiesced_by_partner = False
        self.severed_at = 0.0


class SoakVM:
    def __init__(self, userid: str, peers: list[str], ledger: str, end_at: float, seed: int):
        self.userid, self.peers, self.end_at = userid, peers, end_at
        self.rng = random.Random(seed)
        self.pid = os.getpid()
        self.me = userid.upper().encode().ljust(8)
        self.f = open(ledger, "a", buffering=1)
        self.ops: collections.Counter = collections.Counter()
        self.seq = 0
        self.outstanding: dict[int, tuple] = {}  # seq -> (pathid, two-way, answer, header, msgid)
        self.paths: dict[int, Path] = {}
        self.fail: list[str] = []
        self.buf = bytearray(BUFSIZE)
        self.ib = bytearray(64)  # VMCF's external interrupt buffer
        self.log(k="start", u=userid, pid=self.pid)
        self.vm = self.logon()
        self.last_stats = 0.0

    def log(self, **entry) -> None:
        self.f.write(json.dumps(entry) + "\n")

    def logon(self):
        end = time.monotonic() + 30
        while True:  # a killed predecessor may not be logged off yet
            try:
                vm = shmcp.logon(self.userid)
                break
            except shmcp.AlreadyLoggedOn:
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)
        p = PathPlist()
        assert iucv.dclbfr(p) == 0, p.rcode
        self.vmcf_quiesced = False
        assert vmcf.authorize(self.ib, priority=self.rng.random() < 0.7) == 0
        return vm

    # -- the random operations ------------------------------------------------

    def live_paths(self, **want) -> list[int]:
        return [pid for pid, p in self.paths.items() if p.state == "active"
                and all(getattr(p, k) == v for k, v in want.items())]

    def op_connect(self) -> None:
        if len(self.paths) >= MAX_PATHS:
            return
        peer = self.rng.choice(self.peers)
        p = PathPlist(vmid=peer, msglim=self.rng.choice((4, 16, 255)),
                      flags1=iucv.IPPRTY if self.rng.random() < 0.5 else 0)
        self.ops["connect"] += 1
        if iucv.connect(p) == 0:
            self.paths[p.pathid] = Path(peer, "out")

    def op_send(self) -> None:
        live = self.live_paths(quiesced_by_partner=False)
        if not live:
            return
        pathid = self.rng.choice(live)
        path = self.paths[pathid]
        self.seq += 1
        two = self.rng.random() < 0.5
        prio = path.prio and self.rng.random() < 0.3
        payload = self.rng.randbytes(self.rng.randrange(0, 200))
        head = HEAD.pack(self.me, self.pid, self.seq, len(payload))
        p = MsgPlist(pathid=pathid, msgtag=self.seq, srccls=0, trgcls=0,
                     flags1=(0 if two else iucv.IPNORPY) | (iucv.IPPRTY if prio else 0))
        p.bf1 = sealed(head + payload)
        answer = bytearray(ANSWER) if two else None
        if two:
            p.bf2 = answer
        self.log(k="S", seq=self.seq, to=path.peer, two=two, prio=prio)
        cc = iucv.send(p)
        self.log(k="sc", seq=self.seq, cc=cc, rc=p.rcode if cc else 0)
        self.ops["send two-way" if two else "send one-way"] += 1
        if prio:
            self.ops["send priority"] += 1
        if cc == 0:
            self.outstanding[self.seq] = (pathid, two, answer, head, p.msgid)

    def op_vmcf_send(self) -> None:
        self.vmcf_send(self.rng.choice(self.peers), two=self.rng.random() < 0.5,
                       prio=self.rng.random() < 0.2)

    def vmcf_send(self, peer: str, two: bool, prio: bool) -> int:
        """SEND (or, ``two``, SEND/RECV) a new message to ``peer``; its
        sequence number."""
        self.seq += 1
        payload = self.rng.randbytes(self.rng.randrange(0, 200))
        head = HEAD.pack(self.me, self.pid, self.seq, len(payload))
        data = sealed(head + payload)
        self.log(k="S", seq=self.seq, to=peer, two=two, prio=prio, f="vmcf")
        answer = bytearray(ANSWER) if two else None
        if two:
            rc = vmcf.send_recv(peer, self.seq, data, answer, priority=prio)
        else:
            rc = vmcf.send(peer, self.seq, data, priority=prio)
        self.log(k="sc", seq=self.seq, cc=rc, rc=rc)
        self.ops["vmcf send/recv" if two else "vmcf send"] += 1
        if prio:
            self.ops["vmcf priority"] += 1
        if rc == 0:
            self.outstanding[self.seq] = (peer, two, answer, head, None)
        return self.seq

    def op_vmcf_cancel(self) -> None:
        mine = [s for s, o in self.outstanding.items() if o[4] is None]
        if mine:
            self.vmcf_cancel(self.rng.choice(mine))

    def vmcf_cancel(self, seq: int) -> int:
        """CANCEL VMCF message ``seq``; its return code.  RC 0 withdraws
        the message; RC 11 (a SEND/RECV its sink had RECEIVEd) cancels its
        reply part.  Either way the message has ended and no RESPONSE will
        come: that is its outcome.  (RC 14: too late, the RESPONSE is on
        its way.)"""
        self.ops["vmcf cancel"] += 1
        rc = vmcf.cancel(self.outstanding[seq][0], seq)
        if rc in (0, vmcf.RC_REPLY_CANCELED):
            self.log(k="P", seq=seq, rc=rc)
            del self.outstanding[seq]
            self.ops["vmcf canceled" if rc == 0 else "vmcf reply canceled"] += 1
        return rc

    def op_vmcf_quiesce(self) -> None:
        if not self.vmcf_quiesced:
            self.ops["vmcf quiesce"] += 1
            self.vmcf_quiesced = vmcf.quiesce() == 0

    def op_vmcf_resume(self) -> None:
        if self.vmcf_quiesced:
            self.ops["vmcf resume"] += 1
            self.vmcf_quiesced = vmcf.resume() != 0

    def op_purge(self) -> None:
        mine = [s for s, o in self.outstanding.items() if o[4] is not None]
        if not mine:
            return
        seq = self.rng.choice(mine)
        pathid, _, _, _, msgid = self.outstanding[seq]
        p = MsgPlist(pathid=pathid, msgid=msgid, srccls=0, flags1=SELECT_ALL)
        self.ops["purge"] += 1
        cc = iucv.purge(p)
        if cc == 0:
            self.log(k="P", seq=seq)
            del self.outstanding[seq]
            self.ops["purged"] += 1

    def op_quiesce(self) -> None:
        live = self.live_paths(quiesced_by_me=False)
        if live:
            pathid = self.rng.choice(live)
            self.ops["quiesce"] += 1
            if iucv.quiesce(PathPlist(pathid=pathid)) == 0:
                self.paths[pathid].quiesced_by_me = True

    def op_resume(self) -> None:
        for pathid in self.live_paths(quiesced_by_me=True):
            self.ops["resume"] += 1
            if iucv.resume(PathPlist(pathid=pathid)) == 0:
                self.paths[pathid].quiesced_by_me = False

    def op_sever(self, pathid: int | None = None) -> None:
        if pathid is None:
            live = self.live_paths()
            if not live:
                return
            pathid = self.rng.choice(live)
            self.ops["sever"] += 1
        self.abandon([s for s, o in self.outstanding.items() if o[0] == pathid], "sever")
        iucv.sever(PathPlist(pathid=pathid))
        self.paths.pop(pathid, None)

    def op_relogon(self) -> None:
        self.ops["logoff/logon"] += 1
        self.abandon(list(self.outstanding), "logoff")
        self.paths.clear()
        self.vm.logoff()
        self.vm = self.logon()

    def abandon(self, seqs: list[int], why: str) -> None:
        if seqs:
            self.log(k="A", seqs=seqs, why=why)
        for s in seqs:
            del self.outstanding[s]

    # -- interrupts ------------------------------------------------------------

    def take(self, timeout: float) -> None:
        ev = self.vm.wait(timeout=timeout)
        if ev is None:
            return
        if isinstance(ev, vmcf.Vmcmhdr):
            self.on_vmcf(ev)
            return
        t = ev.type
        if t in PENDING:
            self.on_message(ev)
        elif t in COMPLETE:
            self.on_complete(ev)
        elif t == iucv.IPTYPE_PENDING_CONNECTION:
            if self.rng.random() < 0.1 or len(self.paths) >= 2 * MAX_PATHS:
                self.ops["refuse"] += 1
                iucv.sever(PathPlist(pathid=ev.pathid))
                return
            p = PathPlist(pathid=ev.pathid, flags1=iucv.IPPRTY)
            self.ops["accept"] += 1
            if iucv.accept(p) == 0:
                path = self.paths[ev.pathid] = Path(ev.vmid.decode().strip(), "active")
                path.prio = bool(p.flags1 & iucv.IPPRTY)
        elif t == iucv.IPTYPE_CONNECTION_COMPLETE:
            path = self.paths.get(ev.pathid)
            if path is not None:
                path.state = "active"
                path.prio = bool(ev.flags1 & iucv.IPPRTY)
        elif t == iucv.IPTYPE_PATH_SEVERED:
            path = self.paths.get(ev.pathid)
            if path is not None:
                path.state, path.severed_at = "severed", time.monotonic()
        elif t == iucv.IPTYPE_PATH_QUIESCED:
            if ev.pathid in self.paths:
                self.paths[ev.pathid].quiesced_by_partner = True
        elif t == iucv.IPTYPE_PATH_RESUMED:
            if ev.pathid in self.paths:
                self.paths[ev.pathid].quiesced_by_partner = False

    def on_message(self, ev) -> None:
        two = not ev.flags1 & iucv.IPNORPY
        if self.rng.random() < 0.08:
            ev.flags1 = SELECT_ALL
            self.ops["reject"] += 1
            iucv.reject(ev)
            return
        ev.flags1 = SELECT_ALL
        ev.bf1 = self.buf
        self.ops["receive"] += 1
        cc = iucv.receive(ev)
        if cc:
            self.ops[f"receive cc{cc}"] += 1
            return
        body = self.received(bytes(self.buf[:BUFSIZE - ev.bf1len]))
        if not two or body is None:
            return
        if self.rng.random() < 0.1:
            ev.flags1 = SELECT_ALL
            self.ops["reject after receive"] += 1
            iucv.reject(ev)
            return
        ev.flags1 = 0
        ev.bf2 = sealed(body[:HEAD.size])
        self.ops["reply"] += 1
        iucv.reply(ev)

    def on_vmcf(self, h) -> None:
        if h.response:
            how = ("VMCMRJCT" if h.stat & vmcf.VMCMRJCT else
                   f"VMCF error {h.eflg}" if h.eflg else "")
            self.completed(h.mid, how, h.lenb)
            return
        if h.func not in (vmcf.VMCPSEND, vmcf.VMCPSENR):
            return
        user = h.user.decode().strip()
        if self.rng.random() < 0.08:
            self.ops["vmcf reject"] += 1
            vmcf.reject(user, h.mid)
            return
        self.ops["vmcf receive"] += 1
        rc = vmcf.receive(user, h.mid, self.buf, lena=h.lena)
        if rc:
            self.ops[f"vmcf receive rc{rc}"] += 1
            return
        body = self.received(bytes(self.buf[:h.lena]))
        if h.func != vmcf.VMCPSENR:
            return
        if body is None or self.rng.random() < 0.1:
            self.ops["vmcf reject after receive"] += 1
            self.answered(user, h.mid, "reject", vmcf.reject(user, h.mid))
            return
        self.ops["vmcf reply"] += 1
        self.answered(user, h.mid, "reply", vmcf.reply(user, h.mid, sealed(body[:HEAD.size])))

    def answered(self, user: str, mid: int, how: str, rc: int) -> None:
        """A sink's answer to a SEND/RECV that CP refused leaves its source
        waiting: put the return code in the ledger, where the check of a
        message with no outcome can be traced to it."""
        if rc:
            self.ops[f"vmcf {how} rc{rc}"] += 1
            self.log(k="answer", u=user, mid=mid, how=how, rc=rc)

    def received(self, data: bytes) -> bytes | None:
        """Log a message RECEIVEd; its body if whole."""
        body = unsealed(data)
        if body is None or len(body) < HEAD.size:
            self.log(k="R", ok=False, n=len(data))
            return None
        who, pid, seq, n = HEAD.unpack_from(body)
        self.log(k="R", ok=len(body) == HEAD.size + n, u=who.decode().strip(), pid=pid,
                 seq=seq)
        return body

    def on_complete(self, ev) -> None:
        how = "+".join(n for b, n in AUDIT_NAMES.items() if ev.audit & b) or \
            (hex(ev.audit) if ev.audit else "")
        self.completed(ev.msgtag, how, ev.bf2len)

    def completed(self, seq: int, how: str, residual: int) -> None:
        """Log the outcome of message ``seq``: ``how`` names the audit
        bits or error ('' a clean completion); a reply is checked."""
        got = self.outstanding.pop(seq, None)
        if got is None:  # not outstanding: purged, abandoned, or never sent
            self.log(k="C", seq=seq, how=how, late=True)
            return
        _, two, answer, head, _ = got
        reply = None
        if two and not how:
            body = unsealed(bytes(answer[:ANSWER - residual]))
            reply = "ok" if body == head else "bad"
        self.log(k="C", seq=seq, how=how, reply=reply)
        self.ops["completion"] += 1

    # -- the run ---------------------------------------------------------------

    def settle_severed(self) -> None:
        """SEVER this end of paths the partner severed once nothing sent on
        them is owed (their IPADSVRD completions came); a bound on that."""
        for pathid, path in list(self.paths.items()):
            if path.state != "severed":
                continue
            owed = [s for s, o in self.outstanding.items() if o[0] == pathid]
            if owed and time.monotonic() - path.severed_at > SEVERED_BOUND:
                self.fail.append(f"path {pathid} to {path.peer} severed; "
                                 f"no completion for {owed}")
                self.abandon(owed, "no IPADSVRD")
                owed = []
            if not owed:
                self.op_sever(pathid)

    def stats(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last_stats > 1.0:
            self.last_stats = now
            self.log(k="stats", ops=dict(self.ops), fail=self.fail)

    def run(self) -> None:
        ops = [(self.op_send, 40), (self.op_connect, 6), (self.op_purge, 3),
               (self.op_quiesce, 2), (self.op_resume, 3), (self.op_sever, 1),
               (self.op_relogon, 0.3), (self.op_vmcf_send, 20), (self.op_vmcf_cancel, 2),
               (self.op_vmcf_quiesce, 1), (self.op_vmcf_resume, 2)]
        fns, weights = zip(*ops)
        say("READY")
        while time.time() < self.end_at:
            self.rng.choices(fns, weights)[0]()
            for _ in range(self.rng.randrange(0, 3)):
                self.take(0)
            self.take(0.005)
            self.settle_severed()
            self.stats()
        self.drain()

    def drain(self) -> None:
        self.op_resume()
        self.op_vmcf_resume()
        end = time.monotonic() + DRAIN_BOUND
        while self.outstanding and time.monotonic() < end:
            self.take(0.05)
            self.settle_severed()
            self.stats()
        if self.outstanding:
            self.fail.append(f"drain: no outcome for {sorted(self.outstanding)}")
        self.stats(force=True)
        say("HUNG" if self.fail else "DRAINED")
        while not select.select([sys.stdin], [], [], 0)[0]:
            self.take(0.05)
            self.settle_severed()
            self.stats()
        self.end()

    def end(self) -> None:
        """LOGOFF, and the ledger's last line: this process ended cleanly."""
        self.vm.logoff()
        self.log(k="end", ops=dict(self.ops), fail=self.fail)


def main() -> None:
    userid, peers, ledger, end_at, seed = sys.argv[1:6]
    vm = SoakVM(userid, [p for p in peers.split(",") if p != userid], ledger,
                float(end_at), int(seed))
    try:
        vm.run()
    except Exception as e:  # in the ledger too, for the parent's report
        vm.log(k="end", ops=dict(vm.ops), fail=vm.fail + [f"{type(e).__name__}: {e}"])
        raise


if __name__ == "__main__":
    main()
