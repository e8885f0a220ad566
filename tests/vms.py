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


def stop_inside_the_lock(kid: Child, system: str) -> None:
    """SIGSTOP ``kid`` (a children.lockspin VM) until it is stopped while it
    holds ``system``'s control lock; it stays stopped (SIGCONT it)."""
    import signal

    from shmcp.snapshot import lock_holder, process_state
    from shmcp.system import System

    with System.attach(system) as s:
        def stopped_holding() -> bool:
            os.kill(kid.pid, signal.SIGSTOP)
            eventually(lambda: process_state(kid.pid) == "stopped", what="the stop")
            h = lock_holder(s)
            if h is not None and h.pid == kid.pid:
                return True
            os.kill(kid.pid, signal.SIGCONT)
            return False
        eventually(stopped_holding, timeout=60, what="a stop inside the lock")
