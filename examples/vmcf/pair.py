"""A SEND/RECV request/reply pair of virtual machines over VMCF.

Run with ``make example-vmcf``.  CLIENT authorizes and waits; SERVER logs
on, authorizes and announces itself with IDENTIFY (a header-only interrupt,
VMCMRESP on, no response).  CLIENT then sends requests with SEND/RECV;
SERVER's SIGVMCF handler RECEIVEs each one and REPLYs; the reply is in
CLIENT's REPLY buffer when its RESPONSE interrupt is presented.
"""
from __future__ import annotations

import signal
import sys

import shmcp
from shmcp import vmcf
from shmcp.testing import run_pair, say  # say: one line, one write (the VMs share stdout)

REQUESTS = ["hello", "virtual machine", "communication facility"]



def server(system: str) -> None:
    ib = bytearray(64)                       # the external interrupt buffer
    done: list[bool] = []

    def on_vmcf(signum: int, frame: object) -> None:
        h = shmcp.siginfo()
        if h.func != vmcf.VMCPSENR or h.response:
            return
        request = bytearray(h.lena)
        vmcf.receive(h.user, h.mid, request)
        text = request.decode()
        say(f"SERVER: request {h.mid} from {h.user.decode().strip()}: {text!r}")
        if text == "QUIT":
            done.append(True)
            answer = b"BYE"
        else:
            answer = text.upper().encode()
        vmcf.reply(h.user, h.mid, answer, use=b"OK")

    signal.signal(shmcp.SIGVMCF, on_vmcf)
    shmcp.sigblock(shmcp.sigmask(shmcp.SIGVMCF))
    with shmcp.logon("SERVER", system=system):
        vmcf.authorize(ib)
        vmcf.identify("CLIENT", use=b"READY")
        say("SERVER: available, IDENTIFY sent to CLIENT")
        while not done:
            shmcp.sigpause(0)
        vmcf.unauthorize()


def client(system: str, ready) -> None:
    ib = bytearray(64)
    got: list[vmcf.Vmcmhdr] = []
    signal.signal(shmcp.SIGVMCF, lambda s, f: got.append(shmcp.siginfo()))
    shmcp.sigblock(shmcp.sigmask(shmcp.SIGVMCF))
    with shmcp.logon("CLIENT", system=system):
        vmcf.authorize(ib)
        ready.set()
        shmcp.sigpause(0)
        h = got.pop()
        assert h.func == vmcf.VMCPIDEN and h.stat & vmcf.VMCMRESP
        say(f"CLIENT: {h.user.decode().strip()} identified itself: "
            f"{h.use.rstrip(bytes(1)).decode()}")
        for mid, text in enumerate([*REQUESTS, "QUIT"], start=1):
            answer = bytearray(64)
            rc = vmcf.send_recv("SERVER", mid, text.encode(), answer)
            assert rc == 0, f"SEND/RECV return code {rc}"
            while not got:
                shmcp.sigpause(0)
            r = got.pop()
            assert r.response and r.mid == mid and r.eflg == 0, r
            reply = bytes(answer[:len(answer) - r.lenb]).decode()
            say(f"CLIENT: reply to {mid}: {reply!r} ({r.use.rstrip(bytes(1)).decode()})")


def main() -> int:
    ok = run_pair("vmcf", client, server)
    say("example-vmcf: " + ("done" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
