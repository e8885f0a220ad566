"""One virtual machine per child process, driven over a pipe.

``python tests/iucv_driver.py`` prints ``READY``, then reads one JSON command
per line on stdin and answers one JSON line on stdout (shmcp.testing's
protocol):

* ``{"op": "logon", "system": NAME, "userid": U}``: log off (if on), log on
  as U to system NAME, DECLARE BUFFER.  -> ``{"ok": true}``
* ``{"op": "logoff"}`` -> ``{"ok": true}``
* ``{"op": "call", "fn": F, "cls": "path"|"msg"|"comp", "fields": {...},
  "bf1": BUF, "bf2": BUF, "keep_bf2": bool, "mask": int}``: build the plist
  (``fields`` by member name; ``data``, ``user`` as hex), run
  ``shmcp.iucv.F`` on it.  BUF is ``{"out": HEX}`` (bytes going out) or
  ``{"in": SIZE, "fill": BYTE}`` (a bytearray of SIZE bytes of FILL coming
  in).  -> ``{"cc", "image", "bf1", "answer"}``: the condition code, the
  plist's 40-byte image, the incoming bf1's bytes, and for TEST COMPLETION
  the answer area of the message it took; or ``{"exc", "text"}`` for a
  ProgramCheck.  ``keep_bf2``: a two-way SEND's answer area is kept, by
  message id, until its completion is taken.
* ``{"op": "drain"}``: every interrupt ``vm.wait(timeout=0)`` gives ->
  ``{"irq": [{"image", "answer"}...]}``, ``answer`` the answer area's bytes
  for a message-complete interrupt of a kept two-way message.

Any other exception -> ``{"error": TRACEBACK}``.
"""
from __future__ import annotations

import traceback

import shmcp
from shmcp import iucv
from shmcp.testing import serve

CLASSES = {"path": iucv.PathPlist, "msg": iucv.MsgPlist, "comp": iucv.CompPlist}


class Driver:
    def __init__(self) -> None:
        self.vm = None
        self.answers: dict[int, bytearray] = {}

    def logon(self, system: str, userid: str) -> dict:
        self.logoff()
        self.vm = shmcp.logon(userid, system=system)
        cc = iucv.dclbfr(iucv.PathPlist())
        return {"ok": cc == 0, "cc": cc}

    def logoff(self) -> dict:
        if self.vm is not None:
            self.vm.logoff()
            self.vm = None
        self.answers.clear()
        return {"ok": True}

    @staticmethod
    def buffer(spec: dict | None):
        if spec is None:
            return None
        if "out" in spec:
            return bytes.fromhex(spec["out"])
        return bytearray([spec["fill"]]) * spec["in"]

    def call(self, cmd: dict) -> dict:
        fn = getattr(iucv, cmd["fn"])
        if cmd["fn"] == "query":
            cc, size, maxconn = fn()
            return {"cc": cc, "extra": [size, maxconn]}
        if cmd["fn"] == "testmsg":
            return {"cc": fn()}
        cls = CLASSES[cmd["cls"]]
        if "mask" in cmd:  # SET MASK / SET CONTROL MASK: the mask is byte 00
            plist = cls.from_bytes(bytes([cmd["mask"]]) + bytes(39))
        else:
            kw = dict(cmd.get("fields", {}))
            for name in ("data",):
                if name in kw:
                    kw[name] = bytes.fromhex(kw[name])
            if "user" in kw:
                user = bytes.fromhex(kw.pop("user"))
                kw["pgm"], kw["user"] = user[:8], user[8:]
            bf1 = self.buffer(cmd.get("bf1"))
            bf2 = self.buffer(cmd.get("bf2"))
            if bf1 is not None:
                kw["bf1"] = bf1
            if bf2 is not None:
                kw["bf2"] = bf2
            plist = cls(**kw)
        try:
            cc = fn(plist)
        except shmcp.ProgramCheck as e:
            return {"exc": "ProgramCheck", "name": getattr(e, "exception", ""), "text": str(e)}
        image = bytes(plist)
        out: dict = {"cc": cc, "image": image.hex()}
        if "mask" not in cmd and isinstance(kw.get("bf1"), bytearray):
            out["bf1"] = bytes(kw["bf1"]).hex()
        msgid = int.from_bytes(image[4:8], "big")
        if cmd["fn"] == "send" and cc == 0 and cmd.get("keep_bf2"):
            self.answers[msgid] = kw["bf2"]
        elif cmd["fn"] == "testcmpl" and cc in (0, 3):
            answer = self.answers.pop(msgid, None)
            out["answer"] = None if answer is None else bytes(answer).hex()
        elif cmd["fn"] == "purge" and cc == 0:
            self.answers.pop(msgid, None)
        return out

    def drain(self) -> dict:
        got = []
        while True:
            ev = self.vm.wait(timeout=0)
            if ev is None:
                break
            image = bytes(ev)
            item: dict = {"image": image.hex(), "kind": type(ev).__name__}
            if image[3] in (6, 7):
                answer = self.answers.pop(int.from_bytes(image[4:8], "big"), None)
                item["answer"] = None if answer is None else bytes(answer).hex()
            got.append(item)
        return {"irq": got}

    def handle(self, cmd: dict) -> dict:
        op = cmd["op"]
        if op == "logon":
            return self.logon(cmd["system"], cmd["userid"])
        if op == "logoff":
            return self.logoff()
        if op == "call":
            return self.call(cmd)
        if op == "drain":
            return self.drain()
        raise ValueError(f"unknown op {op!r}")


def main() -> None:
    driver = Driver()

    def handle(cmd: dict) -> dict:
        try:
            return driver.handle(cmd)
        except Exception:
            return {"error": traceback.format_exc()}

    serve(handle)
    driver.logoff()


if __name__ == "__main__":
    main()
