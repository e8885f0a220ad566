"""RECEIVER: the SAS/C IUCV interface's sample receiving program, as SAS/C wrote it.

Accepts the SENDER's connection; for each message: receive it, show it,
reply; stops when the path is severed.  The handler only records the
interrupt; the main line acts after sigpause returns, as in the sample.
Replies with the text in upper case.
"""
from __future__ import annotations

import signal
import sys

from shmcp import testing
from shmcp import (MsgPlist, PathPlist, SIGIUCV, iucvacc, iucvclr, iucvrecv, iucvrply, iucvset,
                   iucvsevr, logon, siginfo, sigblock, sigmask, sigpause)

events: list = []


def say(step: str, text: str) -> None:
    testing.say(f"RECEIVER {step:>8}: {text}")  # one write: both programs share one pipe


def handler(signum, frame) -> None:
    info = siginfo()
    events.append(info)
    say("signal", f"interrupt type {info.type} ({type(info).__name__}, path {info.pathid})")


def next_event():
    sigpause(0)
    return events.pop(0)


def main() -> int:
    vm = logon("RECEIVER")
    signal.signal(SIGIUCV, handler)                            # step 1
    sigblock(sigmask(SIGIUCV))
    rc, maxconns = iucvset("RECEIVER")
    say("step 1", f"signal, sigblock, iucvset('RECEIVER') -> rc {rc}, maxconns {maxconns}")
    say("step 2", "sigpause(0): waiting for an interrupt")
    pending = next_event()                                     # step 4
    say("step 4", f"connection pending from {pending.vmid.decode().strip()} "
                  f"for program {pending.pgm.decode().strip()}, path {pending.pathid}")
    acc = PathPlist.from_bytes(bytes(pending))
    acc.type = 0                                               # the byte doubles as IPRCODE
    say("step 6", "iucvacc, then sigpause(0)")
    rc = iucvacc("RECEIVER", acc)
    if rc:
        say("step 6", f"iucvacc failed: rc {rc}, IPRCODE {acc.rcode}")
        return 1
    while True:
        ev = next_event()
        if ev.type == 3:                                       # step 11
            say("step 11", f"path {ev.pathid} severed by the sender "
                           f"(user data {ev.user.decode(errors='replace').strip()!r})")
            iucvsevr("RECEIVER", PathPlist(pathid=ev.pathid), "ONE")
            break
        if ev.type not in (8, 9):
            continue
        buf = bytearray(ev.bf1len)                             # step 8
        msg = MsgPlist(pathid=ev.pathid, msgid=ev.msgid, trgcls=ev.trgcls, bf1=buf)
        rc = iucvrecv(msg)
        text = buf.decode(errors="replace")
        say("step 8", f"incoming message {ev.msgid}: iucvrecv -> cc {rc}: {text!r}")
        answer = text.upper().encode()
        rep = MsgPlist(pathid=ev.pathid, msgid=ev.msgid, trgcls=ev.trgcls, bf2=answer)
        say("step 8", f"iucvrply {answer.decode()!r}, then sigpause(0)")
        rc = iucvrply(rep)
        if rc:
            say("step 8", f"iucvrply failed: cc {rc}")
    rc = iucvclr("RECEIVER")
    say("end", f"iucvclr -> rc {rc}")
    vm.logoff()
    return 0


if __name__ == "__main__":
    sys.exit(main())
