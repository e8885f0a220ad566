"""A virtual machine driven over a pipe, for the IUCV tests.

``python tests/iucv_rpc.py USERID [--no-dclbfr] [--handler]`` logs on as
USERID (system from $SHMCP_SYSTEM), issues DECLARE BUFFER unless told not
to, prints one JSON line ``{"ready": ...}`` and then serves JSON commands,
one a line on stdin, one JSON answer a line on stdout (shmcp.testing's
protocol):

* ``call``: an IUCV (or SAS/C) function with a parameter list built from a
  class name, fields and buffers.  Buffers are kept in the VM by name, so an
  answer area given at SEND can be looked at after the completion.
* ``drain`` / ``wait``: external interrupts taken with ``vm.wait``;
  ``events``: those a SIGIUCV handler recorded (``--handler``).
* ``storage``, ``pending``, ``buf``, ``msg`` (*MSG), ``logoff``, ``exit``.

The same ``Server`` also runs inside the test process (``LocalVM``): tests
address every VM the same way.
"""
from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

import shmcp
from shmcp import CompPlist, MsgPlist, PathPlist, iucv, sasc
from shmcp.plist import CLASS_OF_TYPE
from shmcp.testing import ChildVM, dec, enc, serve

HERE = os.path.dirname(os.path.abspath(__file__))
CLASSES = {"PathPlist": PathPlist, "MsgPlist": MsgPlist, "CompPlist": CompPlist}


def fields_of(p: Any) -> dict:
    """Every field of a plist's class, plus its 40-byte image."""
    out = {name: getattr(p, name) for name in type(p)._fields}
    if isinstance(p, PathPlist):
        out["ipuser"] = p.ipuser
    out["image"] = bytes(p)
    return out


def interrupt_dict(ev: Any) -> dict:
    image = bytes(ev)
    itype = image[3]
    cls = CLASS_OF_TYPE[itype] if itype < len(CLASS_OF_TYPE) else None
    shown = cls.from_bytes(image) if cls else None
    return {"type": itype, "cls": type(ev).__name__,
            "fields": fields_of(shown) if shown is not None else {"image": image}}


# -- the server (runs in the child, or in the test process) ------------------------

class Server:
    def __init__(self, userid: str, dclbfr: bool = True, handler: bool = False) -> None:
        self.bufs: dict[str, Any] = {}
        self.plists: dict[str, Any] = {}
        self.events: list[dict] = []
        if handler:
            signal.signal(shmcp.SIGIUCV, self._handler)
        self.vm = shmcp.logon(userid)
        if dclbfr:
            iucv.dclbfr(PathPlist())

    def _handler(self, signum: int, frame: Any) -> None:
        info = shmcp.siginfo()
        got = interrupt_dict(info)
        got["bufs"] = {k: bytes(v) for k, v in self.bufs.items()}  # as the handler sees them
        self.events.append(got)

    def _buffer(self, spec: Any) -> Any:
        if spec is None or isinstance(spec, (bytes, bytearray)):
            return spec
        if "data" in spec:  # a named writable buffer with contents
            self.bufs[spec["buf"]] = bytearray(spec["data"])
            return self.bufs[spec["buf"]]
        if "size" in spec:
            self.bufs[spec["buf"]] = bytearray(spec["size"])
            return self.bufs[spec["buf"]]
        if "ro" in spec:  # a read-only copy of a named buffer
            return bytes(self.bufs[spec["ro"]])
        return self.bufs[spec["buf"]]

    def handle(self, cmd: dict) -> dict:
        try:
            return getattr(self, "op_" + cmd["op"])(cmd)
        except Exception as e:  # reported, the test decides
            return {"error": type(e).__name__, "msg": str(e),
                    "exception": getattr(e, "exception", None)}

    def op_call(self, cmd: dict) -> dict:
        module = sasc if cmd.get("module") == "sasc" else iucv
        fn = getattr(module, cmd["fn"])
        args = list(cmd.get("args", []))
        p = None
        if cmd.get("cls"):
            name = cmd.get("plist")
            if name and name in self.plists and not cmd.get("image"):
                p = self.plists[name]
            else:
                cls = CLASSES[cmd["cls"]]
                p = cls.from_bytes(cmd["image"]) if cmd.get("image") else cls()
            for which in ("bf1", "bf2"):
                if which in cmd:
                    setattr(p, which, self._buffer(cmd[which]))
            fields = dict(cmd.get("fields", {}))
            lengths = {k: fields.pop(k) for k in ("bf1len", "bf2len") if k in fields}
            for k, v in list(fields.items()) + list(lengths.items()):
                setattr(p, k, v)
            if name:
                self.plists[name] = p
            args.append(p)
        kwargs = cmd.get("kwargs", {})
        got = fn(*args, **kwargs)
        out: dict = {}
        if isinstance(got, tuple):
            out["cc"], out["value"] = got[0], list(got[1:])
        else:
            out["cc"] = got
        if p is not None:
            out["fields"] = fields_of(p)
        out["bufs"] = {k: bytes(v) for k, v in self.bufs.items()}
        return out

    def op_drain(self, cmd: dict) -> dict:
        got = []
        while (ev := self.vm.wait(0)) is not None:
            got.append(interrupt_dict(ev))
        return {"interrupts": got}

    def op_wait(self, cmd: dict) -> dict:
        ev = self.vm.wait(cmd.get("timeout"))
        return {"interrupt": None if ev is None else interrupt_dict(ev)}

    def op_events(self, cmd: dict) -> dict:
        got, self.events[:] = list(self.events), []
        return {"interrupts": got}

    def op_storage(self, cmd: dict) -> dict:
        return {"free": self.vm.attached.storage_free()}

    def op_pending(self, cmd: dict) -> dict:
        return {"pending": self.vm.pending()}

    def op_buf(self, cmd: dict) -> dict:
        return {"data": bytes(self.bufs[cmd["name"]])}

    def op_msg(self, cmd: dict) -> dict:
        shmcp.msg(cmd["to"], cmd["text"])
        return {"ok": True}

    def op_logoff(self, cmd: dict) -> dict:
        self.vm.logoff()
        return {"ok": True}

    def op_exit(self, cmd: dict) -> dict:
        return {"exit": cmd.get("code", 0), "how": cmd.get("how", "return")}


