"""shmcp's Pythonic layer as a transport: ``vm.connect`` / ``accept_all``,
``path.send`` (two-way: the reply is its return value; one-way with
``one_way=True``, the layer taking the completions itself) and
``vm.receive`` / ``msg.reply``, as an application would write it.  The
system is set up as for the faithful IUCV rows (shmcp_iucv.setup), so the
two layers are measured side by side."""
from __future__ import annotations

import shmcp

from . import is_stop
from .shmcp_iucv import setup  # noqa: F401  (the same system and directory)

MSGLIM = 255


class Server:
    """Accepts every path, takes every message, replies to two-way ones."""

    def __init__(self, spec) -> None:
        self.vm = shmcp.logon("SERVER", system=spec["system"])
        self.vm.accept_all(msglim=MSGLIM)
        self.pending: list = [None] * 256  # per client: the message to reply to
        self.receive = self.vm.receive

    def recv(self):
        msg = self.receive()
        data = msg.data
        if not msg.one_way:
            self.pending[data[0]] = msg
        return data[0], data

    def send(self, cid: int, data) -> None:
        self.pending[cid].reply(data)

    def close(self) -> None:
        self.vm.logoff()


class Client:
    def __init__(self, spec, cid: int) -> None:
        self.vm = shmcp.logon(f"C{cid}", system=spec["system"])
        self.path = self.vm.connect("SERVER", msglim=MSGLIM, wait=True, timeout=60)
        self.extra = [self.vm.connect("SERVER", wait=True, timeout=60)  # idle paths
                      for _ in range(spec["paths"] - 1)]
        self.oneway = spec["oneway"]
        self.reply = None
        self.stop = None
        self._send = self.path.send

    def send(self, data) -> None:
        if is_stop(data):  # its reply comes after the harness's own steps
            self.stop = self.path.send_nowait(data)
        elif self.oneway:
            self._send(data, one_way=True)
        else:
            self.reply = self._send(data)  # two-way: the round trip ends here

    def recv(self):
        if self.stop is not None:
            return self.stop.result()
        return self.reply

    def close(self) -> None:
        self.vm.logoff()


open_server = Server
open_client = Client


class Idle:
    """A VM that is logged on, uses the Pythonic layer, and does nothing."""

    def __init__(self, spec, index: int) -> None:
        self.vm = shmcp.logon(f"IDLE{index}", system=spec["system"])
        self.vm.paths  # noqa: B018

    def close(self) -> None:
        self.vm.logoff()


open_idle = Idle
