"""make bench's harness, once, in a tiny configuration: it runs and writes its
report.  Proves the harness works; asserts no timing."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ONLY = "core,core-nospin,core-sigpause,iucv-wait,iucv-traced,vmcf,pipe,c-signal,c-iucv"


def test_bench_tiny(tmp_path):
    before = set(os.listdir("/dev/shm"))
    out = subprocess.run([sys.executable, "-m", "bench", "--tiny", "--out", str(tmp_path), "--only", ONLY],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    md = (tmp_path / "results.md").read_text()
    for text in ("## Machine", "## Targets", "## Round trip", "## One-way streaming", "## Fan-in",
                 "## Scaling", "os.pipe", "shmcp core", "shmcp IUCV: handler-free wait", "shmcp VMCF"):
        assert text in md
    raw = json.loads((tmp_path / "results.json").read_text())
    by = {(r["key"], r["workload"]): r for r in raw["results"]}
    # every shmcp workload and os.pipe ran
    for key in ("core", "core-nospin", "core-sigpause", "iucv-wait"):
        for workload in ("rtt", "stream", "fanin", "scale"):
            assert by[(key, workload)]["status"] == "ok", by[(key, workload)]
    assert by[("iucv-wait", "paths")]["status"] == "ok", by[("iucv-wait", "paths")]
    assert by[("iucv-wait", "paths")]["open_paths"] == 10
    for workload in ("rtt", "stream", "fanin"):
        assert by[("vmcf", workload)]["status"] == "ok", by[("vmcf", workload)]
    assert by[("vmcf", "scale")]["status"] == "not run"  # reported, not dropped
    assert by[("iucv-traced", "rtt")]["status"] == "ok", by[("iucv-traced", "rtt")]
    assert by[("iucv-traced", "rtt")]["metrics"]["corrupt"] == 0
    assert by[("pipe", "rtt")]["status"] == "ok"
    assert by[("c-signal", "rtt")]["status"] == "ok", by[("c-signal", "rtt")]
    assert by[("c-iucv", "stream")]["status"] == "ok", by[("c-iucv", "stream")]
    assert "C floor: shmcp core, IUCV one-way from C" in md
    for key in ("core", "iucv-wait", "vmcf", "c-iucv"):
        stream = by[(key, "stream")]["metrics"]
        assert stream["lost"] == 0 and stream["reordered"] == 0 and stream["received"] == stream["sent"]
    for key in ("core", "iucv-wait", "vmcf"):
        assert by[(key, "rtt")]["metrics"]["corrupt"] == 0
        assert by[(key, "fanin")]["metrics"]["corrupt"] == 0
    # its workers' systems are named by their pids: other runs on the
    # machine may have systems up meanwhile
    mine = tuple(f"shmcp.bench-{r['pid']}-" for r in raw["results"] if "pid" in r)
    assert mine
    left = {n for n in set(os.listdir("/dev/shm")) - before if n.startswith(mine)}
    assert not left


def test_a_job_past_its_time_is_killed_and_its_systems_shut_down():
    """The harness kills a worker that overruns with the processes it started
    and shuts down the shmcp system it IPLed (killed, it cannot); the
    semaphores of its multiprocessing objects go too."""
    from bench import harness
    before = set(os.listdir("/dev/shm"))
    job = {"key": "core", "workload": "rtt", "size": 64, "n": 10**9, "warmup": 0, "max_s": 10**6,
           "pin": "none"}
    res = harness.run_job(job, timeout=8)
    assert res["status"] == "failed" and "timed out" in res["error"], res
    # its own systems are named by its pid (other runs on the machine may have
    # systems up meanwhile); semaphores carry no owner's name, so one is a
    # leftover when no live process maps it (a concurrent program's is mapped)
    new = set(os.listdir("/dev/shm")) - before
    left = {n for n in new if n.startswith(f"shmcp.bench-{res['pid']}-")}
    left |= {n for n in new if n.startswith("sem.mp-") and not _mapped(n)}
    assert not left


def _mapped(name: str) -> bool:
    """Whether a live process maps /dev/shm/NAME (one we may not read is
    counted as mapping it: not ours to judge)."""
    path = f"/dev/shm/{name}"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/maps") as f:
                if path in f.read():
                    return True
        except PermissionError:
            return True
        except OSError:  # gone meanwhile
            continue
    return False


def test_the_full_and_quick_runs_include_large_messages():
    """1 MiB round trips and streams are in the default runs, for IUCV and
    its peers os.pipe and socketpair, with fewer round trips than 64 B."""
    from bench import harness
    from bench.registry import TRANSPORTS
    for preset in ("full", "quick"):
        args = harness.parse([f"--{preset}"] if preset != "full" else [])
        jobs = harness.jobs(args, TRANSPORTS)
        big = {(j["key"], j["workload"]) for j in jobs if j["size"] == 1 << 20}
        assert big == {(k, w) for k in ("iucv-wait", "pipe", "socketpair") for w in ("rtt", "stream")}
        small = next(j for j in jobs if j["workload"] == "rtt" and j["size"] == 64)
        large = next(j for j in jobs if j["workload"] == "rtt" and j["size"] == 1 << 20)
        assert 0 < large["n"] < small["n"] and large["warmup"] < small["warmup"]
    assert not [j for j in harness.jobs(harness.parse(["--tiny"]), TRANSPORTS) if j["size"] > 65536]


def test_a_large_message_goes_and_comes_back_whole(tmp_path):
    """1 MiB IUCV messages: every round trip's echo intact, the stream (a
    message limit that keeps the staged messages within the pool) lossless
    and in order."""
    out = subprocess.run([sys.executable, "-m", "bench", "--tiny", "--out", str(tmp_path), "--only",
                          "iucv-wait,pipe", "--workloads", "rtt,stream", "--big-sizes", "1048576"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    raw = json.loads((tmp_path / "results.json").read_text())
    by = {(r["key"], r["workload"]): r for r in raw["results"] if r["size"] == 1 << 20}
    for key in ("iucv-wait", "pipe"):
        rtt, stream = by[(key, "rtt")], by[(key, "stream")]
        assert rtt["status"] == "ok" and stream["status"] == "ok", (rtt, stream)
        assert rtt["metrics"]["corrupt"] == 0 and rtt["metrics"]["complete"]
        m = stream["metrics"]
        assert m["lost"] == 0 and m["reordered"] == 0 and m["received"] == m["sent"] > 0


def test_an_echo_is_intact_only_when_every_byte_is_back():
    from bench.transports import intact, message
    msg = message(3, 7, 4096)
    for kind in (bytes, bytearray, lambda b: memoryview(bytearray(b))):
        assert intact(kind(msg), msg)
        assert not intact(kind(msg[:-1]), msg)
        assert not intact(kind(msg[:-1] + b"\x01"), msg)
        assert not intact(kind(msg + b"\x00"), msg)
