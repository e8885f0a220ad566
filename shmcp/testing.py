"""Support for shmcp's tests, examples and benchmarks (and programs' own tests).

* A private system: ``private_system_name()`` and ``private_system()``, so
  a run never meets another run's VMs; ``shm_left()`` for the check that
  nothing stays in /dev/shm.
* A child VM driven over one protocol: the child prints lines on stdout --
  a word (``READY``, ``DONE``) or one JSON object, bytes inside it as
  ``{"__b__": HEX}`` -- and reads one line at a time on stdin.  The child's
  side is ``say`` (and ``serve``, for a child that answers one JSON command
  a line); the parent's is ``ChildVM``.
* ``run_pair``: the examples' launcher -- two VMs in spawned processes on
  a private system, the second started once the first is ready.

Only the public API is used here: this module sits above every other.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import multiprocessing as mp
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from .session import OwnedSystem, shutdown
from .system import ipl, shm_name

_count = itertools.count()


# -- a private system ------------------------------------------------------------

def private_system_name(tag: str = "test") -> str:
    """A system name no other process uses: ``TAG-PID-N``."""
    return f"{tag}-{os.getpid()}-{next(_count)}"


@contextlib.contextmanager
def private_system(tag: str = "test") -> Iterator[str]:
    """A private system's name, set as $SHMCP_SYSTEM (for children too)
    while the block runs; the system is shut down after it."""
    with OwnedSystem(private_system_name(tag)) as system:
        yield system.name


def shm_left(tag: str = "test", pid: int | None = None) -> set[str]:
    """The private systems (``tag``) of this process (or process ``pid``)
    whose segment is in /dev/shm, as system names."""
    prefix = shm_name(f"{tag}-{os.getpid() if pid is None else pid}-").lstrip("/")
    return {n[len("shmcp."):] for n in os.listdir("/dev/shm") if n.startswith(prefix)}


# -- the protocol ------------------------------------------------------------------

def enc(x: Any) -> Any:
    """``x`` for JSON: bytes as ``{"__b__": HEX}``, in lists and dicts too."""
    if isinstance(x, (bytes, bytearray, memoryview)):
        return {"__b__": bytes(x).hex()}
    if isinstance(x, dict):
        return {k: enc(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [enc(v) for v in x]
    return x


def dec(x: Any) -> Any:
    """What ``enc`` made, back."""
    if isinstance(x, dict):
        if set(x) == {"__b__"}:
            return bytes.fromhex(x["__b__"])
        return {k: dec(v) for k, v in x.items()}
    if isinstance(x, list):
        return [dec(v) for v in x]
    return x


def say(obj: Any) -> None:
    """One line on stdout -- a word or text as it is, anything else as JSON
    -- in one write: processes that share stdout never split each other's
    lines (print() writes the newline apart when unbuffered)."""
    sys.stdout.write((obj if isinstance(obj, str) else json.dumps(enc(obj))) + "\n")
    sys.stdout.flush()


def serve(handle: Callable[[dict], dict], ready: Any = "READY") -> dict | None:
    """The child's side of a driven VM: say ``ready``, then answer each JSON
    command line with ``handle(command)``'s JSON, until stdin ends or an
    answer has ``"exit"`` (returned, so the child can end as it asks)."""
    say(ready)
    for line in sys.stdin:
        if not line.strip():
            break
        answer = handle(dec(json.loads(line)))
        say(answer)
        if "exit" in answer:
            return answer
    return None


class ChildVM:
    """The parent's side: a child process (``python SCRIPT ARGS...``)
    speaking the protocol."""

    def __init__(self, script: str, *args: object, env: dict | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, script, *map(str, args)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, env=dict(os.environ, **(env or {})))
        out, into = self.proc.stdout, self.proc.stdin
        assert out is not None and into is not None  # both piped
        self._out, self._in = out, into

    def line(self, timeout: float = 60) -> str:
        """The next line the child prints ('' at its end)."""
        ready, _, _ = select.select([self._out], [], [], timeout)
        if not ready:
            self.kill()
            raise TimeoutError(f"child printed nothing within {timeout} s")
        return self._out.readline().strip()

    def expect(self, text: str) -> None:
        got = self.line()
        assert got == text, f"child said {got!r}, expected {text!r}"

    def json(self, timeout: float = 60) -> Any:
        """The next line, a JSON object (bytes decoded)."""
        got = self.line(timeout)
        if not got:
            raise EOFError(f"child ended (rc {self.proc.poll()})")
        try:
            return dec(json.loads(got))
        except json.JSONDecodeError:
            raise AssertionError(f"child said {got!r}, expected JSON") from None

    def tell(self, text: str = "go") -> None:
        """One line to the child."""
        self._in.write(text + "\n")
        self._in.flush()

    def submit(self, command: dict) -> None:
        """A JSON command, without waiting for its answer."""
        self.tell(json.dumps(enc(command)))

    def request(self, command: dict, timeout: float = 60) -> Any:
        """A JSON command and its answer."""
        self.submit(command)
        return self.json(timeout)

    def wait(self, timeout: float = 60) -> int:
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        """Ended (killed if it still runs), its pipes closed."""
        self.kill()
        for f in (self._in, self._out):
            with contextlib.suppress(OSError):
                f.close()

    @property
    def pid(self) -> int:
        return self.proc.pid


def eventually(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll ``check`` until it returns something true (a bound, not a timing
    assertion: the behaviour is that it happens at all)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = check()
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError(f"{what} did not happen within {timeout} s")


# -- the examples' launcher ----------------------------------------------------------

def run_pair(tag: str, first: Callable[[str, Any], None], second: Callable[[str], None],
             between: Callable[[str], bool] | None = None) -> bool:
    """IPL a private system, run ``first(system, ready)`` in a spawned
    process and, once it sets ``ready``, ``second(system)`` in another;
    when the second has ended, ``between(system)`` (if given); then wait for
    the first.  Shuts the system down; True if everything ended well."""
    system = f"{tag}-{os.getpid()}"
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    ipl(system)
    try:
        one = ctx.Process(target=first, args=(system, ready))
        one.start()
        if not ready.wait(30):
            print(f"{first.__name__.upper()} did not log on", file=sys.stderr)
            one.kill()
            return False
        two = ctx.Process(target=second, args=(system,))
        two.start()
        two.join(60)
        ok = between(system) if between is not None else True
        one.join(60)
        return ok and one.exitcode == 0 and two.exitcode == 0
    finally:
        shutdown(system)


__all__ = ["private_system_name", "private_system", "shm_left", "enc", "dec", "say", "serve",
           "ChildVM", "eventually", "run_pair"]
