"""The VMCF examples run end to end, as `make example-vmcf` / `make
example-smsg` run them, and print what they should."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(script: str) -> list[str]:
    done = subprocess.run([sys.executable, os.path.join(ROOT, "examples", script)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()


def lines_of(out: list[str], who: str) -> list[str]:
    """One VM's lines, in its own order (two processes interleave freely)."""
    return [line for line in out if line.startswith(who + ":")]


EXPECTED = {
    "vmcf/pair.py": {
        "CLIENT": [
            "CLIENT: SERVER identified itself: READY",
            "CLIENT: reply to 1: 'HELLO' (OK)",
            "CLIENT: reply to 2: 'VIRTUAL MACHINE' (OK)",
            "CLIENT: reply to 3: 'COMMUNICATION FACILITY' (OK)",
            "CLIENT: reply to 4: 'BYE' (OK)",
        ],
        "SERVER": [
            "SERVER: available, IDENTIFY sent to CLIENT",
            "SERVER: request 1 from CLIENT: 'hello'",
            "SERVER: request 2 from CLIENT: 'virtual machine'",
            "SERVER: request 3 from CLIENT: 'communication facility'",
            "SERVER: request 4 from CLIENT: 'QUIT'",
        ],
        "last": "example-vmcf: done",
    },
    "smsg/server.py": {
        "USER1": [
            "USER1: SRVMACH answered: SUM 42",
            "USER1: SRVMACH answered: Hello from USER1",
            "USER1: SRVMACH answered: UNKNOWN COMMAND FROB",
            "USER1: SRVMACH answered: 4 COMMANDS SERVED",
        ],
        "SRVMACH": [
            "SRVMACH: from USER1: ADD 2 40",
            "SRVMACH: from USER1: ECHO Hello from USER1",
            "SRVMACH: from USER1: FROB",
            "SRVMACH: from USER1: COUNT",
            "SRVMACH: from OPERATOR: STOP",
            "SRVMACH: stopped by OPERATOR",
        ],
        "last": "example-smsg: done",
    },
}


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_example(system, script):
    out = run(script)
    want = EXPECTED[script]
    for who, lines in want.items():
        if who != "last":
            assert lines_of(out, who) == lines, "\n".join(out)
    assert out[-1] == want["last"]
