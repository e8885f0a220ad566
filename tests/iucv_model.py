"""A pure-Python reference model of IUCV, written from IBM's description of
IUCV (docs/reference.md, "4. IUCV, faithful") and the "IUCV (issue 3)"
table of docs/decisions.md, independently of shmcp.

It knows nothing of shared memory or processes: a ``CP`` holds virtual
machines, their path tables and message queues, and one method per IUCV
function.  Each method takes the plist as a dict of IPARML fields (the names
of shmcp.plist: pathid, flags1, rcode, msglim, fcncd, vmid, user, msgid, trgcls,
data, bf1len, srccls, msgtag, bf2len, audit) and returns a ``Result``: the
condition code, the output fields, and what was moved into a receive buffer.
Interrupts are queued per VM as ``Pending`` records and presented by
``CP.drain(userid)``, which applies masks and withdraws interrupts whose
message no longer waits.

Where neither the spec nor the decisions table fixes a value, the model makes
a choice and wraps the value in ``Unsettled`` (a whole field) or gives a
``Masked`` value (only some bits settled); ``expect_image`` then marks those
bytes "don't care" unless asked to be strict.  Every such choice is listed in
UNSETTLED below.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

# --- constants (IBM's values; docs/reference.md, "4. IUCV, faithful") ---

IPRMDATA = 0x80
IPALL = 0x80
IPQUSCE = 0x40
IPPRTY = 0x20
IPNORPY = 0x10
IPFGMID = 0x04
IPFGPID = 0x02
IPFGMCL = 0x01
UNDEFINED_MSG_FLAGS = 0x48  # buffer lists (later releases): the other bits may be reissued outputs
IPFG = IPFGMID | IPFGPID | IPFGMCL

IPADRPLE = 0x8000
IPADRJCT = 0x0400
IPADPRMD = 0x0200
IPADSVRD = 0x0008

# IPMASK / IPCMASK
IPSNDN, IPSNDP, IPRPYN, IPRPYP, IPCTRL = 0x80, 0x40, 0x20, 0x10, 0x08
IPCLPC, IPCLCC, IPCLPS, IPCLPQ, IPCLPR = 0x80, 0x40, 0x20, 0x10, 0x08
CONTROL_BIT = {1: IPCLPC, 2: IPCLCC, 3: IPCLPS, 4: IPCLPQ, 5: IPCLPR}
MESSAGE_BIT = {6: IPRPYP, 7: IPRPYN, 8: IPSNDP, 9: IPSNDN}

PENDING_CONNECTION, CONNECTION_COMPLETE, PATH_SEVERED, PATH_QUIESCED, PATH_RESUMED = 1, 2, 3, 4, 5
PRIORITY_COMPLETE, NONPRIORITY_COMPLETE, PRIORITY_PENDING, NONPRIORITY_PENDING = 6, 7, 8, 9

# the embedded default directory (docs/reference.md, "8. The directory")
MAXCONN = 64
DIR_MSGLIMIT = 255
DEFAULT_MSGLIM = 10
BUFFER_SIZE = 40

# Choices the model makes where IBM's description and decisions.md are silent.
# (Compared only when expect_image(strict=True).)
UNSETTLED = {
    "connect.msglim": "CONNECT output IPMSGLIM: the effective request (0 -> 10)",
    "connect.flags1.IPPRTY": "CONNECT output IPPRTY: left as given (the answer comes with type 02)",
    "type01.msglim": "type 01 IPMSGLIM: the effective request (0 -> 10), not the raw 0",
    "type02.flags1.IPQUSCE": "type 02 IPFLAGS1 carries the accepter's IPQUSCE as given",
    "receive.flags1.fg": "complete RECEIVE clears IPFGMID/IPFGPID/IPFGMCL (partial sets them)",
    "reply.flags1": "REPLY output IPFLAGS1 left as given",
    "reply.bf2len.prmdata": "REPLY with IPRMDATA: IPBFLN2F left as given",
    "reply.bf2len.orphan": "REPLY to a message whose source severed: residual as if moved",
    "complete.bf2len.nodata": "completion residual when no reply data reached the answer area "
                              "(reject, sever, IPRMDATA reply, IPADPRMD): the answer area's size",
    "purge.flags1.fg": "PURGE output IPFLAGS1: only IPNORPY/IPPRTY, IPFG* bits cleared",
    "testcmpl.flags1.fg": "TEST COMPLETION output IPFLAGS1: as the interrupt, IPFG* bits cleared",
    "quiesce.partner_severed": "QUIESCE/RESUME on a path whose partner severed: rc 1",
    "pathid.pending": "RECEIVE/REPLY/REJECT/QUIESCE/RESUME naming a pending path end: rc 1 "
                      "(TEST COMPLETION/PURGE: CC2, nothing there)",
}

# Choices the model makes and compares strictly (decisions.md is silent).
CHOICES = {
    "sever.out_pending": "SEVER by the originator of a pending connection gives the target "
                         "a type 03; its later ACCEPT gets rc 20; it must SEVER to free the id",
    "sever.own_id": "a severing end's path id is free at once (its partner may still hold its own)",
    "sever.order": "messages completed back with IPADSVRD, in message-id order; IPALL severs "
                   "in ascending path-id order",
    "sever.held03": "a held (masked) type 03 is presented even if its end was severed meanwhile",
    "complete.class": "a non-priority REPLY to a priority message completes as 06 "
                      "(the message's whole life stays priority)",
    "complete.flags": "06/07 and TEST COMPLETION IPPRTY = the completion class; IPRMDATA only "
                      "for a parameter-list reply the source took",
    "send.rc_order": "SEND checks in the order rc 1, 2, 3, 4, 21",
    "lookup.wrong_queue": "RECEIVE/REPLY/REJECT/TEST COMPLETION/PURGE naming a message id "
                          "that is not on the queue the function searches: CC2 (not rc 8)",
    "accept.rc_order": "ACCEPT checks in the order rc 1, 18, 20",
    "pathid.ids_at_connect": "the target's path id is assigned at CONNECT (masks cannot change it)",
    "type0809.bf2len": "type 08/09 IPBFLN2F of a one-way message is 0",
    "audit.bytes": "the 16 audit bits are image bytes 08-09 (high halfword of IPAUDIT), 0A-0B zero",
    "reply.no_fg": "the stateful test never sets IPFG* bits on REPLY (section 3.1 does not "
                   "define them for REPLY; decisions.md makes undefined bits a program check)",
    "outputs.on_error": "a function ending with CC1 (other than RECEIVE/REPLY rc 5) or CC2 "
                        "stores nothing but IPRCODE",
}


def pending_rc(code: int = 1) -> Result:
    """A function naming a pending path end (see UNSETTLED["pathid.pending"])."""
    return Result(Unsettled(1, "pathid.pending"), {"rcode": Unsettled(code, "pathid.pending")})


class Unsettled:
    """A value the model chose where the specs are silent."""

    def __init__(self, value: Any, key: str) -> None:
        assert key in UNSETTLED, key
        self.value = value
        self.key = key

    def __repr__(self) -> str:
        return f"Unsettled({self.value!r}, {self.key!r})"


class Masked:
    """A byte-sized field of which only ``care`` bits are settled."""

    def __init__(self, value: int, care: int, key: str) -> None:
        assert key in UNSETTLED, key
        self.value = value
        self.care = care
        self.key = key

    def __repr__(self) -> str:
        return f"Masked({self.value:#x}, care={self.care:#x}, {self.key!r})"


def plain(v: Any) -> Any:
    return v.value if isinstance(v, (Unsettled, Masked)) else v


# --- the 40-byte image ------------------------------------------------------

# name: (offset, struct format); later fields in a plist overwrite earlier ones
FIELDS: dict[str, tuple[int, str]] = {
    "pathid": (0x00, ">H"),
    "mask": (0x00, ">B"),
    "flags1": (0x02, ">B"),
    "rcode": (0x03, ">B"),
    "type": (0x03, ">B"),
    "msglim": (0x04, ">H"),
    "fcncd": (0x06, ">B"),
    "msgid": (0x04, ">I"),
    "vmid": (0x08, "8s"),
    "trgcls": (0x08, ">I"),
    "audit": (0x08, ">H"),      # VM/SP: 16 bits in the high halfword of IPAUDIT
    "bf1len": (0x10, ">I"),
    "data": (0x0C, "8s"),
    "user": (0x10, "16s"),
    "srccls": (0x14, ">I"),
    "msgtag": (0x18, ">I"),
    "bf2len": (0x20, ">I"),
}


def field_size(name: str) -> int:
    return struct.calcsize(FIELDS[name][1])


def encode(fields: dict, image: bytearray | None = None, care: bytearray | None = None,
           strict: bool = False) -> tuple[bytearray, bytearray]:
    """Write ``fields`` into a 40-byte image (new or given) and its care mask."""
    image = bytearray(40) if image is None else image
    care = bytearray(b"\xff" * 40) if care is None else care
    for name, value in fields.items():
        off, fmt = FIELDS[name]
        size = struct.calcsize(fmt)
        if isinstance(value, Masked):
            struct.pack_into(fmt, image, off, value.value)
            care[off] = 0xFF if strict else value.care
            continue
        settled = not isinstance(value, Unsettled) or strict
        value = plain(value)
        if isinstance(value, str):
            value = value.encode()
        if isinstance(value, bytes):
            value = value.ljust(size, b" " if name == "vmid" else b"\0")
        struct.pack_into(fmt, image, off, value)
        care[off:off + size] = (b"\xff" if settled else b"\0") * size
    return image, care


def userid8(userid: str) -> bytes:
    return userid.upper().encode().ljust(8, b" ")


# --- CP's objects -----------------------------------------------------------

@dataclass(eq=False)
class PathEnd:
    vm: "VM"
    pathid: int
    state: str                      # "out_pending", "in_pending", "active"
    partner: "PathEnd | None" = None
    partner_severed: bool = False
    gone: bool = False              # this end severed (not in its VM's table)
    quiesced: bool = False          # this end may not SEND (partner quiesced it)
    prmdata: bool = False           # this end takes parameter-list data
    priority: bool = False          # the path carries priority messages
    msglim: int = 0                 # limit in force (from ACCEPT)
    req_flags: int = 0              # CONNECT/ACCEPT flags this end gave
    req_msglim: int = 0

    @property
    def usable(self) -> bool:
        return self.state == "active" and not self.partner_severed and not self.gone


@dataclass(eq=False)
class Message:
    id: int
    src: PathEnd
    tgt: PathEnd
    flags: int                      # IPPRTY | IPNORPY | IPRMDATA as sent
    trgcls: int
    srccls: int
    msgtag: int
    data: bytes                     # the message (8 bytes when IPRMDATA)
    anslen: int                     # answer area length (two-way)
    moved: int = 0                  # bytes already received (partial RECEIVE)
    partial: bool = False           # a RECEIVE ended rc 5 on it (even with 0 bytes moved)
    where: str | None = "send"      # "send", "recv", "reply", None = destroyed
    audit: int = 0
    cprty: bool = False             # completion class: 06 when True
    reply: bytes = b""              # bytes put into the answer area
    reply_prm: bytes | None = None  # parameter-list reply the source sees
    residual: Any = 0               # completion IPBFLN2F

    @property
    def priority(self) -> bool:
        return bool(self.flags & IPPRTY)

    @property
    def oneway(self) -> bool:
        return bool(self.flags & IPNORPY)

    @property
    def prm(self) -> bool:
        return bool(self.flags & IPRMDATA)

    def pending_fields(self) -> dict:
        """The type 08/09 / DESCRIBE layout (without type and IPFG bits)."""
        f: dict = {"pathid": self.tgt.pathid, "flags1": self.flags & (IPRMDATA | IPPRTY | IPNORPY),
                   "msgid": self.id, "trgcls": self.trgcls}
        if self.prm:
            f["data"] = self.data
        else:
            f["data"] = bytes(8)
            f["bf1len"] = len(self.data) - self.moved  # what is not received yet
        f["bf2len"] = 0 if self.oneway else self.anslen
        return f

    def complete_fields(self) -> dict:
        """The type 06/07 / TEST COMPLETION layout (without type)."""
        flags = (IPPRTY if self.cprty else 0) | (IPNORPY if self.oneway else 0)
        if self.reply_prm is not None:
            flags |= IPRMDATA
        return {"pathid": self.src.pathid, "flags1": flags, "msgid": self.id,
                "trgcls": 0, "audit": self.audit,
                "data": self.reply_prm if self.reply_prm is not None else bytes(8),
                "srccls": self.srccls, "msgtag": self.msgtag, "bf2len": self.residual}


@dataclass(eq=False)
class Pending:
    """An interrupt queued for a VM, not yet presented."""
    type: int
    fields: dict
    msg: Message | None = None

    @property
    def priority(self) -> bool:
        return self.type in (PRIORITY_COMPLETE, PRIORITY_PENDING)

    def valid(self) -> bool:
        if self.type in (PRIORITY_PENDING, NONPRIORITY_PENDING):
            return self.msg.where == "send"
        if self.type in (PRIORITY_COMPLETE, NONPRIORITY_COMPLETE):
            return self.msg.where == "reply"
        return True

    def image(self, strict: bool = False) -> tuple[bytes, bytes]:
        image, care = encode(dict(self.fields, type=self.type), strict=strict)
        return bytes(image), bytes(care)


@dataclass
class Presented:
    """An interrupt as drain() presents it: its image, care mask and, for a
    two-way message's completion, what the answer area now holds (the reply
    data the source's process wrote; the rest of the area untouched)."""
    type: int
    image: bytes
    care: bytes
    msgid: int | None = None
    reply: bytes | None = None

    @property
    def priority(self) -> bool:
        return self.type in (PRIORITY_COMPLETE, PRIORITY_PENDING)


