"""A child process running a short script, and its output line by line
(for tests that drive a VM in another process with real signals)."""
from __future__ import annotations

import os
import queue
import subprocess
import sys
import textwrap
import threading
from contextlib import contextmanager
from typing import Iterator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# A child VM that waits in its main thread and says each KeyboardInterrupt
# ("WAITING" before each wait, "KI" after each Ctrl-C).
WAITS_FOR_CTRL_C = """
    import shmcp
    vm = shmcp.logon("sleeper")
    while True:
        try:
            print("WAITING", flush=True)
            vm.wait()
        except KeyboardInterrupt:
            print("KI", flush=True)
    """


# A server VM that accepts every path and answers every two-way message in
# upper case, saying READY first (for serving()).
UPPER_ECHO = """
import shmcp
vm = shmcp.logon("server")
vm.accept_all()
print("READY", flush=True)
for msg in vm.messages():
    if not msg.one_way:
        msg.reply(msg.data.upper())
"""


def child(code: str, **env: str) -> subprocess.Popen:
    """A child running ``code`` (dedented) with ``env`` added; its output
    lines go to ``proc.lines``.  SIGINT gets Python's default handler
    whatever the test runner's is."""
    full = dict(os.environ, PYTHONPATH=ROOT, **env)
    code = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n" + \
        textwrap.dedent(code)
    proc = subprocess.Popen([sys.executable, "-c", code], env=full,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    proc.lines = queue.Queue()  # type: ignore[attr-defined]
    threading.Thread(target=lambda: [proc.lines.put(x.strip()) for x in proc.stdout],
                     daemon=True).start()
    return proc


def line(proc: subprocess.Popen, within: float = 30.0) -> str:
    """The child's next line, or "" if none came within ``within`` seconds
    (a generous bound: it is there to end a hung test, not to time one)."""
    try:
        return proc.lines.get(timeout=within)  # type: ignore[attr-defined]
    except queue.Empty:
        return ""


def tell(proc: subprocess.Popen, text: str = "") -> None:
    """A line to the child's stdin."""
    proc.stdin.write(text + "\n")
    proc.stdin.flush()


def finish(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait()


@contextmanager
def serving(code: str, **env: str) -> Iterator[subprocess.Popen]:
    """A child running ``code``, once it has printed READY; killed on exit
    (also when READY never comes)."""
    proc = child(code, **env)
    try:
        assert line(proc) == "READY"
        yield proc
    finally:
        finish(proc)
