"""Transports the harness can measure, one small module each.

A transport module provides, for ``nclients`` clients talking to one server:

* ``setup(nclients, size, **opts) -> (spec, cleanup)`` in the harness's
  worker process: creates what both ends need; ``spec`` is picklable for a
  spawned child, ``cleanup()`` removes every named object it created;
* ``open_server(spec)`` -> an object with ``recv() -> (cid, bytes)``,
  ``send(cid, data)``, ``close()``; or instead ``serve(spec, nclients,
  ready)``: a whole echo server of its own (the asyncio rows' loop) that
  sets ``ready``, echoes, and returns after a STOP from every client;
* ``open_client(spec, cid)`` -> an object with ``send(data)``,
  ``recv() -> bytes``, ``close()``;
* optionally ``unsupported(workload, size, opts) -> str | None``: why a
  workload cannot run on it (reported, never silently dropped);
* optionally, on the client, ``round_trips(msg, count, deadline)``: the
  timed round trips run its own way (the asyncio rows: in one coroutine),
  a ``Tally``'s ``outcome()``.

Messages have a fixed size per run (at least 8 bytes).  Byte 0 is the
sending client's id (so a transport with one shared request channel can
route the reply), bytes 1..7 a little-endian sequence number; STOP (seq all
ones) ends a run.  Stream transports (pipes, sockets) read exactly ``size``
bytes per message.
"""
from __future__ import annotations

import os
from multiprocessing import reduction
from typing import Any

HEADER = 8
STOP_SEQ = (1 << 56) - 1


class Tally:
    """Timed round trips of one request as the worker counts them: each
    one's ns, the replies that differed from the request, the last reply."""

    def __init__(self, msg: bytes, deadline: int) -> None:
        self.msg = msg
        self.deadline = deadline  # perf_counter_ns
        self.samples: list[int] = []
        self.corrupt = 0
        self.back: Any = None

    def add(self, t0: int, t1: int, back: Any) -> bool:
        """One round trip (checked outside its timing); True once past the deadline."""
        if not intact(back, self.msg):  # the echo must come back intact
            self.corrupt += 1
        self.samples.append(t1 - t0)
        self.back = back
        return t1 > self.deadline

    def outcome(self) -> tuple[list[int], int, Any]:
        return self.samples, self.corrupt, self.back


def shmcp_limits(nclients: int, opts: dict) -> dict[str, int]:
    """The IPL limits of a shmcp transport's private system: room for the
    clients, the idle VMs and a few more; the spin asked for, if any."""
    limits = {"max_vms": max(64, nclients + opts.get("idle_vms", 0) + 4)}
    if opts.get("spin_us") is not None:
        limits["spin_us"] = opts["spin_us"]
    return limits


def message(cid: int, seq: int, size: int) -> bytes:
    """A message of ``size`` bytes from client ``cid`` with sequence ``seq``."""
    return bytes((cid,)) + seq.to_bytes(7, "little") + bytes(size - HEADER)


def intact(back, msg: bytes) -> bool:
    """``back`` (any bytes-like object a transport returns) holds exactly
    ``msg``: one memcmp whatever its type (a memoryview compared with ``!=``
    goes byte by byte, ~6 ms a MiB, against bytes' 30 us)."""
    return len(back) == len(msg) and msg.startswith(back)


def seq_of(data: bytes) -> int:
    return int.from_bytes(data[1:8], "little")


def is_stop(data: bytes) -> bool:
    return data[1] == 0xFF and data[1:8] == b"\xff" * 7


class InheritFd:
    """A file descriptor handed to a spawned child (multiprocessing passes
    it at spawn time, as it does for Connection objects)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> Any:
        return _rebuild_fd, (reduction.DupFd(self.fd),)

    def fileno(self) -> int:
        return self.fd


def _rebuild_fd(df: Any) -> InheritFd:
    return InheritFd(df.detach())


def read_exact(fd: int, n: int) -> bytes:
    """Exactly ``n`` bytes from a stream fd (EOF raises EOFError)."""
    data = os.read(fd, n)
    if len(data) == n:
        return data
    if not data:
        raise EOFError("peer closed")
    parts = [data]
    left = n - len(data)
    while left:
        more = os.read(fd, left)
        if not more:
            raise EOFError("peer closed")
        parts.append(more)
        left -= len(more)
    return b"".join(parts)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
