"""multiprocessing.Pipe (duplex Connection, send_bytes / recv_bytes): one per
client; the server multiplexes with multiprocessing.connection.wait."""
from __future__ import annotations

import multiprocessing as mp
from collections import deque
from multiprocessing.connection import wait


def setup(nclients: int, size: int, **opts):
    pairs = [mp.Pipe() for _ in range(nclients)]
    spec = {"server": [p[0] for p in pairs], "client": [p[1] for p in pairs]}

    def cleanup() -> None:
        for a, b in pairs:
            a.close()
            b.close()
    return spec, cleanup


class Server:
    def __init__(self, spec) -> None:
        self.conns = spec["server"]
        self.index = {id(c): i for i, c in enumerate(self.conns)}
        self.ready: deque[int] = deque()

    def recv(self):
        if len(self.conns) == 1:
            return 0, self.conns[0].recv_bytes()
        while not self.ready:
            self.ready.extend(self.index[id(c)] for c in wait(self.conns))
        cid = self.ready.popleft()
        return cid, self.conns[cid].recv_bytes()

    def send(self, cid: int, data: bytes) -> None:
        self.conns[cid].send_bytes(data)

    def close(self) -> None:
        pass


class Client:
    def __init__(self, spec, cid: int) -> None:
        self.conn = spec["client"][cid]

    def send(self, data: bytes) -> None:
        self.conn.send_bytes(data)

    def recv(self) -> bytes:
        return self.conn.recv_bytes()

    def close(self) -> None:
        pass


open_server = Server
open_client = Client
