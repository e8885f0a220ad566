"""shmcp VMCF as a transport, through the public API only (``shmcp.vmcf``).

Round trips (and fan-in) are SEND/RECV: the client's DIAGNOSE X'68' SENR
names the request (``vada``) and its REPLY buffer (``vadb``); the server
takes the message-pending interrupt (a ``Vmcmhdr`` from ``vm.wait()``),
RECEIVEs the data and REPLYs; the client takes the RESPONSE interrupt, by
which time the reply is in its REPLY buffer (reply length = buffer size -
``lenb`` residual).  Streaming is SEND (one-way): the sink RECEIVEs each
message, the source takes each RESPONSE and keeps at most ``vmcf.MSG_LIMIT``
messages active; the final STOP goes SEND/RECV and its reply is the
acknowledgement.  Both ends are authorized with a 64-byte interrupt buffer
and wait with the handler-free ``vm.wait()``.  VMCPARMs and buffers are
reused across messages (``vmcf.diag68``)."""
from __future__ import annotations

import itertools

import shmcp
from shmcp import vmcf
from shmcp.testing import private_system_name
from shmcp.vmcf import Vmcparm

from . import shmcp_limits

_STOP = b"\xff" * 7


class VMCFFailed(RuntimeError):
    pass


def setup(nclients: int, size: int, **opts):
    system = private_system_name("bench")
    limits = shmcp_limits(nclients, opts)
    shmcp.ipl(system, **limits)
    spec = {"system": system, "size": size, "oneway": opts.get("workload") == "stream"}
    return spec, lambda: shmcp.shutdown(system)


def _check(rc: int, what: str) -> None:
    if rc:
        raise VMCFFailed(f"VMCF {what}: return code {rc} ({vmcf.RC_NAMES.get(rc, '?')})")


class _End:
    def __init__(self, spec, userid: str) -> None:
        self.vm = shmcp.logon(userid, system=spec["system"])
        self.ib = bytearray(64)
        _check(vmcf.authorize(self.ib), "AUTHORIZE")
        self.take = self.vm.wait

    def close(self) -> None:
        self.vm.logoff()


class Server(_End):
    def __init__(self, spec) -> None:
        super().__init__(spec, "SERVER")
        self.buf = bytearray(spec["size"])
        self.view = memoryview(self.buf)
        self.rp = Vmcparm(func=vmcf.VMCPRECV, vada=self.buf)   # RECEIVE, reused
        self.yp = Vmcparm(func=vmcf.VMCPREPL)                  # REPLY, reused
        self.pending: list = [None] * 256   # per client: (user, mid) of its SEND/RECV

    def recv(self):
        take, rp = self.take, self.rp
        while True:
            h = take()
            func = h.func
            if func in (vmcf.VMCPSENR, vmcf.VMCPSEND) and not h.stat & vmcf.VMCMRESP:
                n = h.lena
                rp.user = h.user
                rp.mid = h.mid
                rp.lena = n
                _check(vmcf.diag68(rp), "RECEIVE")
                data = self.view[:n]
                if func == vmcf.VMCPSENR:
                    self.pending[data[0]] = (h.user, h.mid)
                return data[0], data
            # anything else (IDENTIFY, a RESPONSE) is not for the server

    def send(self, cid: int, data) -> None:
        user, mid = self.pending[cid]
        yp = self.yp
        yp.user = user
        yp.mid = mid
        yp.vada = data
        _check(vmcf.diag68(yp), "REPLY")


class Client(_End):
    def __init__(self, spec, cid: int) -> None:
        super().__init__(spec, f"C{cid}")
        self.oneway = spec["oneway"]
        self.answer = bytearray(spec["size"])
        self.aview = memoryview(self.answer)
        self.sr = Vmcparm(func=vmcf.VMCPSENR, user="SERVER", vadb=self.answer)  # SEND/RECV, reused
        self.so = Vmcparm(func=vmcf.VMCPSEND, user="SERVER")                    # SEND, reused
        self.mids = itertools.count(1)
        self.mid = 0
        self.outstanding = 0

    def send(self, data) -> None:
        if self.oneway and data[1:8] != _STOP:
            so = self.so
            while self.outstanding >= vmcf.MSG_LIMIT:
                self._response()
            so.mid = next(self.mids)
            so.vada = data
            rc = vmcf.diag68(so)
            while rc == vmcf.RC_MESSAGE_LIMIT:
                self._response()
                rc = vmcf.diag68(so)
            _check(rc, "SEND")
            self.outstanding += 1
            return
        sr = self.sr
        sr.mid = self.mid = next(self.mids)
        sr.vada = data
        rc = vmcf.diag68(sr)
        while rc == vmcf.RC_MESSAGE_LIMIT:
            self._response()
            rc = vmcf.diag68(sr)
        _check(rc, "SEND/RECV")

    def _response(self):
        """Take one RESPONSE; the SEND/RECV's is returned, a SEND's counted."""
        h = self.take()
        if h.stat & vmcf.VMCMRESP and h.func != vmcf.VMCPIDEN:
            if h.eflg or h.stat & vmcf.VMCMRJCT:
                raise VMCFFailed(f"message {h.mid}: error code {h.eflg}, status {h.stat:#x}")
            if h.func == vmcf.VMCPSEND:
                self.outstanding -= 1
                return None
            return h
        return None

    def recv(self):
        while True:
            h = self._response()
            if h is not None and h.mid == self.mid:
                return self.aview[:len(self.answer) - h.lenb]


open_server = Server
open_client = Client
