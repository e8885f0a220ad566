"""The command line as an operator meets it: partners gone, a frozen
system, pipes closed early, malformed arguments (real processes)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from iucv_rpc import connect_pair, local, spawn  # noqa: F401

import shmcp


def shmcp_cmd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shmcp", *args], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ))


def test_a_severed_path_keeps_its_partner_after_the_slot_is_taken(local, spawn, system):
    b = spawn("B")
    pab, _ = connect_pair(local, b)
    with shmcp.System.attach(system) as s:
        b_slot = s.snapshot().vm("B").slot
        b.logoff()  # LOGOFF severs A's end of the path
        c = spawn("C")
        snap = s.snapshot()
    assert snap.vm("C").slot == b_slot  # C now holds what was B's slot

    (a,) = json.loads(shmcp_cmd("query", "iucv", "a", "--json").stdout)["vms"]
    (p,) = a["paths"]
    assert (p["pathid"], p["partner"], p["state"]) == (pab, "B", "severed")
    text = shmcp_cmd("query", "iucv", "a").stdout.splitlines()
    assert text[2].split()[:2] == [str(pab), "B"], text
    assert [e.partner for e in snap.paths if e.userid == "A"] == ["B"]
    frame = shmcp_cmd("monitor", "--once", "--interval", "0.01").stdout
    assert any(line.split()[:4] == ["A", str(pab), "B", "severed"]
               for line in frame.splitlines()), frame
    assert c.userid == "C"
