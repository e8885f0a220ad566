"""shmcp IUCV as a transport, through the public API only (``shmcp.iucv`` and
the parameter lists), as a performance-minded program would write it.

Round trips (and fan-in, scaling) are two-way messages: the client SENDs
(``bf1`` the request, ``bf2`` its answer area) and takes the type 07
message-complete interrupt, by which time the reply is in the answer area
(reply length = answer size - ``bf2len`` residual); the server takes the
type 09 message-pending interrupt, RECEIVEs the message into its buffer and
REPLYs.  Streaming is one-way (``IPNORPY``): the sender keeps at most the
path's message limit outstanding, taking the completions (type 07) that
free the slots; the final STOP goes two-way and its reply is the
acknowledgement.  The server is VM SERVER, client i is VM Cn, each on its own
path; buffers and parameter lists are reused across messages, and the
server RECEIVEs and REPLYs with the interrupt's own parameter list.

mode="wait": handler-free ``vm.wait()``; mode="sigpause": a SIGIUCV handler
records ``shmcp.siginfo()`` and the program waits in ``shmcp.sigpause(0)``
with SIGIUCV blocked in between (SAS/C style).  fresh: every message gets
new parameter lists at both ends (SEND, RECEIVE, REPLY), as the seed
programs write it, instead of reusing them.  spin_us: the IPL's spin
limit (None: the default; 0: every wait sleeps).  idle_vms: that many
extra VMs logged on (IUCV declared) and idle.  open_paths: the client opens
that many paths to the server in all (the extra ones idle); the system is
then IPLed with a directory that raises maxconn.  tracer: a tracer
(bench.tracer) attached to the system throughout."""
from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import tempfile

import shmcp
from shmcp import MsgPlist, PathPlist, iucv
from shmcp.testing import private_system_name

from . import STOP_SEQ, shmcp_limits

MSGLIM = 255
# A one-way stream keeps up to msglim messages staged in the pool (64 MiB by
# default): large messages get a smaller limit, so they stay within a quarter.
STAGED_MAX = 16 << 20
_RECV_FLAGS = iucv.IPFGPID | iucv.IPFGMID | iucv.IPFGMCL
_CONNECTION_COMPLETE = iucv.IPTYPE_CONNECTION_COMPLETE
_PENDING_CONNECTION = iucv.IPTYPE_PENDING_CONNECTION
_SEVERED = iucv.IPTYPE_PATH_SEVERED
_COMPLETE = (iucv.IPTYPE_NONPRIORITY_MESSAGE_COMPLETE, iucv.IPTYPE_PRIORITY_MESSAGE_COMPLETE)
_COMPLETE_N, _COMPLETE_P = _COMPLETE
_NORPY, _MSGLIM_EXCEEDED = iucv.IPNORPY, iucv.IPRC_MSGLIM_EXCEEDED
_STOP = STOP_SEQ.to_bytes(7, "little")  # the worker's STOP message goes two-way
_send, _receive = iucv.send, iucv.receive
_PENDING = (iucv.IPTYPE_NONPRIORITY_MESSAGE_PENDING, iucv.IPTYPE_PRIORITY_MESSAGE_PENDING)
_PENDING_N, _PENDING_P = _PENDING


class IUCVFailed(RuntimeError):
    pass


def setup(nclients: int, size: int, **opts):
    system = private_system_name("bench")
    limits = shmcp_limits(nclients, opts)
    paths = opts.get("open_paths", 1) or 1
    directory = None
    if paths + nclients + 2 > 64:  # the default maxconn is 64 per VM
        fd, directory = tempfile.mkstemp(prefix="shmcpbench-dir-", suffix=".toml")
        with os.fdopen(fd, "w") as f:
            f.write(f"[default]\niucv = [\"ANY\"]\nmaxconn = {paths + nclients + 8}\n")
    shmcp.ipl(system, directory=directory, **limits)
    tracer = _start_tracer(system) if opts.get("tracer") else None

    def cleanup() -> None:
        if tracer is not None:
            tracer.terminate()
            tracer.wait()
        shmcp.shutdown(system)
        if directory:
            os.unlink(directory)
    spec = {"system": system, "mode": opts.get("mode", "wait"), "size": size,
            "oneway": opts.get("workload") == "stream", "paths": paths,
            "fresh": bool(opts.get("fresh"))}
    return spec, cleanup