def main(argv: list[str]) -> int:
    userid, opts = argv[0], argv[1:]
    server = Server(userid, dclbfr="--no-dclbfr" not in opts, handler="--handler" in opts)
    ended = serve(server.handle, ready={"ready": server.vm.userid})
    if ended is None:
        return 0
    if ended["how"] == "os_exit":
        os._exit(ended["exit"])
    return ended["exit"]


# -- the test side ------------------------------------------------------------

class RpcError(Exception):
    """A call raised in the VM: ``type`` is the exception's class name,
    ``exception`` a ProgramCheck's name."""

    def __init__(self, result: dict) -> None:
        super().__init__(f"{result['error']}: {result['msg']}")
        self.type = result["error"]
        self.msg = result["msg"]
        self.exception = result.get("exception")


class _VM:
    """What tests do with a VM, wherever it runs."""

    userid: str

    def request(self, cmd: dict) -> dict:
        raise NotImplementedError

    def call(self, fn: str, cls: str | None = None, *, module: str = "iucv", args=(),
             plist: str | None = None, image: bytes | None = None, raises: bool = True,
             **fields: Any) -> dict:
        """Call ``iucv.fn`` with a ``cls`` plist of ``fields``; bf1/bf2 are
        buffer specs (bytes, or {"buf": name, "size": n} ...).  Returns
        {"cc", "fields", "bufs"}; raises RpcError if the call raised."""
        cmd: dict = {"op": "call", "fn": fn, "module": module, "cls": cls, "args": list(args)}
        for which in ("bf1", "bf2"):
            if which in fields:
                cmd[which] = fields.pop(which)
        cmd["fields"] = fields
        if plist:
            cmd["plist"] = plist
        if image is not None:
            cmd["image"] = image
        got = self.request(cmd)
        if "error" in got and raises:
            raise RpcError(got)
        return got

    def cc(self, fn: str, cls: str | None = None, **kw: Any) -> int:
        return self.call(fn, cls, **kw)["cc"]

    def drain(self) -> list[dict]:
        return self.request({"op": "drain"})["interrupts"]

    def wait(self, timeout: float | None) -> dict | None:
        return self.request({"op": "wait", "timeout": timeout})["interrupt"]

    def events(self) -> list[dict]:
        return self.request({"op": "events"})["interrupts"]

    def storage(self) -> int:
        return self.request({"op": "storage"})["free"]

    def buf(self, name: str) -> bytes:
        return self.request({"op": "buf", "name": name})["data"]

    def logoff(self) -> None:
        self.request({"op": "logoff"})


