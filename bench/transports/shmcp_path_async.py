"""shmcp's Pythonic layer under asyncio: ``await path.asend`` in the
client, ``async for msg in vm.amessages()`` in the server (a real asyncio
server process: worker.py runs ``serve``)."""
from __future__ import annotations

import shmcp

from .aio_common import LoopClient, serving, stopped, unsupported  # noqa: F401
from .shmcp_iucv import setup  # noqa: F401  (the same system and directory)

MSGLIM = 255


async def _server(spec, nclients: int, ready) -> None:
    vm = shmcp.logon("SERVER", system=spec["system"])
    try:
        vm.accept_all(msglim=MSGLIM)
        ready.set()
        stops = [0]
        async for msg in vm.amessages():
            data = msg.data
            msg.reply(data)
            if stopped(data, stops, nclients):
                return
    finally:
        vm.logoff()


serve = serving(_server)


class Client(LoopClient):
    def __init__(self, spec, cid: int) -> None:
        super().__init__()
        self.vm = shmcp.logon(f"C{cid}", system=spec["system"])
        self.path = self.run(self.vm.aconnect("SERVER", msglim=MSGLIM, wait=True, timeout=60))
        self.round_trip = self.path.asend  # type: ignore[method-assign]

    def close(self) -> None:
        self.vm.logoff()
        super().close()


open_client = Client

