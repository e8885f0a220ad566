"""multiprocessing.Queue: one request queue shared by the clients, one reply
queue per client."""
from __future__ import annotations

import multiprocessing as mp


def setup(nclients: int, size: int, **opts):
    ctx = mp.get_context("spawn")
    req = ctx.Queue()
    reps = [ctx.Queue() for _ in range(nclients)]

    def cleanup() -> None:
        for q in (req, *reps):
            q.close()
            q.cancel_join_thread()
    return {"req": req, "reps": reps}, cleanup


class Server:
    WAIT: dict = {}  # keyword arguments of get/put (faster_fifo's subclass sets a timeout)

    def __init__(self, spec) -> None:
        self.req = spec["req"]
        self.reps = spec["reps"]

    def recv(self):
        data = self.req.get(**self.WAIT)
        return data[0], data

    def send(self, cid: int, data: bytes) -> None:
        self.reps[cid].put(data, **self.WAIT)

    def close(self) -> None:
        for q in self.reps:
            q.close()
            q.join_thread()


class Client:
    WAIT: dict = {}

    def __init__(self, spec, cid: int) -> None:
        self.req = spec["req"]
        self.rep = spec["reps"][cid]

    def send(self, data: bytes) -> None:
        self.req.put(data, **self.WAIT)

    def recv(self) -> bytes:
        return self.rep.get(**self.WAIT)

    def close(self) -> None:
        self.req.close()
        self.req.join_thread()


open_server = Server
open_client = Client