class LocalVM(_VM):
    """The test process itself as a VM (one VM per process)."""

    def __init__(self, userid: str, dclbfr: bool = True) -> None:
        self.server = Server(userid, dclbfr=dclbfr)
        self.userid = self.server.vm.userid
        self.vm = self.server.vm

    def request(self, cmd: dict) -> dict:
        return dec(json.loads(json.dumps(enc(self.server.handle(dec(enc(cmd)))))))

    def close(self) -> None:
        self.vm.logoff()


class RpcVM(_VM, ChildVM):
    """A child process as a VM."""

    def __init__(self, userid: str, *opts: str) -> None:
        ChildVM.__init__(self, os.path.join(HERE, "iucv_rpc.py"), userid, *opts)
        self.userid = self.collect()["ready"]

    def collect(self, timeout: float = 30) -> dict:
        """The answer to a command submit()ted earlier."""
        return self.json(timeout)

    def request(self, cmd: dict) -> dict:
        self.submit(cmd)
        return self.collect()

    def exit(self, code: int = 0, how: str = "return") -> int:
        self.submit({"op": "exit", "code": code, "how": how})
        self.collect()
        return self.proc.wait(30)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.exit()
            except (OSError, EOFError, TimeoutError, ValueError):
                pass
        ChildVM.close(self)


# -- helpers over two VMs -------------------------------------------------------------

def only(interrupts: list[dict], itype: int) -> dict:
    """The one interrupt of ``interrupts``, checked to be of type ``itype``."""
    assert [i["type"] for i in interrupts] == [itype], interrupts
    return interrupts[0]["fields"]


def connect_pair(a: _VM, b: _VM, *, cflags: int = 0, aflags: int = 0, msglim: int = 0,
                 amsglim: int = 0, cpgm: bytes = b"", cuser: bytes = b"",
                 apgm: bytes = b"", auser: bytes = b"") -> tuple[int, int]:
    """CONNECT from ``a`` to ``b``, ACCEPT in ``b``, take the interrupts;
    returns (a's path id, b's path id)."""
    got = a.call("connect", "PathPlist", vmid=b.userid, flags1=cflags, msglim=msglim,
                 pgm=cpgm, user=cuser)
    assert got["cc"] == 0, got
    pa = got["fields"]["pathid"]
    pend = only(b.drain(), 1)
    acc = b.call("accept", "PathPlist", image=pend["image"], type=0, flags1=aflags,
                 msglim=amsglim, pgm=apgm, user=auser)
    assert acc["cc"] == 0, acc
    only(a.drain(), 2)
    return pa, pend["pathid"]


def send(a: _VM, pathid: int, data: bytes = b"hello", *, answer: int | None = 16,
         name: str = "ans", flags: int = 0, **fields: Any) -> dict:
    """SEND ``data`` on ``pathid``; two-way into a named answer area of
    ``answer`` bytes, one-way if ``answer`` is None.  Checks CC0; returns the
    plist's fields."""
    kw: dict = dict(fields)
    if answer is None:
        flags |= iucv.IPNORPY
    else:
        kw["bf2"] = {"buf": name, "size": answer}
    if not flags & iucv.IPRMDATA:
        kw["bf1"] = data
    else:
        kw["data"] = data
    got = a.call("send", "MsgPlist", pathid=pathid, flags1=flags, **kw)
    assert got["cc"] == 0, got
    return got["fields"]


if __name__ != "__main__":
    import pytest

    @pytest.fixture
    def spawn(system):
        """Start child VMs: ``spawn("B", "--no-dclbfr")``; all ended afterwards."""
        made: list[RpcVM] = []

        def make(userid: str, *opts: str) -> RpcVM:
            vm = RpcVM(userid, *opts)
            made.append(vm)
            return vm

        yield make
        for vm in made:
            vm.close()

    @pytest.fixture
    def local(system):
        """The test process as VM A (DECLARE BUFFER done)."""
        vm = LocalVM("A")
        yield vm
        vm.close()

    @pytest.fixture
    def pair(local, spawn):
        """A (this process) and B (a child) with a path: (a, b, pa, pb)."""
        b = spawn("B")
        pa, pb = connect_pair(local, b)
        return local, b, pa, pb


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
