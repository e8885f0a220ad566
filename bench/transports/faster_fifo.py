"""faster-fifo's Queue (a shared-memory circular buffer with a process-shared
mutex), in multiprocessing.Queue's arrangement: one request queue shared by
the clients, one reply queue per client."""
from __future__ import annotations

import faster_fifo

from . import mp_queue


def setup(nclients: int, size: int, **opts):
    cap = max(1 << 20, 64 * (size + 64))
    req = faster_fifo.Queue(max_size_bytes=cap)
    reps = [faster_fifo.Queue(max_size_bytes=cap) for _ in range(nclients)]

    def cleanup() -> None:
        for q in (req, *reps):
            q.close()
    return {"req": req, "reps": reps}, cleanup


class Server(mp_queue.Server):
    WAIT = {"timeout": 1e9}  # faster-fifo's get/put time out after 10 s by default

    def close(self) -> None:
        pass


class Client(mp_queue.Client):
    WAIT = {"timeout": 1e9}

    def close(self) -> None:
        pass


open_server = Server
open_client = Client
