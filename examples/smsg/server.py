"""A service virtual machine driven by special messages (SMSG).

Run with ``make example-smsg``.  SRVMACH authorizes VMCF with the SMSG
option and a 169-byte interrupt buffer, then serves commands that arrive
as SMSG -- CP's SENDX from user SYSTEM, the issuer's userid in VMCMUSE --
and answers each issuer with an SMSG of its own, the way classic
SMSG-driven servers worked.  USER1 sends it commands; the operator stops
it with the command line: ``shmcp smsg SRVMACH STOP``.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import shmcp
from shmcp import vmcf
from shmcp.testing import run_pair, say  # say: one line, one write (the VMs share stdout)

COMMANDS = ["ADD 2 40", "ECHO Hello from USER1", "FROB", "COUNT"]



def answer(command: str, served: int) -> str:
    verb, _, rest = command.partition(" ")
    verb = verb.upper()
    if verb == "ADD":
        try:
            return f"SUM {sum(int(x) for x in rest.split())}"
        except ValueError:
            return "ADD needs numbers"
    if verb == "ECHO":
        return rest
    if verb == "COUNT":
        return f"{served} COMMANDS SERVED"
    return f"UNKNOWN COMMAND {verb}"


@contextlib.contextmanager
def smsg_vm(userid: str, system: str) -> Iterator[list[vmcf.Vmcmhdr]]:
    """Log on ``userid`` taking special messages: a 169-byte interrupt
    buffer, VMCF authorized with the SMSG option; yields the inbox the
    SIGVMCF handler fills (SIGVMCF blocked outside sigpause)."""
    ib = bytearray(vmcf.SMSG_BUFFER)
    inbox: list[vmcf.Vmcmhdr] = []
    signal.signal(shmcp.SIGVMCF, lambda s, f: inbox.append(shmcp.siginfo()))
    shmcp.sigblock(shmcp.sigmask(shmcp.SIGVMCF))
    with shmcp.logon(userid, system=system):
        vmcf.authorize(ib, smsg=True)
        yield inbox


def srvmach(system: str, ready) -> None:
    with smsg_vm("SRVMACH", system) as inbox:
        ready.set()
        served = 0
        while True:
            shmcp.sigpause(0)
            h = inbox.pop(0)
            if h.user != b"SYSTEM  ":
                continue                      # only special messages here
            issuer = h.use.decode().strip()
            command = h.buf.decode()
            say(f"SRVMACH: from {issuer}: {command}")
            if command == "STOP":
                say(f"SRVMACH: stopped by {issuer}")
                break
            served += 1
            try:
                shmcp.smsg(issuer, answer(command, served))
            except shmcp.ShmcpError as exc:   # issuer gone or not receiving
                say(f"SRVMACH: cannot answer: {exc}")
        vmcf.unauthorize()


def user1(system: str) -> None:
    with smsg_vm("USER1", system) as inbox:
        for command in COMMANDS:
            shmcp.smsg("SRVMACH", command)
            shmcp.sigpause(0)
            h = inbox.pop(0)
            say(f"USER1: {h.use.decode().strip()} answered: {h.buf.decode()}")


def stop(system: str) -> bool:
    """The operator's SMSG STOP, from the command line."""
    cmd = [sys.executable, "-m", "shmcp", "smsg", "--system", system, "SRVMACH", "STOP"]
    return subprocess.run(cmd, env=dict(os.environ)).returncode == 0


def main() -> int:
    ok = run_pair("smsg", srvmach, user1, between=stop)
    say("example-smsg: " + ("done" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
