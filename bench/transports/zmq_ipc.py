"""pyzmq over ipc://: the server is a ROUTER, each client a DEALER with its
client id as routing identity."""
from __future__ import annotations

import os
import shutil
import tempfile

import zmq


def setup(nclients: int, size: int, **opts):
    d = tempfile.mkdtemp(prefix="shmcpbench-zmq-")
    return {"addr": f"ipc://{d}/sock"}, lambda: shutil.rmtree(d, ignore_errors=True)


class Server:
    def __init__(self, spec) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.ROUTER_MANDATORY, 1)  # an unroutable reply raises, never drops
        self.sock.bind(spec["addr"])

    def recv(self):
        ident, data = self.sock.recv_multipart()
        return ident[0], data

    def send(self, cid: int, data: bytes) -> None:
        self.sock.send_multipart((bytes((cid,)), data))

    def close(self) -> None:
        self.sock.close(linger=1000)
        self.ctx.term()


class Client:
    def __init__(self, spec, cid: int) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.IDENTITY, bytes((cid,)))
        self.sock.connect(spec["addr"])

    def send(self, data: bytes) -> None:
        self.sock.send(data)

    def recv(self) -> bytes:
        return self.sock.recv()

    def close(self) -> None:
        self.sock.close(linger=1000)
        self.ctx.term()


open_server = Server
open_client = Client
