"""pyzmq's asyncio sockets over ipc://: the server a ROUTER, each client
a DEALER with its client id as routing identity (worker.py runs
``serve``)."""
from __future__ import annotations

import zmq
import zmq.asyncio

from .aio_common import LoopClient, serving, stopped, unsupported  # noqa: F401
from .zmq_ipc import setup  # noqa: F401  (an ipc:// address in a temporary directory)


async def _server(spec, nclients: int, ready) -> None:
    ctx = zmq.asyncio.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
    sock.bind(spec["addr"])
    ready.set()
    stops = [0]
    try:
        while True:
            ident, data = await sock.recv_multipart()
            await sock.send_multipart((ident, data))
            if stopped(data, stops, nclients):
                return
    finally:
        sock.close(linger=1000)
        ctx.term()


serve = serving(_server)


class Client(LoopClient):
    def __init__(self, spec, cid: int) -> None:
        super().__init__()
        self.ctx = zmq.asyncio.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.IDENTITY, bytes((cid,)))
        self.sock.connect(spec["addr"])

    async def round_trip(self, data: bytes) -> bytes:
        await self.sock.send(data)
        return await self.sock.recv()

    def close(self) -> None:
        self.sock.close(linger=1000)
        self.ctx.term()
        super().close()


open_client = Client