def _start_tracer(system: str) -> subprocess.Popen:
    """bench.tracer attached to ``system`` (the tracer option: what a
    round trip costs while someone traces)."""
    proc = subprocess.Popen([sys.executable, "-m", "bench.tracer", system],
                            stdout=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "READY":
        proc.kill()
        raise IUCVFailed("the tracer did not attach")
    return proc


def _check(cc: int, plist, what: str) -> None:
    if cc:
        raise IUCVFailed(f"IUCV {what}: CC{cc} IPRCODE {plist.rcode}")


class _End:
    def __init__(self, spec, userid: str) -> None:
        self.sigpause = spec["mode"] == "sigpause"
        self.fresh = spec.get("fresh", False)
        if self.sigpause:
            self.got: collections.deque = collections.deque()
            signal.signal(shmcp.SIGIUCV, lambda signum, frame: self.got.append(shmcp.siginfo()))
            shmcp.sigblock(shmcp.sigmask(shmcp.SIGIUCV))
        self.vm = shmcp.logon(userid, system=spec["system"])
        p = PathPlist()
        _check(iucv.dclbfr(p), p, "DECLARE BUFFER")
        self.take = self._take_sigpause if self.sigpause else self.vm.wait

    def _take_sigpause(self):
        got = self.got
        while not got:
            shmcp.sigpause(0)
        return got.popleft()

    def close(self) -> None:
        self.vm.logoff()


class Server(_End):
    """Accepts every path (in recv), RECEIVEs every message, REPLYs to two-way ones."""

    def __init__(self, spec) -> None:
        super().__init__(spec, "SERVER")
        self.size = size = spec["size"]
        self.buf = bytearray(size)
        self.view = memoryview(self.buf)
        self.pending: list = [None] * 256        # per client: the 09 to reply to

    def recv(self):
        take = self.take
        while True:
            ev = take()
            t = ev.type
            if t == _PENDING_N or t == _PENDING_P:
                # the interrupt's parameter list names the message: RECEIVE
                # with it, and later REPLY with it (as SAS/C programs do)
                oneway = ev.flags1 & _NORPY
                if self.fresh:  # the seed's way: a new parameter list
                    ev = MsgPlist(pathid=ev.pathid, msgid=ev.msgid, trgcls=ev.trgcls,
                                  flags1=_RECV_FLAGS, bf1=self.buf)
                else:
                    ev.flags1 = _RECV_FLAGS
                    ev.bf1 = self.buf
                cc = _receive(ev)
                if cc:
                    _check(cc, ev, "RECEIVE")
                data = self.view[:self.size - ev.bf1len]
                cid = data[0]
                if not oneway:
                    self.pending[cid] = ev
                return cid, data
            if t == _PENDING_CONNECTION:
                p = PathPlist(pathid=ev.pathid)
                _check(iucv.accept(p), p, "ACCEPT")
            elif t == _SEVERED:
                p = PathPlist(pathid=ev.pathid)
                iucv.sever(p)
            # anything else (e.g. a completion) is not for the server

    def send(self, cid: int, data) -> None:
        yp = self.pending[cid]
        if self.fresh:  # the seed's way: a new parameter list
            yp = MsgPlist(pathid=yp.pathid, msgid=yp.msgid, trgcls=yp.trgcls)
        yp.flags1 = 0
        if isinstance(data, memoryview) and data.obj is self.buf:
            yp.bf2 = self.buf  # the echo of what recv() gave: REPLY from the buffer itself
            yp.bf2len = data.nbytes
        else:
            yp.bf2 = data
        _check(iucv.reply(yp), yp, "REPLY")


class Client(_End):
    def __init__(self, spec, cid: int) -> None:
        super().__init__(spec, f"C{cid}")
        self.oneway = spec["oneway"]
        c = PathPlist(vmid="SERVER", msglim=max(1, min(MSGLIM, STAGED_MAX // spec["size"])))
        _check(iucv.connect(c), c, "CONNECT")
        self.pathid = c.pathid
        extra = []
        for _ in range(spec["paths"] - 1):  # idle paths (the scaling workload)
            p = PathPlist(vmid="SERVER")
            _check(iucv.connect(p), p, "CONNECT (idle path)")
            extra.append(p.pathid)
        self.msglim = c.msglim
        waiting = {self.pathid, *extra}
        while waiting:
            ev = self.take()
            if ev.type == _CONNECTION_COMPLETE:
                waiting.discard(ev.pathid)
                if ev.pathid == self.pathid:
                    self.msglim = ev.msglim or self.msglim
            elif ev.type == _SEVERED:
                raise IUCVFailed(f"path {ev.pathid} severed before it was complete")
        self.answer = bytearray(spec["size"])
        self.aview = memoryview(self.answer)
        self.sp = MsgPlist(pathid=self.pathid, bf2=self.answer)   # two-way SEND, reused
        self.request = None                                      # what sp.bf1 holds
        self.op = MsgPlist(pathid=self.pathid, flags1=iucv.IPNORPY)  # one-way SEND, reused
        self.msgid = -1
        self.outstanding = 0

    def send(self, data) -> None:
        if self.oneway and (data[7] != 0xFF or data[1:8] != _STOP):
            # one-way, spelled out (once per message): free a slot under the
            # path's message limit if none is, then SEND
            op = MsgPlist(pathid=self.pathid) if self.fresh else self.op
            while self.outstanding >= self.msglim:
                ev = self.take()  # _complete_one(), spelled out
                t = ev.type
                if (t == _COMPLETE_N or t == _COMPLETE_P) and not ev.audit:
                    self.outstanding -= 1
                else:
                    self._not_complete(ev)
            op.bf1 = data
            op.flags1 = _NORPY
            cc = _send(op)
            while cc == 1 and op.rcode == _MSGLIM_EXCEEDED:
                self._complete_one()
                op.flags1 = _NORPY
                cc = _send(op)
            if cc:
                raise IUCVFailed(f"IUCV SEND (one-way): CC{cc} IPRCODE {op.rcode}")
            self.outstanding += 1
            return
        sp = self.sp
        if self.fresh:  # the seed's way: a new parameter list
            sp = MsgPlist(pathid=self.pathid, bf1=data, bf2=self.answer)
        elif data is not self.request:  # SEND changes neither bf1, bf2 nor flags1
            sp.bf1 = self.request = data
        cc = iucv.send(sp)
        while cc == 1 and sp.rcode == iucv.IPRC_MSGLIM_EXCEEDED:
            self._complete_one()
            sp.flags1 = 0
            cc = iucv.send(sp)
        _check(cc, sp, "SEND")
        self.msgid = sp.msgid

    def _complete_one(self) -> None:
        """Take one completion of a one-way message (frees a msglim slot)."""
        ev = self.take()
        t = ev.type
        if (t == _COMPLETE_N or t == _COMPLETE_P) and not ev.audit:
            self.outstanding -= 1
        else:
            self._not_complete(ev)

    def _not_complete(self, ev) -> None:
        """An interrupt other than a clean completion while one was awaited."""
        t = ev.type
        if t == _COMPLETE_N or t == _COMPLETE_P:
            raise IUCVFailed(f"one-way message {ev.msgid} completed with audit {ev.audit:#x}")
        if t == _SEVERED:
            raise IUCVFailed("path severed")

    def recv(self):
        take = self.take
        while True:
            ev = take()
            if ev.type in _COMPLETE:
                if ev.msgid == self.msgid:
                    if ev.audit:
                        raise IUCVFailed(f"message {ev.msgid} completed with audit {ev.audit:#x}")
                    return self.aview[:len(self.answer) - ev.bf2len]
                self.outstanding -= 1  # a one-way message's completion
            elif ev.type == _SEVERED:
                raise IUCVFailed("path severed")


open_server = Server
open_client = Client


class Idle:
    """A VM that is logged on, has declared its IUCV buffer, and does nothing."""

    def __init__(self, spec, index: int) -> None:
        self.vm = shmcp.logon(f"IDLE{index}", system=spec["system"])
        iucv.dclbfr(PathPlist())

    def close(self) -> None:
        self.vm.logoff()


open_idle = Idle
__all__ = ["setup", "open_server", "open_client", "open_idle"]
