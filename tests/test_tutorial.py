"""docs/tutorial.md's complete programs run as they stand and print the
output the tutorial shows.  A program is a ```python block after a
`<!-- tutorial: program -->` line; its output, if shown, the ```text block
after the next `<!-- tutorial: output -->` line; those marked `asyncio`
use the coroutine twins."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from shmcp.system import shm_name

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
