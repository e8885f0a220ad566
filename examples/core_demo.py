"""Two virtual machines exchange external interrupts through shmcp's core.

Run with ``make demo``.  PING and PONG are two OS processes.  PONG blocks
SIGIUCV and waits in sigpause(0); PING queues an interrupt for it, PONG's
handler sees it through siginfo() and answers with one of its own.  Every
interrupt is printed as it is handled.  (The IUCV facility will replace
this with the SAS/C sender/receiver programs.)
"""
from __future__ import annotations

import signal
import struct
import sys

import shmcp
from shmcp.testing import run_pair

ROUNDS = 5


def record(kind: bytes, n: int) -> bytes:
    return bytes(4) + struct.pack(">4sI", kind, n).ljust(36, b"\0")


def show(who: str, info: shmcp.Interrupt) -> tuple[bytes, int]:
    kind, n = struct.unpack(">4sI", info.raw[4:12])
    print(f"{who}: interrupt {kind.decode()} #{n} ({'priority' if info.priority else 'normal'})",
          flush=True)
    return kind, n


def pong(system: str, ready) -> None:
    got: list[tuple[bytes, int]] = []
    signal.signal(shmcp.SIGIUCV, lambda s, f: got.append(show("PONG", shmcp.siginfo())))
    shmcp.sigblock(shmcp.sigmask(shmcp.SIGIUCV))   # block first ...
    with shmcp.logon("PONG", system=system) as vm:
        ready.set()
        while True:
            shmcp.sigpause(0)                       # ... then pause: no lost wake-up
            kind, n = got[-1]
            if kind == b"STOP":
                break
            vm.queue_interrupt("PING", record(b"PONG", n))


def ping(system: str) -> None:
    got: list[tuple[bytes, int]] = []
    signal.signal(shmcp.SIGIUCV, lambda s, f: got.append(show("PING", shmcp.siginfo())))
    shmcp.sigblock(shmcp.sigmask(shmcp.SIGIUCV))
    with shmcp.logon("PING", system=system) as vm:
        for n in range(1, ROUNDS + 1):
            print(f"PING: queueing PING #{n} for PONG", flush=True)
            vm.queue_interrupt("PONG", record(b"PING", n))
            shmcp.sigpause(0)
            assert got[-1] == (b"PONG", n), got[-1]
        vm.queue_interrupt("PONG", record(b"STOP", 0), priority=True)


def main() -> int:
    ok = run_pair("demo", pong, ping)
    print("demo: " + ("PING and PONG exchanged all interrupts" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
