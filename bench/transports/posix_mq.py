"""posix_ipc.MessageQueue: one request queue shared by the clients, one reply
queue per client; every queue is unlinked by cleanup()."""
from __future__ import annotations

import itertools
import os

import posix_ipc

_count = itertools.count()


def _msgsize_max() -> int:
    try:
        with open("/proc/sys/fs/mqueue/msgsize_max") as f:
            return int(f.read())
    except OSError:
        return 8192


def unsupported(workload: str, size: int, opts: dict) -> str | None:
    cap = _msgsize_max()
    if size > cap:
        return f"the kernel caps a message at {cap} B (fs.mqueue.msgsize_max); raising it needs privilege"
    return None


def setup(nclients: int, size: int, **opts):
    base = f"/shmcpbench-{os.getpid()}-{next(_count)}"
    names = [f"{base}-req"] + [f"{base}-rep{i}" for i in range(nclients)]
    queues = []

    def cleanup() -> None:
        for q in queues:
            q.close()
        for name in names:
            try:
                posix_ipc.unlink_message_queue(name)
            except posix_ipc.ExistentialError:
                pass
    try:
        for name in names:
            queues.append(posix_ipc.MessageQueue(name, posix_ipc.O_CREX, max_messages=10,
                                                 max_message_size=size))
    except BaseException:
        cleanup()
        raise
    return {"names": names}, cleanup


class Server:
    def __init__(self, spec) -> None:
        names = spec["names"]
        self.req = posix_ipc.MessageQueue(names[0])
        self.reps = [posix_ipc.MessageQueue(n) for n in names[1:]]

    def recv(self):
        data = self.req.receive()[0]
        return data[0], data

    def send(self, cid: int, data: bytes) -> None:
        self.reps[cid].send(data)

    def close(self) -> None:
        for q in (self.req, *self.reps):
            q.close()


class Client:
    def __init__(self, spec, cid: int) -> None:
        names = spec["names"]
        self.req = posix_ipc.MessageQueue(names[0])
        self.rep = posix_ipc.MessageQueue(names[1 + cid])

    def send(self, data: bytes) -> None:
        self.req.send(data)

    def recv(self) -> bytes:
        return self.rep.receive()[0]

    def close(self) -> None:
        self.req.close()
        self.rep.close()


open_server = Server
open_client = Client
