"""Driving the VMCF child VMs of tests/vmcf_children.py."""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

from shmcp.testing import ChildVM

HERE = os.path.dirname(os.path.abspath(__file__))


class VM(ChildVM):
    """A child VM under remote control: ``vm.do(op, **command)`` -> answer."""

    def __init__(self, userid: str, role: str = "driven", *args: object) -> None:
        self.userid = userid
        super().__init__(os.path.join(HERE, "vmcf_children.py"), role, userid, *args)

    def do(self, op: str, **command: object) -> dict:
        return self.request({"op": op, **command})

    def diag(self, func: int, **command: object) -> dict:
        return self.do("diag", func=func, **command)

    def rc(self, func: int, **command: object) -> int:
        got = self.diag(func, **command)
        assert "rc" in got, got
        return got["rc"]

    def take(self) -> dict:
        return self.do("take")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.submit({"op": "exit"})
            self.wait()


def start(*userids: str) -> list[VM]:
    vms = [VM(u) for u in userids]
    for vm in vms:
        vm.expect("READY")
    return vms


@contextlib.contextmanager
def running(*userids: str) -> Iterator[list[VM]]:
    """The VMs of ``start``, closed (and killed, if still there) on exit."""
    vms = start(*userids)
    try:
        yield vms
    finally:
        for vm in vms:
            vm.close()
            vm.kill()
