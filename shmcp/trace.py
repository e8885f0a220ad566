"""CP's TRACE EXT: every external interrupt as CP queues it.

A ``Tracer`` attaches to a system; from then on each interrupt queued for
any VM is also written to a ring in the segment (in the order CP queued
them), and ``read()`` returns them as ``TraceRecord``s.  While nobody
traces, queueing pays one load of a flag.  A tracer that falls more than
the ring (SHMCP_TRACE_RING records) behind loses the oldest: ``read()``
says how many, and no VM ever waits for a tracer.

    with System.attach("S") as s, Tracer(s) as t:
        for rec in t.records():     # blocks, polling, until Ctrl-C
            print(rec.line())
"""
from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ._native import ffi, lib
from .errors import ShmcpError, check
from .vmcf import Vmcmhdr

if TYPE_CHECKING:
    from .system import System

RING = lib.SHMCP_TRACE_RING
_IUCV_TYPES = {getattr(lib, n): n[len("SHMCP_IPTYPE_"):].lower().replace("_", "-")
               for n in dir(lib) if n.startswith("SHMCP_IPTYPE_")}
_VMCF_FUNCTIONS = {lib.SHMCP_VMCPSEND: "send", lib.SHMCP_VMCPSENR: "send-recv",
                   lib.SHMCP_VMCPSENX: "sendx", lib.SHMCP_VMCPREPL: "reply",
                   lib.SHMCP_VMCPIDEN: "identify", lib.SHMCP_VMCPRJCT: "reject",
                   lib.SHMCP_VMCPCANC: "cancel"}
_MESSAGE = (lib.SHMCP_IPTYPE_PRIORITY_MESSAGE_PENDING, lib.SHMCP_IPTYPE_NONPRIORITY_MESSAGE_PENDING)
_COMPLETE = (lib.SHMCP_IPTYPE_PRIORITY_MESSAGE_COMPLETE,
             lib.SHMCP_IPTYPE_NONPRIORITY_MESSAGE_COMPLETE)


def type_names() -> list[str]:
    """Every interrupt type name a record can carry (``--type`` choices)."""
    vmcf = sorted({*_VMCF_FUNCTIONS.values()} | {f"{n}-response" for n in _VMCF_FUNCTIONS.values()})
    return [_IUCV_TYPES[k] for k in sorted(_IUCV_TYPES)] + vmcf


@dataclass(frozen=True)
class TraceRecord:
    """One external interrupt as CP queued it.  ``seq`` numbers them from
    IPL in queueing order; ``time`` is wall time (seconds since the epoch);
    ``source`` the partner on the path (IUCV), the sender (VMCF) or the VM
    that queued it; ``type`` an IUCV type name (``nonpriority-message-pending``)
    or a VMCF function (``send``, ``sendx-response`` ...), ``code`` its
    number (IPTYPE, or VMCMFUNC); ``pathid``, ``msgid``, ``length`` where
    the interrupt has them, else None."""
    seq: int
    time: float
    source: str
    target: str
    facility: str
    type: str
    code: int
    priority: bool
    pathid: int | None
    msgid: int | None
    length: int | None
    data: bytes = dataclasses.field(repr=False, compare=False)

    def line(self) -> str:
        """One line for a person: time, from -> to, facility, type, ids."""
        stamp = datetime.fromtimestamp(self.time).strftime("%H:%M:%S.%f")
        ids = " ".join(f"{k} {v}" for k, v in (("path", self.pathid), ("msg", self.msgid),
                                                ("len", self.length)) if v is not None)
        prio = " PRTY" if self.priority else ""
        return (f"{stamp} {self.source or '-':<8} -> {self.target:<8} {self.facility:<4} "
                f"{self.code:02X} {self.type}{prio}{' ' + ids if ids else ''}")

    def to_json(self) -> dict[str, Any]:
        """The record as JSON types, ``data`` (the 40-byte image) in hex;
        ``from``/``to`` for ``source``/``target``."""
        out = dataclasses.asdict(self)
        out["from"] = out.pop("source")
        out["to"] = out.pop("target")
        out["data"] = self.data.hex()
        return out


def _text(chars: Any) -> str:
    return bytes(ffi.unpack(chars, 8)).decode("ascii", "replace").rstrip(" \0")


