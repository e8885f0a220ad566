"""asyncio streams over socket.socketpair (AF_UNIX): one pair per client,
the server one asyncio task per client (worker.py runs ``serve``)."""
from __future__ import annotations

import asyncio

from .aio_common import LoopClient, serving, stopped, unsupported  # noqa: F401
from .socketpair import setup  # noqa: F401  (one pair per client)


async def _server(spec, nclients: int, ready) -> None:
    size, stops, done = spec["size"], [0], asyncio.Event()

    async def echo(sock) -> None:
        reader, writer = await asyncio.open_unix_connection(sock=sock)
        while True:
            data = await reader.readexactly(size)
            writer.write(data)
            await writer.drain()
            if stopped(data, stops, nclients):
                done.set()
                return
            if data[1] == 0xFF:
                return  # this client's STOP
    tasks = [asyncio.ensure_future(echo(sock)) for sock in spec["server"]]
    ready.set()
    await done.wait()
    for t in tasks:
        t.cancel()


serve = serving(_server)


class Client(LoopClient):
    def __init__(self, spec, cid: int) -> None:
        super().__init__()
        self.size = spec["size"]
        self.reader, self.writer = self.run(asyncio.open_unix_connection(sock=spec["client"][cid]))

    async def round_trip(self, data: bytes) -> bytes:
        self.writer.write(data)
        await self.writer.drain()
        return await self.reader.readexactly(self.size)

    def close(self) -> None:
        self.writer.close()
        super().close()


open_client = Client

