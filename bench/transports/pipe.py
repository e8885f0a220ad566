"""os.pipe: one request pipe shared by the clients (each message is one
atomic write of at most PIPE_BUF bytes when there are several clients), one
reply pipe per client."""
from __future__ import annotations

import os
import select

from . import InheritFd, read_exact, write_all


def unsupported(workload: str, size: int, opts: dict) -> str | None:
    if workload == "fanin" and size > select.PIPE_BUF:
        return f"a shared pipe is atomic only up to PIPE_BUF ({select.PIPE_BUF} B)"
    return None


def setup(nclients: int, size: int, **opts):
    req = os.pipe()
    reps = [os.pipe() for _ in range(nclients)]
    fds = [*req, *(fd for p in reps for fd in p)]
    spec = {"size": size, "req": [InheritFd(fd) for fd in req],
            "reps": [[InheritFd(fd) for fd in p] for p in reps]}

    def cleanup() -> None:
        for fd in fds:
            os.close(fd)
    return spec, cleanup


class Server:
    def __init__(self, spec) -> None:
        self.size = spec["size"]
        self.r = spec["req"][0].fd
        self.w = [p[1].fd for p in spec["reps"]]

    def recv(self):
        data = read_exact(self.r, self.size)
        return data[0], data

    def send(self, cid: int, data: bytes) -> None:
        write_all(self.w[cid], data)

    def close(self) -> None:
        pass


class Client:
    def __init__(self, spec, cid: int) -> None:
        self.size = spec["size"]
        self.w = spec["req"][1].fd
        self.r = spec["reps"][cid][0].fd

    def send(self, data: bytes) -> None:
        write_all(self.w, data)

    def recv(self) -> bytes:
        return read_exact(self.r, self.size)

    def close(self) -> None:
        pass


open_server = Server
open_client = Client
