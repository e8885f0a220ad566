"""The operator's view of a system: one read-only snapshot of its tables.

``System.snapshot()`` (or ``take(system)``) copies the VM table, the IUCV
paths and the messages on their queues, VMCF's authorizations and active
messages, storage and the counters under the control lock, in one C call
that holds the lock for the copy alone and changes nothing: no dead VM is
logged off, no interrupt taken.  The rows become the plain dataclasses
below after the lock is released.  ``Snapshot.to_json()`` gives the same as
a dict of stable field names (what ``shmcp query ... --json`` prints).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._native import ffi, lib, timeout_ns
from .errors import ShmcpError, check

if TYPE_CHECKING:
    from .system import System

PATH_STATES = {lib.SHMCP_PATH_OUT_PENDING: "pending-out", lib.SHMCP_PATH_IN_PENDING: "pending-in",
               lib.SHMCP_PATH_ACTIVE: "active", lib.SHMCP_PATH_SEVERED: "severed"}
QUEUES = {lib.SHMCP_QUEUE_SEND: "send", lib.SHMCP_QUEUE_RECEIVE: "receive",
          lib.SHMCP_QUEUE_REPLY: "reply"}
VMCF_FUNCTIONS = {lib.SHMCP_VMCPSEND: "SEND", lib.SHMCP_VMCPSENR: "SEND/RECV",
                  lib.SHMCP_VMCPSENX: "SENDX"}
VMCF_STATES = {1: "queued", 2: "notified", 3: "received", 4: "done"}
VM_STATES = {lib.SHMCP_VM_ACTIVE: "logged on", lib.SHMCP_VM_CLOSING: "logging off"}
# /proc/PID/stat's state letter, in words
PROCESS_STATES = {"R": "running", "S": "sleeping", "D": "disk-wait", "T": "stopped",
                  "t": "traced", "Z": "zombie", "X": "dead", "I": "idle"}


@dataclass(frozen=True)
class VM:
    """One virtual machine: ``state`` is the VM table's ("logged on",
    "logging off"), ``process`` its process's from /proc ("running",
    "sleeping", "stopped" ..., "gone" once it died and before CP logged it
    off).  ``queued``/``posted`` are external interrupts waiting / queued
    ever, by facility ("iucv", "vmcf"); ``storage`` the bytes of message
    storage it owns."""
    userid: str
    slot: int
    pid: int
    state: str
    process: str
    facilities: list[str]
    queued: dict[str, int]
    posted: dict[str, int]
    maxconn: int
    paths: int
    storage: int = 0


@dataclass(frozen=True)
class PathEnd:
    """One end of an IUCV path as its VM sees it.  ``index`` names the
    path (both ends share it); ``outstanding`` counts the messages this end
    sent that are not yet complete; ``quiesced``: the partner quiesced this
    end, which cannot SEND."""
    userid: str
    pathid: int
    partner: str
    partner_pathid: int | None
    state: str
    msglim: int
    outstanding: int
    quiesced: bool
    priority: bool
    index: int


@dataclass(frozen=True)
class Message:
    """One IUCV message on a queue of ``userid`` ("send": sent to it, not
    received; "receive": received, awaiting its REPLY; "reply": complete,
    awaiting the source's 06/07), in queue order."""
    userid: str
    queue: str
    msgid: int
    pathid: int
    trgcls: int
    length: int
    reply_length: int
    priority: bool
    oneway: bool
    prmdata: bool


@dataclass(frozen=True)
class Vmcf:
    """One VM's VMCF authorization (``specific``: the one partner allowed)
    and its active messages as source (``active_out``) and sink."""
    userid: str
    authorized: bool
    specific: str | None
    priority: bool
    smsg: bool
    quiesced: bool
    buffer: int
    active_out: int
    active_in: int


@dataclass(frozen=True)
class VmcfMessage:
    """One active VMCF message, from its source's table."""
    mid: int
    source: str
    sink: str
    function: str
    state: str
    priority: bool
    length: int
    reply_length: int


@dataclass(frozen=True)
class StorageOwner:
    """Storage held by one owner: "CP", "IUCV messages", "VMCF messages"
    (a message's data is its own, whoever sent it), or a userid (trailing
    data of interrupts queued to that VM)."""
    owner: str
    bytes: int
    blocks: int


@dataclass(frozen=True)
class Storage:
    """CP's message storage in bytes; ``largest_free`` is the largest
    block one allocation can still get."""
    total: int
    free: int
    used: int
    largest_free: int
    by_owner: list[StorageOwner]


@dataclass(frozen=True)
class Counters:
    """Since IPL: LOGOFFs completed, repairs after a process died holding
    the control lock, acquisitions of that lock (wrapping at 2**32), IUCV
    message ids and VMCF messages given, interrupts traced; tracers now.
    ``interrupts``: those queued ever for the VM table entries in use."""
    logoffs: int
    lock_repairs: int
    lock_acquisitions: int
    iucv_messages: int
    vmcf_messages: int
    interrupts: int
    traced: int
    tracers: int


@dataclass(frozen=True)
class LockHolder:
    """The thread holding the control lock, its process and that process's
    state ("stopped" freezes the system until it continues)."""
    tid: int
    pid: int
    userid: str | None
    process: str


@dataclass(frozen=True)
class Snapshot:
    """Everything ``take`` copied, at wall time ``time`` (seconds since the
    epoch) and ``monotonic`` (time.monotonic(), for rates)."""
    system: str
    time: float
    monotonic: float
    down: bool
    vms: list[VM]
    paths: list[PathEnd]
    messages: list[Message]
    vmcf: list[Vmcf]
    vmcf_messages: list[VmcfMessage]
    storage: Storage
    counters: Counters
    by_userid: dict[str, VM] = field(repr=False, compare=False, default_factory=dict)

    def vm(self, userid: str) -> VM | None:
        """The VM logged on as ``userid`` (any case), or None."""
        return self.by_userid.get(userid.upper())

    def to_json(self) -> dict[str, Any]:
        """The snapshot as plain JSON types, under its documented names."""
        out = dataclasses.asdict(self)
        del out["by_userid"]
        return out


class ControlLockHeld(ShmcpError):
    """The control lock stayed held past the snapshot's timeout; ``holder``
    says who holds it (a stopped process freezes the system)."""

    def __init__(self, message: str, holder: LockHolder | None) -> None:
        super().__init__(message, lib.SHMCP_E_BUSY)
        self.holder = holder


def process_state(pid: int) -> str:
    """The state of process ``pid`` in words, from /proc ("gone" if none)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return "gone"
    letter = stat[stat.rfind(")") + 2:][:1]
    return PROCESS_STATES.get(letter, letter or "gone")


def _tgid(tid: int) -> int:
    try:
        with open(f"/proc/{tid}/status") as f:
            for line in f:
                if line.startswith("Tgid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return tid


def _text(chars: Any) -> str:
    return bytes(ffi.unpack(chars, 8)).decode("ascii", "replace").rstrip(" \0")


def lock_holder(system: "System") -> LockHolder | None:
    """Who holds ``system``'s control lock now, or None if it is free.
    Reads without taking the lock, so it answers while the holder is
    stopped."""
    tid = lib.shmcp_lock_holder(system.handle)
    if not tid:
        return None
    pid = _tgid(tid)
    userid = None
    info = ffi.new("struct shmcp_vminfo *")
    for slot in range(system.max_vms):
        lib.shmcp_vminfo(system.handle, slot, info)
        if info.state != lib.SHMCP_VM_FREE and info.pid == pid:
            userid = _text(info.userid)
    return LockHolder(tid, pid, userid, process_state(tid))


class _Buffers:
    """The arrays shmcp_snapshot fills, grown when a count outran them."""

    def __init__(self, system: "System") -> None:
        self.caps = {"vm": system.max_vms, "path": 256, "msg": 1024,
                     "vmcf_msg": 256, "owner": system.max_vms + 3}
        self._alloc()

    def _alloc(self) -> None:
        self.s = ffi.new("struct shmcp_snapshot *")
        self.keep = []
        for name, cap in self.caps.items():
            arr = ffi.new(f"struct shmcp_snap_{name}[]", cap)
            self.keep.append(arr)
            setattr(self.s, name, arr)
            setattr(self.s, f"{name}_cap", cap)

    def grow(self) -> bool:
        """Make room for what the last call counted; False if all fitted."""
        short = {name: getattr(self.s, f"n{name}") for name, cap in self.caps.items()
                 if getattr(self.s, f"n{name}") > cap}
        for name, n in short.items():
            self.caps[name] = 2 * n
        if short:
            self._alloc()
        return bool(short)


def take(system: "System", timeout: float | None = None) -> Snapshot:
    """Copy ``system``'s tables (see the module's docstring).  ``timeout``:
    seconds to wait for the control lock (None: as long as it takes); past
    it, ControlLockHeld names the holder."""
    wait_ns = timeout_ns(timeout)  # (math.inf, or past LONGEST_TIMEOUT: no limit)
    bufs = _Buffers(system)
    for _ in range(8):
        rc = lib.shmcp_snapshot(system.handle, bufs.s, wait_ns)
        if rc == lib.SHMCP_E_BUSY:
            holder = lock_holder(system)
            who = "" if holder is None else (
                f": held by PID {holder.pid}"
                f"{f' ({holder.userid})' if holder.userid else ''}, {holder.process}")
            raise ControlLockHeld(f"system {system.name}: the control lock stayed held "
                                  f"for {timeout} s{who}", holder)
        check(rc, f"system {system.name}: snapshot")
        if not bufs.grow():
            return _build(system.name, bufs.s)
    raise ShmcpError(f"system {system.name}: snapshot: the tables kept outgrowing the copy")


def _build(name: str, s: Any) -> Snapshot:
    names = {}
    rows = []
    for i in range(s.nvm):
        v = s.vm[i]
        userid = _text(v.userid)
        names[v.slot] = userid
        rows.append(v)
    user = lambda slot: names.get(slot, "*MSG" if slot == lib.SHMCP_PARTNER_CP else f"#{slot}")  # noqa: E731

    holder = {0: "CP", lib.SHMCP_SNAP_OWNER_MESSAGES + lib.SHMCP_IUCV: "IUCV messages",
              lib.SHMCP_SNAP_OWNER_MESSAGES + lib.SHMCP_VMCF: "VMCF messages"}
    owners = [StorageOwner(holder.get(o.owner) or user(o.owner - 1), o.bytes, o.blocks)
              for o in (s.owner[i] for i in range(s.nowner))]
    owned = {o.owner: o.bytes for o in owners}
    vms = []
    vmcf = []
    for v in rows:
        userid = names[v.slot]
        facilities = [f for f, on in (("IUCV", v.iucv_declared), ("VMCF", v.vmcf_authorized)) if on]
        vms.append(VM(userid=userid, slot=v.slot, pid=v.pid,
                      state=VM_STATES.get(v.state, str(v.state)), process=process_state(v.pid),
                      facilities=facilities,
                      queued={"iucv": v.queued[lib.SHMCP_IUCV], "vmcf": v.queued[lib.SHMCP_VMCF]},
                      posted={"iucv": v.posted[lib.SHMCP_IUCV], "vmcf": v.posted[lib.SHMCP_VMCF]},
                      maxconn=v.maxconn, paths=v.npaths, storage=owned.get(userid, 0)))
        flags = v.vmcf_flags
        vmcf.append(Vmcf(userid=userid, authorized=bool(v.vmcf_authorized),
                         specific=_text(v.vmcf_partner) if flags & lib.SHMCP_VMCPAUTS else None,
                         priority=bool(flags & lib.SHMCP_VMCPPRTY),
                         smsg=bool(flags & lib.SHMCP_VMCPSMSG), quiesced=bool(v.vmcf_quiesced),
                         buffer=v.vmcf_lena, active_out=v.vmcf_active_out,
                         active_in=v.vmcf_active_in))
    paths = []
    for i in range(s.npath):
        p = s.path[i]
        paths.append(PathEnd(
            userid=user(p.slot), pathid=p.pathid,
            partner="*MSG" if p.partner_slot == lib.SHMCP_PARTNER_CP else _text(p.partner),
            partner_pathid=None if p.partner_pathid == 0xFFFFFFFF else p.partner_pathid,
            state=PATH_STATES.get(p.state, str(p.state)), msglim=p.msglim,
            outstanding=p.outstanding, quiesced=bool(p.quiesced), priority=bool(p.priority),
            index=p.index))
    messages = [Message(userid=user(m.slot), queue=QUEUES[m.queue], msgid=m.msgid,
                        pathid=m.pathid, trgcls=m.trgcls, length=m.length,
                        reply_length=m.reply_len, priority=bool(m.priority),
                        oneway=bool(m.oneway), prmdata=bool(m.prmdata))
                for m in (s.msg[i] for i in range(s.nmsg))]
    vmcf_messages = [VmcfMessage(mid=m.mid, source=user(m.source), sink=user(m.sink),
                                 function=VMCF_FUNCTIONS.get(m.func, str(m.func)),
                                 state=VMCF_STATES.get(m.state, str(m.state)),
                                 priority=bool(m.priority), length=m.length,
                                 reply_length=m.reply_len)
                     for m in (s.vmcf_msg[i] for i in range(s.nvmcf_msg))]
    storage = Storage(total=s.storage_size, free=s.storage_free,
                      used=s.storage_size - s.storage_free, largest_free=s.storage_largest,
                      by_owner=owners)
    counters = Counters(logoffs=s.logoffs, lock_repairs=s.lock_repairs,
                        lock_acquisitions=s.lock_taken, iucv_messages=s.iucv_msgids,
                        vmcf_messages=s.vmcf_msgs,
                        interrupts=sum(sum(v.posted.values()) for v in vms),
                        traced=s.trace_records, tracers=s.tracers)
    snap = Snapshot(system=name, time=time.time(), monotonic=time.monotonic(),
                    down=bool(s.down), vms=vms, paths=paths, messages=messages, vmcf=vmcf,
                    vmcf_messages=vmcf_messages, storage=storage, counters=counters)
    snap.by_userid.update((v.userid, v) for v in vms)
    return snap


__all__ = ["Snapshot", "VM", "PathEnd", "Message", "Vmcf", "VmcfMessage", "Storage",
           "StorageOwner", "Counters", "LockHolder", "ControlLockHeld", "take", "lock_holder",
           "process_state"]
