"""docs/tutorial.md's complete programs run as they stand and print the
output the tutorial shows.  A program is a ```python block after a
`<!-- tutorial: program -->` line; its output, if shown, the ```text block
after the next `<!-- tutorial: output -->` line; those marked `asyncio`
use the coroutine twins."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import pytest

from shmcp.system import shm_name
from script_child import UPPER_ECHO

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TUTORIAL = os.path.join(ROOT, "docs", "tutorial.md")
BLOCK = re.compile(r"<!-- tutorial: (program|output)( asyncio)? -->\n```\w+\n(.*?)```", re.S)


def programs() -> list[tuple[str, bool, str | None]]:
    """(source, is asyncio, expected output or None), in the tutorial's order."""
    found: list[tuple[str, bool, str | None]] = []
    with open(TUTORIAL) as f:
        for kind, aio, text in BLOCK.findall(f.read()):
            if kind == "program":
                found.append((text, bool(aio), None))
            else:
                assert found and found[-1][2] is None, "an output block without its program"
                found[-1] = (found[-1][0], found[-1][1], text)
    return found


PROGRAMS = programs()


def test_the_tutorial_has_its_programs():
    assert len(PROGRAMS) >= 3
    assert any(aio for _, aio, _ in PROGRAMS)


@pytest.mark.parametrize("number", range(len(PROGRAMS)))
def test_tutorial_program_runs(number, system, tmp_path):
    source, _, expected = PROGRAMS[number]
    program = tmp_path / f"tutorial_{number}.py"
    program.write_text(source)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env["SHMCP_SYSTEM"] = system
    done = subprocess.run([sys.executable, str(program)], capture_output=True, text=True,
                          timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    if expected is not None:
        assert done.stdout == expected
    # each program shuts its system down itself (one IPLed with unique=True
    # is named after $SHMCP_SYSTEM: SYSTEM-PID-N)
    assert not os.path.exists("/dev/shm" + shm_name(system))
    prefix = shm_name(f"{system}-").lstrip("/")
    assert not [n for n in os.listdir("/dev/shm") if n.startswith(prefix)]


def test_every_python_block_of_the_tutorial_compiles():
    """The fragments that are not whole programs are at least valid Python."""
    with open(TUTORIAL) as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    assert len(blocks) > len(PROGRAMS)
    for number, block in enumerate(blocks):
        compile(block, f"docs/tutorial.md python block {number}", "exec")


FRAGMENT = re.compile(r"<!-- tutorial: fragment( client| server)? -->\n```python\n(.*?)```", re.S)
FRAGMENTS = [(side.strip(), text) for side, text in FRAGMENT.findall(open(TUTORIAL).read())]

# What the tutorial says the pieces between its programs have at hand:
# `vm`, and `path` connected to a server that answers in upper case
CLIENT = """
import shmcp
vm = shmcp.logon("client")
path = vm.connect("server", wait=True, timeout=30)
"""
SERVER = """
import shmcp
vm = shmcp.logon("server")
vm.accept_all()
print("READY", flush=True)
"""


def test_every_python_block_of_the_tutorial_is_a_program_or_a_marked_fragment():
    with open(TUTORIAL) as f:
        assert len(re.findall(r"```python\n", f.read())) == len(PROGRAMS) + len(FRAGMENTS)


def _program(tmp_path, name: str, source: str) -> list[str]:
    (tmp_path / name).write_text(source)
    # Ctrl-C must reach it whatever the test runner ignores
    return [sys.executable, "-c", "import signal, runpy; signal.signal(signal.SIGINT, "
            f"signal.default_int_handler); runpy.run_path({str(tmp_path / name)!r})"]


@pytest.mark.parametrize("number", range(len(FRAGMENTS)))
def test_tutorial_fragment_runs_where_the_tutorial_puts_it(number, system, tmp_path):
    """A fragment runs in a real process with what the tutorial says it
    has: a client fragment beside an echo server, a server fragment
    (whose loop runs until Ctrl-C) answering a client."""
    side, text = FRAGMENTS[number]
    env = dict(os.environ, SHMCP_SYSTEM=system)
    run = dict(capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    if not side:
        done = subprocess.run(_program(tmp_path, "alone.py", text), **run)
        assert done.returncode == 0, done.stderr
        return
    partner_source, source = (UPPER_ECHO, CLIENT + text) if side == "client" else (None, SERVER + text)
    if side == "server":
        partner_source = source
        source = CLIENT + "print([path.send(b'job %d' % n) for n in range(3)])\n"
    partner = subprocess.Popen(_program(tmp_path, "partner.py", partner_source),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env, cwd=tmp_path)
    try:
        assert partner.stdout.readline() == "READY\n"
        done = subprocess.run(_program(tmp_path, "fragment.py", source), **run)
    finally:
        partner.send_signal(signal.SIGINT)  # the servers' loops run until Ctrl-C
        _, err = partner.communicate(timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "KeyboardInterrupt" in err and "Error" not in err.replace("KeyboardInterrupt", "")
    if side == "server":
        assert done.stdout == "[b'JOB 0', b'JOB 1', b'JOB 2']\n"
