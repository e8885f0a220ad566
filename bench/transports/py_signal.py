"""A bare signal doorbell in Python: the payload in a shared mmap (a file in
the temp directory, not /dev/shm), the bell is ``os.kill(pid, SIGUSR1)``,
the receiver sleeps in ``signal.sigtimedwait`` with SIGUSR1 blocked.  The
reference for shmcp's no-spin target.  One client, round trips only
(signals coalesce: no queue, no streaming)."""
from __future__ import annotations

import mmap
import os
import signal
import struct
import tempfile

_SIG = signal.SIGUSR1
_OFF = 24  # server pid, client pid, length


def unsupported(workload: str, size: int, opts: dict) -> str | None:
    if workload != "rtt":
        return "a bare doorbell has no queue: round trips only"
    return None


def setup(nclients: int, size: int, **opts):
    fd, path = tempfile.mkstemp(prefix="shmcpbench-sig-")
    os.ftruncate(fd, _OFF + 2 * max(size, 8))
    os.close(fd)
    return {"path": path, "size": size}, lambda: os.unlink(path)


class _End:
    me = 0

    def __init__(self, spec) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {_SIG})
        with open(spec["path"], "r+b") as f:
            self.mem = mmap.mmap(f.fileno(), 0)
        self.size = spec["size"]
        struct.pack_into("q", self.mem, 8 * self.me, os.getpid())
        self.inbox = _OFF + self.me * self.size
        self.outbox = _OFF + (1 - self.me) * self.size

    def put(self, data: bytes) -> None:
        self.mem[self.outbox:self.outbox + len(data)] = data
        os.kill(struct.unpack_from("q", self.mem, 8 * (1 - self.me))[0], _SIG)

    def take(self) -> bytes:
        while signal.sigtimedwait({_SIG}, 1.0) is None:
            pass
        return self.mem[self.inbox:self.inbox + self.size]

    def close(self) -> None:
        self.mem.close()


class Server(_End):
    me = 0

    def recv(self):
        return 0, self.take()

    def send(self, cid: int, data: bytes) -> None:
        self.put(data)


class Client(_End):
    me = 1

    def __init__(self, spec, cid: int) -> None:
        super().__init__(spec)

    def send(self, data: bytes) -> None:
        self.put(data)

    def recv(self) -> bytes:
        return self.take()


open_server = Server
open_client = Client
