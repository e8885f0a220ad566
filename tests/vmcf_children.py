"""VMCF virtual machines for the tests, each a real child process.

``python tests/vmcf_children.py ROLE USERID`` logs on (system from
$SHMCP_SYSTEM) and prints ``READY`` (shmcp.testing's protocol).

Role ``driven``: reads one JSON command a line and answers one JSON line
(see ``run``): DIAGNOSE X'68' with the areas built from the command, take
the next VMCF interrupt (``vm.wait(0)``: the queue is the truth), SMSG,
status, LOGOFF + LOGON.  The tests and the model test drive VMs this way.

Role ``handler``: takes VMCF interrupts in a SIGVMCF handler through
``sigpause`` (the SAS/C way) and reports each one it was called for.
"""
from __future__ import annotations

import signal
import sys

import shmcp
from shmcp import vmcf
from shmcp.testing import say, serve


class Driven:
    """One VM under remote control."""

    def __init__(self, userid: str) -> None:
        self.userid = userid
        self.vm = shmcp.logon(userid)
        self.ib: bytearray | bytes = b""
        self.replies: dict[tuple[str, int], bytearray] = {}

    def diag(self, c: dict) -> dict:
        func = c["func"]
        parm = vmcf.Vmcparm(flg1=c.get("flg1", 0), func=func, mid=c.get("mid", 0),
                            user=c.get("user") or None, use=bytes.fromhex(c.get("use", "")))
        data = bytes.fromhex(c.get("data", ""))
        area = None
        if func == vmcf.VMCPAUTH:
            area = bytearray(c.get("size", 200))
            area = bytes(area) if c.get("readonly") else area
            parm.vada = area
        elif func in (vmcf.VMCPSEND, vmcf.VMCPSENR, vmcf.VMCPSENX, vmcf.VMCPREPL):
            parm.vada = data
        elif func == vmcf.VMCPRECV:
            area = bytearray(c.get("size", 0))
            parm.vada = bytes(area) if c.get("readonly") else area
        if func == vmcf.VMCPSENR and c.get("reply") is not None:
            parm.vadb = bytearray(c["reply"])
        for key in ("lena", "lenb", "vadb", "vada"):
            if key in c:
                setattr(parm, key, c[key])
        rc = vmcf.diag68(parm)
        out: dict = {"rc": rc}
        if func == vmcf.VMCPAUTH and rc == 0:
            self.ib = area
        if func == vmcf.VMCPRECV and not isinstance(parm.vada, int):
            out["buf"] = bytes(parm.vada).hex()
        if func == vmcf.VMCPSENR and rc == 0 and isinstance(parm.vadb, bytearray):
            self.replies[(parm.user.decode().rstrip(), parm.mid)] = parm.vadb
        return out

    def take(self) -> dict:
        h = self.vm.wait(0)
        if h is None:
            return {"none": True}
        if not isinstance(h, vmcf.Vmcmhdr):
            return {"foreign": repr(h)}
        image = bytes(h) + h.buf
        out = {"hdr": bytes(h).hex(), "buf": h.buf.hex(),
               "ib_ok": bytes(self.ib[:len(image)]) == image[:len(self.ib)]}
        key = (h.user.decode().rstrip(), h.mid)
        if h.response and h.func == vmcf.VMCPSENR and key in self.replies:
            out["reply"] = bytes(self.replies.pop(key)).hex()
        return out

    def run(self, c: dict) -> dict:
        op = c["op"]
        try:
            if op == "diag":
                return self.diag(c)
            if op == "take":
                return self.take()
            if op == "smsg":
                shmcp.smsg(c["to"], bytes.fromhex(c["text"]) if "text" in c else c["str"])
                return {"ok": True}
            if op == "info":
                return vmcf.info(c.get("userid"))
            if op == "pending":
                return {"pending": self.vm.pending(shmcp.VMCF)}
            if op == "relogon":
                self.vm.logoff()
                self.__init__(self.userid)
                return {"ok": True}
            if op == "logoff":
                self.vm.logoff()
                return {"ok": True}
            if op == "storage":
                return {"free": shmcp.current().attached.storage_free()}
        except Exception as exc:  # reported to the test, which checks it
            return {"error": type(exc).__name__, "msg": str(exc),
                    "rc": getattr(exc, "rc", None)}
        return {"error": "unknown op", "msg": op}


def driven(userid: str) -> None:
    me = Driven(userid)
    serve(lambda c: {"exit": 0} if c["op"] == "exit" else me.run(c))
    me.vm.logoff()


def handler(userid: str, count: str) -> None:
    """Take ``count`` VMCF interrupts in a SIGVMCF handler, answering
    SEND/RECV requests, and report what each call saw."""
    vm = shmcp.logon(userid)
    ib = bytearray(200)
    vmcf.authorize(ib, priority=True)
    seen: list[dict] = []

    def on_vmcf(signum: int, frame: object) -> None:
        h = shmcp.siginfo()
        seen.append({"type": type(h).__name__, "func": h.func, "mid": h.mid,
                     "stat": h.stat, "ib_ok": bytes(ib[:40]) == bytes(h)})
        if h.func == vmcf.VMCPSENR and not h.stat & vmcf.VMCMRESP:
            buf = bytearray(h.lena)
            vmcf.receive(h.user, h.mid, buf)
            vmcf.reply(h.user, h.mid, bytes(buf).upper())

    signal.signal(shmcp.SIGVMCF, on_vmcf)
    old = shmcp.sigblock(shmcp.sigmask(shmcp.SIGVMCF))
    say("READY")
    while len(seen) < int(count):
        shmcp.sigpause(old & ~shmcp.sigmask(shmcp.SIGVMCF))
    outside = shmcp.siginfo()
    say({"seen": seen, "outside": outside is None})
    sys.stdin.readline()
    vm.logoff()


if __name__ == "__main__":
    {"driven": driven, "handler": handler}[sys.argv[1]](*sys.argv[2:])
