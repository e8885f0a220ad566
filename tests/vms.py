"""Starting child VMs (tests/children.py) and talking to them."""
from __future__ import annotations

import os

from shmcp.testing import ChildVM, eventually

__all__ = ["Child", "eventually", "run_senders"]

HERE = os.path.dirname(os.path.abspath(__file__))


class Child(ChildVM):
    """A child process running one role of tests/children.py."""

    def __init__(self, role: str, *args: object, env: dict | None = None) -> None:
        super().__init__(os.path.join(HERE, "children.py"), role, *args, env=env)


def run_senders(senders: int, per_sender: int, mode: str) -> dict:
    """RX counts ``senders`` x ``per_sender`` interrupts (children.receive in
    ``mode``) queued by TX0.. at once; returns RX's findings."""
    rx = Child("receive", "RX", senders, senders * per_sender, mode)
    tx = [Child("send", f"TX{i}", "RX", i, per_sender) for i in range(senders)]
    try:
        rx.expect("READY")
        for t in tx:
            t.expect("READY")
        for t in tx:
            t.tell()
        for t in tx:
            assert t.json()["sent"] == per_sender
        result = rx.json()
        for t in tx:
            t.tell()
            assert t.wait() == 0
        assert rx.wait() == 0
        return result
    finally:
        for c in [rx, *tx]:
            c.kill()
