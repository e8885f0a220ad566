"""``shmcp query`` and ``shmcp ipl`` run as commands against live VMs."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from iucv_rpc import connect_pair, local, send, spawn  # noqa: F401
from vms import Child, stop_inside_the_lock


def shmcp_cmd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shmcp", *args], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ))


def query_json(*args: str) -> dict:
    done = shmcp_cmd("query", *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_query_help_lists_what_can_be_queried(system):
    done = shmcp_cmd("query", "--help")
    assert done.returncode == 0
    for what in ("names", "iucv", "vmcf", "storage"):
        assert f"    {what} " in done.stdout
    bad = shmcp_cmd("query", "bogus")
    assert bad.returncode == 2 and "choose from 'names', 'iucv', 'vmcf', 'storage'" in bad.stderr


def test_ipl_options_have_help_and_a_second_ipl_says_it_replaced(system):
    done = shmcp_cmd("ipl", "--help")
    assert "virtual machines it can hold" in done.stdout
    assert "external interrupts each VM's queue holds" in done.stdout
    first = shmcp_cmd("ipl", "--max-vms", "8")
    assert first.stdout == f"system {system} IPLed\n"
    again = shmcp_cmd("ipl")
    assert again.returncode == 0
    assert again.stdout == (f"system {system} was up but no virtual machine of it was alive: "
                            "replaced by a fresh IPL\n")


def test_query_names_iucv_storage_against_live_vms(local, spawn):
    b = spawn("B")
    pab, pba = connect_pair(local, b)
    m1 = send(local, pab, b"q" * 300)["msgid"]

    names = shmcp_cmd("query", "names")
    lines = names.stdout.splitlines()
    assert lines[0].split() == ["USERID", "PID", "PROCESS", "FACILITIES", "QUEUED"]
    assert lines[1].split()[:2] == ["A", str(os.getpid())]
    assert lines[2].split()[:2] == ["B", str(b.proc.pid)] and "IUCV" in lines[2]
    js = query_json("names")
    assert [v["userid"] for v in js["vms"]] == ["A", "B"] and js["lock_holder"] is None
    assert js["vms"][1]["queued"]["iucv"] == 1  # the 09 of m1
    assert shmcp_cmd("QUERY", "NAMES").stdout == names.stdout  # CP's words in any case

    js = query_json("iucv", "b")
    (vb,) = js["vms"]
    assert vb["userid"] == "B" and vb["declared"]
    (p,) = vb["paths"]
    assert (p["pathid"], p["partner"], p["partner_pathid"], p["state"]) == (pba, "A", pab, "active")
    assert [(m["msgid"], m["length"], m["oneway"]) for m in vb["queues"]["send"]] == \
        [(m1, 300, False)]
    assert vb["queues"]["receive"] == vb["queues"]["reply"] == []
    text = shmcp_cmd("query", "iucv").stdout
    assert "B        paths 1 of 64" in text
    assert any(line.split()[:3] == ["send", str(m1), str(pba)] for line in text.splitlines())
    missing = shmcp_cmd("query", "iucv", "nobody")
    assert missing.returncode == 1 and "NOBODY is not logged on" in missing.stderr

    st = query_json("storage")
    assert st["used"] + st["free"] == st["total"] and st["used"] >= 300
    assert sum(o["bytes"] for o in st["by_owner"]) == st["used"]
    assert shmcp_cmd("query", "storage").stdout.startswith("storage 64 MiB: ")

    vm = query_json("vmcf")
    assert [(v["userid"], v["authorized"]) for v in vm["vms"]] == [("A", False), ("B", False)]


def test_query_names_shows_a_stopped_lock_holder(system):
    kid = Child("lockspin", "SPIN")
    try:
        kid.expect("READY")
        stop_inside_the_lock(kid, system)
        done = shmcp_cmd("query", "names", "--wait", "0.2")
        assert done.returncode == 0, done.stderr
        first, heading, row = done.stdout.splitlines()
        assert first.startswith(f"the control lock is held by PID {kid.pid} (SPIN)")
        assert "stopped" in first and f"kill -CONT {kid.pid}" in first
        assert row.split() == ["SPIN", str(kid.pid), "stopped"]
        js = query_json("names", "--wait", "0.2")
        assert js["lock_holder"]["pid"] == kid.pid and js["lock_holder"]["process"] == "stopped"
    finally:
        if kid.proc.poll() is None:
            os.kill(kid.pid, signal.SIGCONT)
        kid.kill()
