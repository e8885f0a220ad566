"""``shmcp monitor --once``: one frame, parsed, against live VMs."""
from __future__ import annotations

import os
import re
import subprocess
import sys

from iucv_rpc import connect_pair, local, send, spawn  # noqa: F401


def monitor_once(columns: int) -> list[str]:
    done = subprocess.run([sys.executable, "-m", "shmcp", "monitor", "--once", "--interval", "0.2"],
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, COLUMNS=str(columns), LINES="24"))
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def table(lines: list[str], first: str) -> tuple[list[str], list[list[str]]]:
    """The heading and rows of the table whose heading starts with ``first``
    (rows end at a blank line, another heading or the end)."""
    at = next(i for i, line in enumerate(lines) if line.split()[:1] == [first])
    heading = lines[at].split()
    rows = []
    for line in lines[at + 2:]:  # past the rule under the heading
        if not line.strip() or line.split()[0] in ("USERID", "..."):
            break
        rows.append(line.split())
    return heading, rows


def test_monitor_once_shows_vms_paths_queue_depths_and_storage(local, spawn, system):
    b = spawn("B")
    pab, pba = connect_pair(local, b)
    send(local, pab, b"m" * 1000)
    send(local, pab, b"n" * 10, answer=None)
    lines = monitor_once(80)
    assert all(len(line) <= 80 for line in lines)
    title = lines[0]
    assert re.match(rf"shmcp {system}  \d\d:\d\d:\d\d  up  VMs 2  paths 2  msgs/s [\d,]+  "
                    r"ints/s [\d,]+$", title), title
    assert re.match(r"storage [\d.]+ \w+ used of 64 MiB, largest free [\d.]+ \w+  logoffs 0  "
                    r"tracers 0$", lines[1]), lines[1]
    heading, vms = table(lines, "USERID")
    assert heading == ["USERID", "PID", "PROCESS", "FAC", "PATHS", "QUEUED", "INTS/S", "STORAGE"]
    assert [r[:2] for r in vms] == [["A", str(os.getpid())], ["B", str(b.proc.pid)]]
    assert vms[1][3] == "IUCV" and vms[1][4] == "1" and vms[1][5] == "2"  # two 09s queued
    heading, paths = table(lines[lines.index(next(x for x in lines if "PATHID" in x)):], "USERID")
    assert heading == ["USERID", "PATHID", "PARTNER", "STATE", "LIM", "OUT", "SEND", "RECV",
                       "REPLY"]
    rows = {(r[0], int(r[1])): r for r in paths}
    assert rows[("A", pab)][2:] == ["B", "active", "10", "2", "0", "0", "0"]
    assert rows[("B", pba)][2:] == ["A", "active", "10", "0", "2", "0", "0"]
    wide = monitor_once(132)
    assert all(len(line) <= 132 for line in wide)
    assert [r[:2] for r in table(wide, "USERID")[1]] == [r[:2] for r in vms]