@dataclass
class Result:
    cc: int
    out: dict = field(default_factory=dict)     # output fields (rcode included)
    received: bytes | None = None                # bytes moved into the receive buffer
    reply: bytes | None = None                   # TEST COMPLETION: answer area data
    exception: str | None = None                 # ProgramCheck name
    extra: tuple = ()                            # QUERY's register values

    @property
    def rcode(self) -> int:
        return self.out.get("rcode", 0)


class ProgramCheck(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def rc(code: int) -> Result:
    return Result(1, {"rcode": code})


class VM:
    def __init__(self, userid: str) -> None:
        self.userid = userid
        self.declared = False
        self.mask = 0xF8
        self.cmask = 0xF8
        self.maxconn = MAXCONN
        self.paths: dict[int, PathEnd] = {}
        self.sendq: list[Message] = []
        self.recvq: list[Message] = []
        self.replyq: list[Message] = []
        self.irq: list[Pending] = []

    def free_pathid(self) -> int:
        return next(i for i in range(self.maxconn) if i not in self.paths)

    def enabled(self, itype: int) -> bool:
        if itype in CONTROL_BIT:
            return bool(self.mask & IPCTRL) and bool(self.cmask & CONTROL_BIT[itype])
        return bool(self.mask & MESSAGE_BIT[itype])


def _insert(queue: list[Message], m: Message, priority: bool, key) -> None:
    """Priority ahead of non-priority, FIFO within each class."""
    if priority:
        at = next((i for i, q in enumerate(queue) if not key(q)), len(queue))
        queue.insert(at, m)
    else:
        queue.append(m)


class CP:
    """The system: virtual machines by userid and the message-id counter."""

    def __init__(self, userids=(), msgid_start: int = 1) -> None:
        self.vms: dict[str, VM] = {}
        self.messages: dict[int, Message] = {}     # live messages
        self.all_messages: dict[int, Message] = {}  # every message ever sent
        self.next_msgid = msgid_start
        for u in userids:
            self.logon(u)

    # -- helpers -------------------------------------------------------------

    def logon(self, userid: str) -> VM:
        vm = self.vms[userid] = VM(userid)
        return vm

    def vm(self, userid: str) -> VM:
        vm = self.vms[userid]
        if not vm.declared:
            raise ProgramCheck("operation")
        return vm

    def _queue(self, vm: VM, itype: int, fields: dict, msg: Message | None = None) -> None:
        vm.irq.append(Pending(itype, fields, msg))

    def _destroy(self, m: Message) -> None:
        for q in (m.tgt.vm.sendq, m.tgt.vm.recvq, m.src.vm.replyq):
            if m in q:
                q.remove(m)
        m.where = None
        self.messages.pop(m.id, None)

    def outstanding(self, end: PathEnd) -> int:
        return sum(1 for m in self.messages.values() if m.src is end)

    def _complete(self, m: Message, *, audit: int = 0, cprty: bool | None = None,
                  reply: bytes = b"", reply_prm: bytes | None = None, residual: Any = 0) -> None:
        """The message goes to its source's reply queue (message complete)."""
        for q in (m.tgt.vm.sendq, m.tgt.vm.recvq):
            if m in q:
                q.remove(m)
        if m.src.gone:
            self._destroy(m)  # its source severed: nobody to complete
            return
        m.where = "reply"
        m.audit = audit
        m.cprty = m.priority if cprty is None else cprty
        m.reply = reply
        m.reply_prm = reply_prm
        m.residual = residual
        _insert(m.src.vm.replyq, m, m.cprty, key=lambda q: q.cprty)
        self._queue(m.src.vm, PRIORITY_COMPLETE if m.cprty else NONPRIORITY_COMPLETE,
                    m.complete_fields(), m)

    def _nodata_residual(self, m: Message) -> Any:
        if m.oneway:
            return 0
        return Unsettled(m.anslen, "complete.bf2len.nodata")

    # -- interrupts ------------------------------------------------------------

    def drain(self, userid: str, strict: bool = False) -> list[Presented]:
        """Present every enabled interrupt of ``userid`` still describing
        something, in queue order; masked ones stay held.  Taking a message-
        complete interrupt destroys the message."""
        vm = self.vms[userid]
        out: list[Presented] = []
        held: list[Pending] = []
        for p in vm.irq:
            if not p.valid():
                continue  # withdrawn
            if not vm.enabled(p.type):
                held.append(p)
                continue
            image, care = p.image(strict)
            pres = Presented(p.type, image, care)
            if p.msg is not None:
                pres.msgid = p.msg.id
            if p.type in (PRIORITY_COMPLETE, NONPRIORITY_COMPLETE):
                if not p.msg.oneway:
                    pres.reply = p.msg.reply
                self._destroy(p.msg)
            out.append(pres)
        vm.irq = held
        return out

    # -- functions ---------------------------------------------------------------

    def query(self, userid: str, p: dict | None = None) -> Result:
        vm = self.vms[userid]
        return Result(0, extra=(BUFFER_SIZE, vm.maxconn))

    def dclbfr(self, userid: str, p: dict | None = None) -> Result:
        vm = self.vms[userid]
        if vm.declared:
            return rc(19)
        vm.declared = True
        return Result(0)

    def setmask(self, userid: str, mask: int) -> Result:
        vm = self.vm(userid)
        if mask & 0x07:
            raise ProgramCheck("specification")
        vm.mask = mask
        return Result(0)

    def setcmask(self, userid: str, mask: int) -> Result:
        vm = self.vm(userid)
        if mask & 0x07:
            raise ProgramCheck("specification")
        vm.cmask = mask
        return Result(0)

    def testmsg(self, userid: str, p: dict | None = None) -> Result:
        """CC1 send queue, CC2 reply queue, CC3 both; None: it would wait."""
        vm = self.vm(userid)
        cc = (1 if vm.sendq else 0) | (2 if vm.replyq else 0)
        return Result(cc) if cc else None  # type: ignore[return-value]

    def connect(self, userid: str, p: dict) -> Result:
        vm = self.vm(userid)
        flags = p.get("flags1", 0)
        if flags & ~(IPRMDATA | IPQUSCE | IPPRTY):
            raise ProgramCheck("specification")
        vmid = p.get("vmid", "")
        vmid = vmid.decode() if isinstance(vmid, bytes) else vmid
        vmid = vmid.strip().upper()
        req = p.get("msglim", 0)
        if vmid.startswith("*"):
            return rc(16)  # the *MSG service: tests/test_msg_service.py, not modelled
        if p.get("fcncd", 0):
            return rc(17)
        target = self.vms.get(vmid)
        if target is None:
            return rc(11)
        if not target.declared:
            return rc(12)
        if len(vm.paths) >= vm.maxconn:
            return rc(13)
        if len(target.paths) + (1 if target is vm else 0) >= target.maxconn:
            return rc(14)
        if req > 255:
            return rc(18)
        eff = min(req or DEFAULT_MSGLIM, DIR_MSGLIMIT)
        mine = PathEnd(vm, vm.free_pathid(), "out_pending", req_flags=flags, req_msglim=req)
        vm.paths[mine.pathid] = mine
        theirs = PathEnd(target, target.free_pathid(), "in_pending")
        target.paths[theirs.pathid] = theirs
        mine.partner, theirs.partner = theirs, mine
        mine.prmdata = bool(flags & IPRMDATA)
        self._queue(target, PENDING_CONNECTION, {
            "pathid": theirs.pathid, "flags1": flags & (IPRMDATA | IPQUSCE | IPPRTY),
            "msglim": Unsettled(eff, "type01.msglim"), "fcncd": 0, "vmid": userid8(userid),
            "user": p.get("user", bytes(16))})
        return Result(0, {"pathid": mine.pathid, "msglim": Unsettled(eff, "connect.msglim"),
                          "flags1": Masked(flags, 0xFF & ~IPPRTY, "connect.flags1.IPPRTY")})

    def accept(self, userid: str, p: dict) -> Result:
        vm = self.vm(userid)
        flags = p.get("flags1", 0)
        if flags & ~(IPRMDATA | IPQUSCE | IPPRTY):
            raise ProgramCheck("specification")
        end = vm.paths.get(p.get("pathid", 0))
        if end is None or end.state != "in_pending":
            return rc(1)
        acc = p.get("msglim", 0)
        if acc > 255:
            return rc(18)
        if end.partner_severed:
            return rc(20)
        orig = end.partner
        req = orig.req_msglim or DEFAULT_MSGLIM
        limit = min(req, acc) if acc else req
        limit = min(limit, DIR_MSGLIMIT)
        prty = bool(orig.req_flags & IPPRTY) and bool(flags & IPPRTY)
        for e in (end, orig):
            e.state = "active"
            e.msglim = limit
            e.priority = prty
        end.prmdata = bool(flags & IPRMDATA)
        end.req_flags = flags
        if orig.req_flags & IPQUSCE:
            end.quiesced = True      # the originator must RESUME
        if flags & IPQUSCE:
            orig.quiesced = True     # the accepter must RESUME
        out_flags = (flags & ~IPPRTY) | (IPPRTY if prty else 0)
        care = 0xFF & ~IPQUSCE
        self._queue(orig.vm, CONNECTION_COMPLETE, {
            "pathid": orig.pathid,
            "flags1": Masked((flags & (IPRMDATA | IPQUSCE)) | (IPPRTY if prty else 0), care,
                             "type02.flags1.IPQUSCE"),
            "msglim": limit, "user": p.get("user", bytes(16))})
        return Result(0, {"msglim": limit, "flags1": out_flags})

    def _sever_one(self, end: PathEnd, user: bytes) -> None:
        vm = end.vm
        del vm.paths[end.pathid]
        end.gone = True
        partner = end.partner
        # messages this end sent: destroyed from its side (completed ones and
        # their interrupts go; ones still at the partner stay receivable)
        for m in list(self.messages.values()):
            if m.src is end and m.where == "reply":
                self._destroy(m)
        if partner is None or partner.gone:
            # both ends severed: everything left on the path goes
            for m in list(self.messages.values()):
                if m.src is end or m.tgt is end or (partner is not None and (
                        m.src is partner or m.tgt is partner)):
                    self._destroy(m)
            return
        # the partner's messages not yet completed come back with IPADSVRD
        for mid in sorted(self.messages):
            m = self.messages[mid]
            if m.tgt is end and m.where in ("send", "recv"):
                self._complete(m, audit=IPADSVRD, residual=self._nodata_residual(m))
        partner.partner_severed = True
        self._queue(partner.vm, PATH_SEVERED, {"pathid": partner.pathid, "user": user})

    def sever(self, userid: str, p: dict) -> Result:
        vm = self.vm(userid)
        flags = p.get("flags1", 0)
        if flags & ~IPALL:
            raise ProgramCheck("specification")
        user = p.get("user", bytes(16))
        if flags & IPALL:
            for pid in sorted(vm.paths):
                if pid in vm.paths:
                    self._sever_one(vm.paths[pid], user)
            return Result(0)
        end = vm.paths.get(p.get("pathid", 0))
        if end is None:
            return rc(1)
        self._sever_one(end, user)
        return Result(0)

    def _quiesce_resume(self, userid: str, p: dict, itype: int) -> Result:
        vm = self.vm(userid)
        flags = p.get("flags1", 0)
        if flags & ~IPALL:
            raise ProgramCheck("specification")
        user = p.get("user", bytes(16))
        if flags & IPALL:
            ends = [vm.paths[i] for i in sorted(vm.paths) if vm.paths[i].usable]
        else:
            end = vm.paths.get(p.get("pathid", 0))
            if end is None:
                return rc(1)
            if end.state != "active":
                return pending_rc()
            if end.partner_severed:
                return Result(Unsettled(1, "quiesce.partner_severed"),
                              {"rcode": Unsettled(1, "quiesce.partner_severed")})
            ends = [end]
        for end in ends:
            end.partner.quiesced = itype == PATH_QUIESCED
            self._queue(end.partner.vm, itype, {"pathid": end.partner.pathid, "user": user})
        return Result(0)

    def quiesce(self, userid: str, p: dict) -> Result:
        return self._quiesce_resume(userid, p, PATH_QUIESCED)

    def resume(self, userid: str, p: dict) -> Result:
        return self._quiesce_resume(userid, p, PATH_RESUMED)

    def send(self, userid: str, p: dict, data: bytes = b"") -> Result:
        """``data``: the message when not IPRMDATA (bf1, bf1len bytes of it)."""
        vm = self.vm(userid)
        flags = p.get("flags1", 0)
        if flags & ~(IPRMDATA | IPPRTY | IPNORPY):
            raise ProgramCheck("specification")
        end = vm.paths.get(p.get("pathid", 0))
        if end is None or not end.usable:
            return rc(1)
        if end.quiesced:
            return rc(2)
        if self.outstanding(end) >= end.msglim:
            return rc(3)
        if flags & IPPRTY and not end.priority:
            return rc(4)
        if flags & IPRMDATA and not end.partner.prmdata:
            return rc(21)
        body = bytes(p.get("data", bytes(8))).ljust(8, b"\0") if flags & IPRMDATA else bytes(data)
        oneway = bool(flags & IPNORPY)
        m = Message(self.next_msgid, end, end.partner, flags & (IPRMDATA | IPPRTY | IPNORPY),
                    p.get("trgcls", 0), p.get("srccls", 0), p.get("msgtag", 0), body,
                    0 if oneway else p.get("bf2len", 0))
        self.next_msgid += 1
        self.messages[m.id] = m
        self.all_messages[m.id] = m
        tvm = end.partner.vm
        _insert(tvm.sendq, m, m.priority, key=lambda q: q.priority)
        self._queue(tvm, PRIORITY_PENDING if m.priority else NONPRIORITY_PENDING,
                    m.pending_fields(), m)
        return Result(0, {"msgid": m.id})

    def describe(self, userid: str, p: dict | None = None) -> Result:
        vm = self.vm(userid)
        m = vm.sendq[0] if vm.sendq else None  # the head, partial or not (decisions.md)
        if m is None:
            return Result(2)
        f = m.pending_fields()
        f["flags1"] |= IPFG
        return Result(0, f)

    def _check_selectors(self, flags: int, need_cls: bool) -> None:
        if flags & IPFGMID and not (flags & IPFGPID and (flags & IPFGMCL or not need_cls)):
            raise ProgramCheck("specification")

    def receive(self, userid: str, p: dict) -> Result:
        """bf1len: the receive buffer's length."""
        vm = self.vm(userid)
        flags = p.get("flags1", 0)
        if flags & UNDEFINED_MSG_FLAGS:
            raise ProgramCheck("specification")
        self._check_selectors(flags, need_cls=True)
        if flags & IPFGPID:
            end = vm.paths.get(p.get("pathid", 0))
            if end is None:
                return rc(1)
            if end.state != "active":
                return pending_rc()
        if flags & IPFGMID:
            m = next((q for q in vm.sendq if q.id == p.get("msgid", 0)), None)
            if m is None:
                return Result(2)
            if vm.paths.get(p.get("pathid")) is not m.tgt or m.trgcls != p.get("trgcls", 0):
                return rc(8)
        else:
            m = next((q for q in vm.sendq if not q.partial
                      and (not flags & IPFGPID or q.tgt.pathid == p.get("pathid", 0))
                      and (not flags & IPFGMCL or q.trgcls == p.get("trgcls", 0))), None)
            if m is None:
                return Result(2)
        out = {"pathid": m.tgt.pathid, "msgid": m.id, "trgcls": m.trgcls,
               "bf2len": 0 if m.oneway else m.anslen}
        mflags = m.flags & (IPRMDATA | IPPRTY | IPNORPY)
        if m.prm:
            out["data"] = m.data
            out["flags1"] = Masked(mflags, 0xF0, "receive.flags1.fg")
            self._received(m)
            return Result(0, out, received=b"")
        buflen = p.get("bf1len", 0)
        left = len(m.data) - m.moved
        if buflen < left:
            chunk = m.data[m.moved:m.moved + buflen]
            m.moved += buflen
            m.partial = True
            out.update(flags1=mflags | IPFG, bf1len=left - buflen, rcode=5)
            return Result(1, out, received=chunk)
        chunk = m.data[m.moved:]
        out.update(flags1=Masked(mflags, 0xF0, "receive.flags1.fg"), bf1len=buflen - left)
        self._received(m)
        return Result(0, out, received=chunk)

    def _received(self, m: Message) -> None:
        m.moved = len(m.data)
        if m.oneway:
            self._complete(m)
        else:
            m.tgt.vm.sendq.remove(m)
            m.where = "recv"
            m.tgt.vm.recvq.append(m)

    def reply(self, userid: str, p: dict, data: bytes = b"") -> Result:
        """``data``: the reply when not IPRMDATA (bf2, bf2len bytes of it)."""
        vm = self.vm(userid)
        flags = p.get("flags1", 0)
        if flags & ~(IPRMDATA | IPPRTY):
            raise ProgramCheck("specification")
        end = vm.paths.get(p.get("pathid", 0))
        if end is None:
            return rc(1)
        if end.state != "active":
            return pending_rc()
        m = next((q for q in vm.recvq if q.id == p.get("msgid", 0)), None)
        if m is None:
            return Result(2)
        if m.tgt is not end or m.trgcls != p.get("trgcls", 0):
            return rc(8)
        out: dict = {"flags1": Unsettled(flags, "reply.flags1")}
        cprty = (bool(flags & IPPRTY) and end.priority) or m.priority  # CHOICES complete.class
        cc = 0
        if flags & IPRMDATA:
            prm = bytes(p.get("data", bytes(8))).ljust(8, b"\0")
            out["bf2len"] = Unsettled(p.get("bf2len", 0), "reply.bf2len.prmdata")
            if m.src.gone:
                pass
            elif m.src.prmdata:
                self._complete(m, cprty=cprty, reply_prm=prm, residual=self._nodata_residual(m))
                return Result(0, out)
            else:
                self._complete(m, cprty=cprty, audit=IPADPRMD, residual=self._nodata_residual(m))
                return Result(0, out)
            self._destroy(m)
            return Result(0, out)
        data = bytes(data)
        if m.src.gone:
            out["bf2len"] = Unsettled(abs(m.anslen - len(data)), "reply.bf2len.orphan")
            self._destroy(m)
            return Result(0, out)
        if len(data) <= m.anslen:
            residual = m.anslen - len(data)
            self._complete(m, cprty=cprty, reply=data, residual=residual)
            out["bf2len"] = residual
        else:
            residual = len(data) - m.anslen
            self._complete(m, cprty=cprty, reply=data[:m.anslen], residual=residual, audit=IPADRPLE)
            out.update(bf2len=residual, rcode=5)
            cc = 1
        return Result(cc, out)

    def reject(self, userid: str, p: dict) -> Result:
        vm = self.vm(userid)
        flags = p.get("flags1", 0)
        if flags & UNDEFINED_MSG_FLAGS:
            raise ProgramCheck("specification")
        self._check_selectors(flags, need_cls=True)
        if flags & IPFGPID:
            end = vm.paths.get(p.get("pathid", 0))
            if end is None:
                return rc(1)
            if end.state != "active":
                return pending_rc()
        if not flags & IPFGMID:
            raise NotImplementedError("REJECT without a message id is not modelled")
        m = next((q for q in vm.sendq + vm.recvq if q.id == p.get("msgid", 0)), None)
        if m is None:
            return Result(2)
        if vm.paths.get(p.get("pathid")) is not m.tgt or m.trgcls != p.get("trgcls", 0):
            return rc(8)
        self._complete(m, audit=IPADRJCT, residual=self._nodata_residual(m))
        return Result(0, {})

    def _select_done(self, vm: VM, p: dict, pool: list[Message],
                     need_cls: bool) -> Result | Message:
        """Selection for TEST COMPLETION / PURGE among ``pool`` (the source's).
        A message id needs the path id, and for TEST COMPLETION the source
        class too (IBM's rule; docs/decisions.md, row "Program checks")."""
        flags = p.get("flags1", 0)
        if flags & UNDEFINED_MSG_FLAGS:
            raise ProgramCheck("specification")
        self._check_selectors(flags, need_cls=need_cls)
        end = None
        if flags & IPFGPID:
            end = vm.paths.get(p.get("pathid", 0))
            if end is None:
                return rc(1)
            if end.state != "active" and not flags & IPFGMID:
                return Result(Unsettled(2, "pathid.pending"))
        if flags & IPFGMID:
            m = next((q for q in pool if q.id == p.get("msgid", 0)), None)
            if m is None:
                return Result(2)
            if m.src is not end or (flags & IPFGMCL and m.srccls != p.get("srccls", 0)):
                return rc(8)
            return m
        m = next((q for q in pool if (end is None or q.src is end)
                  and (not flags & IPFGMCL or q.srccls == p.get("srccls", 0))), None)
        return Result(2) if m is None else m

    def testcmpl(self, userid: str, p: dict) -> Result:
        vm = self.vm(userid)
        m = self._select_done(vm, p, vm.replyq, need_cls=True)
        if isinstance(m, Result):
            return m
        out = m.complete_fields()
        del out["trgcls"]  # IPAUDIT overlays it; only the audit halfword is output
        out["audit"] = m.audit
        out["flags1"] = Masked(out["flags1"], 0xF0, "testcmpl.flags1.fg")
        self._destroy(m)
        return Result(3 if m.audit else 0, out, reply=None if m.oneway else m.reply)

    def purge(self, userid: str, p: dict) -> Result:
        vm = self.vm(userid)
        mine = [m for mid, m in sorted(self.messages.items()) if m.src.vm is vm and not m.src.gone]
        m = self._select_done(vm, p, mine, need_cls=False)
        if isinstance(m, Result):
            return m
        self._destroy(m)
        return Result(0, {"audit": m.audit,
                          "msgid": m.id, "pathid": m.src.pathid, "srccls": m.srccls,
                          "msgtag": m.msgtag,
                          "flags1": Masked(m.flags & (IPNORPY | IPPRTY), 0xF0, "purge.flags1.fg")})


def expect_image(inp: dict, result: Result, strict: bool = False,
                 dont_care: tuple[tuple[int, int], ...] = ()) -> tuple[bytes, bytes]:
    """The 40-byte image a plist built from ``inp`` should hold after the
    function, with its care mask (0 bytes: not compared).  ``dont_care``:
    (offset, length) ranges the caller cannot know (buffer addresses)."""
    image, care = encode(inp)
    for off, n in dont_care:
        care[off:off + n] = bytes(n)
    encode(result.out, image, care, strict=strict)
    return bytes(image), bytes(care)


def differs(real: bytes, image: bytes, care: bytes) -> list[int]:
    """Offsets where ``real`` and the expected ``image`` differ in cared bits."""
    return [i for i in range(40) if (real[i] ^ image[i]) & care[i]]
