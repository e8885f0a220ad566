"""The Pythonic layer's examples run end to end, as `make example-reqrep`,
`make example-stream` and `make example-workers` run them, beside their
multiprocessing twins; each prints what it should and leaves nothing in
/dev/shm."""
from __future__ import annotations

import multiprocessing as mp
import os
import re
import subprocess
import sys

import pytest

import shmcp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

REQREP = ["server: answered 40 requests"] + [f"client{n}: 10 answers, all right" for n in range(4)]
WORKERS = [r"dispatch: WORKER1 died during job \d+; the job goes back",
           r"dispatch: 20 of 20 jobs done, all right"]
EXPECTED = {
    "reqrep": (sorted(REQREP), sorted),
    "stream": (["receiver: 100000 records, in order, none lost"], list),
    "workers": (WORKERS, list),
}


def run(example: str, version: str) -> tuple[list[str], int]:
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "examples", example,
                                                          f"{version}_version.py")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    return out.splitlines(), proc.pid


@pytest.mark.parametrize("version", ["shmcp", "mp"])
@pytest.mark.parametrize("example", sorted(EXPECTED))
def test_example_prints_what_its_readme_says(example, version):
    out, pid = run(example, version)
    expected, order = EXPECTED[example]
    got = order(out)
    assert len(got) == len(expected), out
    for line, pattern in zip(got, expected):
        assert re.fullmatch(pattern, line), (line, pattern)
    if version == "shmcp":  # its own system, shut down: nothing of it in /dev/shm
        assert not [n for n in os.listdir("/dev/shm") if f"{example}-{pid}" in n]


@pytest.mark.parametrize("example", sorted(EXPECTED))
def test_readme_gives_the_line_counts(example):
    """The README's table says how long each version is: it must stay true."""
    readme = open(os.path.join(ROOT, "examples", example, "README.md")).read()
    for version in ("shmcp", "mp"):
        with open(os.path.join(ROOT, "examples", example, f"{version}_version.py")) as f:
            lines = len(f.read().splitlines())
        assert f"| `{version}_version.py` | {lines} |" in readme


def _stream_then_leave(records: int) -> None:
    """A child: connect to RECEIVER, send ``records`` one-way messages, and
    leave at once (the with blocks sever and log off)."""
    with shmcp.logon("sender") as vm:
        with vm.connect("receiver", timeout=30, wait=True) as path:
            for seq in range(records):
                path.send(b"record %d" % seq, one_way=True)


# LAYER BUG (reported to the lead, not fixed here: shmcp/pythonic is another
# helper's): when the partner severs, the layer severs its own end at once,
# which destroys the messages still queued on it; their data is then read
# from freed storage (0xFF bytes), not raised and not kept.  The stream
# example works around it with a closing two-way message.
@pytest.mark.xfail(strict=True, reason="layer bug: a sever overtakes queued one-way data")
def test_records_sent_before_a_sever_arrive_intact(system):
    records = 2000
    child = mp.get_context("fork").Process(target=_stream_then_leave, args=(records,))
    child.start()
    try:
        with shmcp.logon("receiver") as vm:
            path = vm.accept(timeout=30)
            got = [msg.data for msg in path]
    finally:
        child.join(60)
    assert child.exitcode == 0
    assert got == [b"record %d" % seq for seq in range(records)]
