"""socket.socketpair (AF_UNIX, SOCK_STREAM): one pair per client; the server
multiplexes them with a selector."""
from __future__ import annotations

import selectors
import socket
from collections import deque


def setup(nclients: int, size: int, **opts):
    pairs = [socket.socketpair() for _ in range(nclients)]
    spec = {"size": size, "server": [p[0] for p in pairs], "client": [p[1] for p in pairs]}

    def cleanup() -> None:
        for a, b in pairs:
            a.close()
            b.close()
    return spec, cleanup


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = sock.recv(n)
    if len(data) == n:
        return data
    buf = bytearray(data)
    while len(buf) < n:
        more = sock.recv(n - len(buf))
        if not more:
            raise EOFError("peer closed")
        buf += more
    return bytes(buf)


class Server:
    def __init__(self, spec) -> None:
        self.size = spec["size"]
        self.socks = spec["server"]
        self.ready: deque[int] = deque()
        self.sel = None
        if len(self.socks) > 1:
            self.sel = selectors.DefaultSelector()
            for cid, s in enumerate(self.socks):
                self.sel.register(s, selectors.EVENT_READ, cid)

    def recv(self):
        if self.sel is None:
            return 0, _recv_exact(self.socks[0], self.size)
        while not self.ready:
            self.ready.extend(key.data for key, _ in self.sel.select())
        cid = self.ready.popleft()
        return cid, _recv_exact(self.socks[cid], self.size)

    def send(self, cid: int, data: bytes) -> None:
        self.socks[cid].sendall(data)

    def close(self) -> None:
        if self.sel is not None:
            self.sel.close()


class Client:
    def __init__(self, spec, cid: int) -> None:
        self.size = spec["size"]
        self.sock = spec["client"][cid]

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self) -> bytes:
        return _recv_exact(self.sock, self.size)

    def close(self) -> None:
        pass


open_server = Server
open_client = Client