def decode(r: Any) -> TraceRecord:
    """A TraceRecord from the core's struct shmcp_trace_rec."""
    data = bytes(ffi.unpack(r.data, 40))
    source = _text(getattr(r, "from"))  # a keyword in Python
    pathid = msgid = length = None
    if r.facility == lib.SHMCP_IUCV:
        facility = "IUCV"
        code = data[lib.SHMCP_IP_RCODE]
        kind = _IUCV_TYPES.get(code, f"type-{code:02x}")
        if code in _IUCV_TYPES:
            pathid = int.from_bytes(data[0:2], "big")
        if code in _MESSAGE or code in _COMPLETE:
            msgid = int.from_bytes(data[lib.SHMCP_IP_MSGID:lib.SHMCP_IP_MSGID + 4], "big")
        if code in _MESSAGE:
            flags = data[lib.SHMCP_IP_FLAGS1]
            length = 8 if flags & lib.SHMCP_IPRMDATA else int.from_bytes(
                data[lib.SHMCP_IP_BFLN1F:lib.SHMCP_IP_BFLN1F + 4], "big")
    else:
        facility = "VMCF"
        hdr = Vmcmhdr.from_bytes(data)
        code = hdr.func
        kind = _VMCF_FUNCTIONS.get(code, f"function-{code}") + ("-response" if hdr.response else "")
        msgid = hdr.mid
        length = hdr.lena
        if r.from_slot == lib.SHMCP_FROM_NONE:  # a command: the header names the sender
            source = bytes(hdr.user).decode("ascii", "replace").rstrip(" \0")
    return TraceRecord(seq=r.seq, time=r.time_ns / 1e9, source=source, target=_text(r.to),
                       facility=facility, type=kind, code=code, priority=bool(r.priority),
                       pathid=pathid, msgid=msgid, length=length, data=data)


class Tracer:
    """A tracer attached to ``system`` (at most SHMCP_TRACERS_MAX at once).
    A context manager; ``close()`` detaches (a tracer process that dies
    without it is not counted by a snapshot, and is forgotten by the next
    reap of dead VMs -- within WATCHDOG_MS while a VM is logged on -- or
    the next attach or detach)."""

    def __init__(self, system: "System", batch: int = 256) -> None:
        if not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be a positive int, not {batch!r}")
        self.system = system
        self.missed = 0
        self._cursor = ffi.new("uint64_t *")
        self._missed = ffi.new("uint64_t *")
        self._buf = ffi.new("struct shmcp_trace_rec[]", batch)
        self._batch = batch
        pid = os.getpid()
        rc = lib.shmcp_trace_attach(system.handle, pid, lib.shmcp_proc_starttime(pid),
                                    self._cursor)
        if rc == lib.SHMCP_E_TABLEFULL:
            raise ShmcpError(f"system {system.name}: {lib.SHMCP_TRACERS_MAX} tracers are "
                             "attached already", rc)
        self._id: int | None = check(rc, f"system {system.name}: trace")

    def read(self) -> tuple[list[TraceRecord], int]:
        """The records queued since the last read (at most a batch), in
        order, and how many were missed before them (overwritten: the
        tracer fell behind).  Never waits."""
        missed = self.missed
        n = self.count()
        return [decode(self._buf[i]) for i in range(n)], self.missed - missed

    def count(self) -> int:
        """Pass over the records queued since the last read (at most a
        batch) without decoding them; how many there were.  For a tracer
        that only keeps up (the benchmark's); misses still add to
        ``missed``."""
        if self._id is None:
            raise ShmcpError("the tracer is closed")
        self._missed[0] = 0
        n = check(lib.shmcp_trace_read(self.system.handle, self._cursor, self._buf,
                                       self._batch, self._missed), "trace")
        self.missed += self._missed[0]
        return n

    def records(self, poll: float = 0.05,
                idle: Callable[[float], object] = time.sleep) -> Iterator[TraceRecord | int]:
        """Records as they come, polling every ``poll`` seconds while there
        are none (``idle(poll)`` waits between looks: a caller may watch
        something else meanwhile); an int in the stream is a count of
        records missed just before the next.  Ends when the system is shut
        down."""
        while True:
            recs, missed = self.read()
            if missed:
                yield missed
            yield from recs
            if not recs:
                if self.system.down:
                    return
                idle(poll)

    def close(self) -> None:
        """Detach (idempotent)."""
        if self._id is not None and self.system._h is not None:
            lib.shmcp_trace_detach(self.system.handle, self._id)
        self._id = None

    def __enter__(self) -> "Tracer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Tracer", "TraceRecord", "decode", "type_names", "RING"]
