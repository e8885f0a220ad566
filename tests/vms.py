"""Starting child VMs (tests/children.py) and talking to them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


class Child:
    """A child process running one role of tests/children.py."""

    def __init__(self, role: str, *args: object, env: dict | None = None) -> None:
        full_env = dict(os.environ, **(env or {}))
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "children.py"), role, *map(str, args)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=full_env)

    def line(self, timeout: float = 60) -> str:
        """The next line the child prints ('' at its end)."""
        import select
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.kill()
            raise TimeoutError("child printed nothing in time")
        return self.proc.stdout.readline().strip()

    def expect(self, text: str) -> None:
        got = self.line()
        assert got == text, f"child said {got!r}, expected {text!r}"

    def json(self) -> dict:
        got = self.line()
        try:
            return json.loads(got)
        except json.JSONDecodeError:
            raise AssertionError(f"child said {got!r}, expected JSON") from None

    def tell(self, text: str = "go") -> None:
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    @property
    def pid(self) -> int:
        return self.proc.pid


def eventually(check, timeout: float = 20.0, what: str = "condition"):
    """Poll ``check`` until it returns something true (a bound, not a timing
    assertion: the behaviour is that it happens at all)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError(f"{what} did not happen within {timeout} s")


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
