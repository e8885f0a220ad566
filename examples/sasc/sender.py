"""SENDER: the SAS/C IUCV interface's sample sending program, as SAS/C wrote it.

Connects to RECEIVER, then for each line (the script's, or the terminal's
with --interactive; an empty line stops) SENDs it two-way and sigpauses
until the reply arrives; then severs and clears.  Its handler expects only
CONNECTION COMPLETE and INCOMING REPLY.
"""
from __future__ import annotations

import signal
import sys
import time

from shmcp import testing
from shmcp import (MsgPlist, PathPlist, SIGIUCV, iucvclr, iucvconn, iucvsend, iucvset, iucvsevr,
                   logon, siginfo, sigblock, sigmask, sigpause)

SCRIPT = ["Hello, RECEIVER", "IUCV over shared memory", "goodbye"]
events: list = []


def say(step: str, text: str) -> None:
    testing.say(f"SENDER   {step:>8}: {text}")  # one write: both programs share one pipe


def handler(signum, frame) -> None:
    info = siginfo()
    events.append(info)
    say("signal", f"interrupt type {info.type} ({type(info).__name__}, path {info.pathid})")


def lines():
    if "--interactive" not in sys.argv:
        yield from SCRIPT
        return
    while (line := input("message (empty line ends): ")):
        yield line


def main() -> int:
    vm = logon("SENDER")
    signal.signal(SIGIUCV, handler)                            # step 1
    sigblock(sigmask(SIGIUCV))
    rc, maxconns = iucvset("SENDER")
    say("step 1", f"signal, sigblock, iucvset('SENDER') -> rc {rc}, maxconns {maxconns}")
    path = PathPlist(vmid="RECEIVER", pgm="RECEIVER", user="HELLO")
    # announced before the call: the receiver may react within microseconds
    say("step 3", "iucvconn to RECEIVER, program RECEIVER\n"
                  "SENDER     step 5: then sigpause(0) until the receiver accepts")
    for _ in range(500):                                       # step 3
        rc = iucvconn("SENDER", path)
        if not (rc == 1 and path.rcode in (11, 12)):           # not there yet: try again
            break
        time.sleep(0.01)
    if rc:
        say("step 3", f"iucvconn to RECEIVER failed: rc {rc}, IPRCODE {path.rcode}")
        return 1
    sigpause(0)                                                # step 5
    done = events.pop(0)                                       # step 7
    say("step 7", f"connection complete on path {path.pathid}, msglim {done.msglim}")
    for text in lines():
        answer = bytearray(100)
        msg = MsgPlist(pathid=path.pathid, bf1=text.encode(), bf2=answer)
        say("step 7", f"iucvsend {text!r} two-way, then sigpause(0)")
        rc = iucvsend(msg)
        if rc:
            say("step 7", f"iucvsend failed: cc {rc}, IPRCODE {msg.rcode}")
            return 1
        sigpause(0)
        reply = events.pop(0)                                  # step 9
        n = len(answer) - reply.bf2len
        say("step 9", f"reply to message {reply.msgid}: {answer[:n].decode()!r}")
    say("step 10", "iucvsevr ONE, then iucvclr")
    rc = iucvsevr("SENDER", PathPlist(pathid=path.pathid, user="BYE"), "ONE")
    say("step 10", f"iucvsevr -> rc {rc}; iucvclr -> rc {iucvclr('SENDER')}")
    vm.logoff()
    return 0


if __name__ == "__main__":
    sys.exit(main())
