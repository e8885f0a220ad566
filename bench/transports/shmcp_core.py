"""shmcp's runtime core as a transport: ``vm.queue_interrupt(userid, record,
data=payload)`` and ``vm.wait()``, the payload carried as trailing data
through the storage pool.  The server is VM SERVER, client i is VM Cn.

mode="wait": handler-free ``vm.wait()``; mode="sigpause": a SIGIUCV handler
takes the interrupt (``shmcp.siginfo()``) and the program waits in
``shmcp.sigpause(0)`` with SIGIUCV blocked in between (block, provoke,
pause).  spin_us: the IPL's spin limit (None: the default; 0: every wait
sleeps).  idle_vms: that many extra VMs logged on and idle (started by the
harness's scaling workload)."""
from __future__ import annotations

import os
import signal

import shmcp
from shmcp.testing import private_system_name

from . import shmcp_limits

RECORD = bytes(40)


def setup(nclients: int, size: int, **opts):
    system = private_system_name("bench")
    limits = shmcp_limits(nclients, opts)
    shmcp.ipl(system, **limits)
    return {"system": system, "mode": opts.get("mode", "wait")}, lambda: shmcp.shutdown(system)


def _retrying(vm, userid: str, data: bytes) -> None:
    """Queue one interrupt; a full queue (the receiver is behind) is retried
    after yielding the core -- the core has no flow control of its own."""
    while True:
        try:
            vm.queue_interrupt(userid, RECORD, data=data)
            return
        except (shmcp.QueueFull, shmcp.StorageExhausted):
            os.sched_yield()


class _End:
    def __init__(self, spec, userid: str) -> None:
        self.sigpause = spec["mode"] == "sigpause"
        if self.sigpause:
            self.got: list = []
            signal.signal(shmcp.SIGIUCV, lambda signum, frame: self.got.append(shmcp.siginfo()))
            shmcp.sigblock(shmcp.sigmask(shmcp.SIGIUCV))
        self.vm = shmcp.logon(userid, system=spec["system"])

    def take(self) -> bytes:
        if self.sigpause:
            while not self.got:
                shmcp.sigpause(0)
            return self.got.pop(0).buf
        return self.vm.wait().buf

    def close(self) -> None:
        self.vm.logoff()


class Server(_End):
    def __init__(self, spec) -> None:
        super().__init__(spec, "SERVER")
        self.clients = [f"C{i}" for i in range(256)]

    def recv(self):
        data = self.take()
        return data[0], data

    def send(self, cid: int, data: bytes) -> None:
        _retrying(self.vm, self.clients[cid], data)


class Client(_End):
    def __init__(self, spec, cid: int) -> None:
        super().__init__(spec, f"C{cid}")

    def send(self, data: bytes) -> None:
        _retrying(self.vm, "SERVER", data)

    def recv(self) -> bytes:
        return self.take()


open_server = Server
open_client = Client


class Idle:
    """A VM that is logged on and does nothing (the scaling workload)."""

    def __init__(self, spec, index: int) -> None:
        self.vm = shmcp.logon(f"IDLE{index}", system=spec["system"])

    def close(self) -> None:
        self.vm.logoff()


open_idle = Idle
