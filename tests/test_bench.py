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
    # every job is probed before and after: the cores' handoff, in ns
    assert all(len(r["handoff_ns"]) == 2 for r in raw["results"] if r["status"] == "ok")
    if {0, 1} <= os.sched_getaffinity(0):
        assert all(0 < x < 1e6 for r in raw["results"] if r["status"] == "ok" for x in r["handoff_ns"])
        assert "## Round trips, streaming and fan-in by the cores' handoff" in md
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


def test_the_full_and_quick_runs_measure_the_64_byte_stream_by_placement():
    """Each transport that streams runs the 64 B stream once more with its
    ends on two cores and on one, apart from the unpinned stream; the tiny
    preset, a run pinned throughout and a run without the stream do not."""
    from bench import harness
    from bench.registry import TRANSPORTS
    streaming = {t.key for t in TRANSPORTS if "stream" in t.workloads}
    assert {"iucv-wait", "vmcf", "shmcp-path", "pipe", "c-iucv"} <= streaming
    for preset in ("full", "quick"):
        args = harness.parse([f"--{preset}"] if preset != "full" else [])
        jobs = harness.jobs(args, TRANSPORTS)
        placed = [j for j in jobs if j["workload"] == "placement"]
        assert sorted((j["key"], j["pin"]) for j in placed) == \
            sorted((k, p) for k in streaming for p in ("split", "same"))
        assert {j["size"] for j in placed} == {64}
        assert {j["pin"] for j in jobs if j["workload"] == "stream"} == {"none"}
        assert harness.runs_as("placement") == "stream"
    for argv in (["--tiny"], ["--quick", "--pin", "split"], ["--quick", "--workloads", "rtt,fanin"],
                 ["--quick", "--placements", ""]):
        assert not [j for j in harness.jobs(harness.parse(argv), TRANSPORTS)
                    if j["workload"] == "placement"], argv
    only_same = harness.jobs(harness.parse(["--quick", "--placements", "same"]), TRANSPORTS)
    assert {j["pin"] for j in only_same if j["workload"] == "placement"} == {"same"}


def _stream(mps: float) -> dict:
    return {"status": "ok", "metrics": {"msgs_per_s": mps, "mb_per_s": mps * 64 / 1e6, "sent": 10,
                                        "received": 10, "lost": 0, "reordered": 0, "secs": 1.0}}


def _facts() -> dict:
    """A run's machine facts, as the harness writes them, for report tests."""
    return {"date": "2026-12-07", "commit": "abc", "preset": "quick", "duration_s": 1.0, "cores": 2,
            "cores_usable": 2, "cpu": "cpu", "kernel": "k", "python": "3", "cc": "cc", "packages": {},
            "loadavg_start": [0.0, 0.0, 0.0], "leftovers": [],
            "config": {"repeats": 2, "n": 10, "warmup": 1, "sizes": [64], "window": 0.1,
                       "stream_sizes": [64], "clients": 2, "fanin_window": 0.1, "idle": [0],
                       "paths": [], "big_sizes": [], "pin": "none", "placements": ["split", "same"]}}


def test_the_report_reads_streams_and_fan_in_by_the_cores_handoff(tmp_path):
    """A run whose two probes both read over twice the run's fastest ran in
    the slow state; each ratio is to os.pipe's runs in the same state, and
    a run whose probes disagree is counted, in neither column."""
    from bench import report
    runs = [  # key, workload, rate, the probes before and after
        ("pipe", "stream", 1000.0, [30.0, 31.0]), ("pipe", "stream", 1200.0, [35.0, 40.0]),
        ("pipe", "stream", 800.0, [170.0, 165.0]),
        ("iucv-wait", "stream", 990.0, [30.0, 33.0]), ("iucv-wait", "stream", 600.0, [160.0, 180.0]),
        ("iucv-wait", "stream", 1.0, [30.0, 170.0]),  # mixed: in no column
        ("pipe", "fanin", 100.0, [30.0, 30.0]), ("iucv-wait", "fanin", 90.0, [31.0, 30.0]),
        ("pipe", "rtt", 60.0, [30.0, 30.0]), ("pipe", "rtt", 80.0, [170.0, 170.0]),
        ("iucv-wait", "rtt", 3.0, [30.0, 30.0]), ("iucv-wait", "rtt", 6.0, [170.0, 170.0]),
    ]
    not_run = dict(key="py-signal", workload="stream", size=64, pin="none", rep=0, status="not run",
                   error="round trips only")  # as the harness writes one: never run, never probed
    results = []
    for rep, (key, workload, rate, probes) in enumerate(runs):
        metrics = {"fanin": {"rt_per_s": rate, "p50": 1.0, "p99": 2.0, "clients": 2},
                   "rtt": {"p50": rate, "p99": rate, "p999": rate, "n": 10, "corrupt": 0},
                   }.get(workload) or _stream(rate)["metrics"]
        results.append(dict(key=key, workload=workload, size=64, pin="none", rep=rep, status="ok",
                            metrics=metrics, handoff_ns=probes))
    report.write(str(tmp_path), _facts(), results + [not_run])
    md = (tmp_path / "results.md").read_text()
    assert ("* the cores' handoff (a cache line between CPUs 0 and 1, probed before and after each job): "
            "fastest 30 ns, median 32, slowest 180; 4 of 12 jobs ran with both probes over 2× the fastest") in md
    section = md.split("## Round trips, streaming and fan-in by the cores' handoff", 1)[1].split("\n## ", 1)[0]
    stream = section.split("### One-way streaming, 64 B", 1)[1].split("### Fan-in", 1)[0]
    rows = {ln.split(" | ")[0].lstrip("| "): ln for ln in stream.splitlines() if ln.startswith("| ")}
    assert rows["os.pipe"] == "| os.pipe | 1,100 | 1.00× | 800 | 1.00× | 2 / 1 / 0 |"
    assert rows["shmcp IUCV: handler-free wait"] == "| shmcp IUCV: handler-free wait | 990 | 0.90× | 600 | 0.75× | 1 / 1 / 1 |"
    assert "Python kill + sigtimedwait" not in section  # no runs of that workload: no row
    rtt = section.split("### Round trip, 64 B", 1)[1].split("###", 1)[0]
    assert "| transport | fast: p50 µs | os.pipe ÷ fast | slow: p50 µs | os.pipe ÷ slow |" in rtt
    assert "| shmcp IUCV: handler-free wait | 3.0 | 20.00× | 6.0 | 13.33× | 1 / 1 / 0 |" in rtt
    fanin = section.split("### Fan-in", 1)[1]
    assert "| shmcp IUCV: handler-free wait | 90 | 0.90× | – | – | 1 / 0 / 0 |" in fanin


def test_a_run_without_the_probe_says_so_and_has_no_handoff_section(tmp_path):
    from bench import report
    results = [dict(key="pipe", workload="stream", size=64, pin="none", rep=0, **_stream(1000.0),
                    handoff_ns=[None, None])]
    report.write(str(tmp_path), _facts(), results)
    md = (tmp_path / "results.md").read_text()
    assert "probed before and after each job): not measured (fewer than two usable CPUs" in md
    assert "by the cores' handoff" not in md


def test_the_handoff_probe_gives_a_figure_or_says_why_not(tmp_path):
    from bench import harness, machine
    built = harness.build_floors(str(tmp_path))
    probe, why = built["handoff"]
    assert probe, why
    ns = machine.handoff_ns(probe)
    if len(os.sched_getaffinity(0)) >= 2 and {0, 1} <= os.sched_getaffinity(0):
        assert ns is not None and 0 < ns < 1e6
    out = subprocess.run([probe, "0"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2 and "HANDOFFS_PER_BURST" in out.stderr
    assert machine.handoff_ns(None) is None
    assert machine.handoff_ns(str(tmp_path / "no-such-probe")) is None


def test_the_report_reads_each_placement_against_os_pipe_in_that_placement(tmp_path):
    """results.md's placement table: every ratio is to os.pipe measured in
    the same placement; a transport without a result shows "–" and why."""
    from bench import report
    cells = [  # (key, workload, pin, msgs/s per repeat, or an outcome)
        ("pipe", "placement", "split", [900.0, 1100.0]), ("pipe", "placement", "same", [500.0, 500.0]),
        ("shmcp-path", "placement", "split", [2000.0, 2000.0]),
        ("shmcp-path", "placement", "same", [750.0, 750.0]),
        ("iucv-wait", "placement", "split", [1010.0]),
        ("iucv-wait", "placement", "same", {"status": "failed", "error": "worker exited 1: boom"}),
        ("pipe", "stream", "none", [800.0]), ("shmcp-path", "stream", "none", [1200.0]),
        ("iucv-wait", "stream", "none", [400.0]),
    ]
    results = []
    for key, workload, pin, runs in cells:
        outcomes = [_stream(x) for x in runs] if isinstance(runs, list) else [runs]
        results += [dict(out, key=key, workload=workload, size=64, pin=pin, rep=rep, window=0.1)
                    for rep, out in enumerate(outcomes)]
    report.write(str(tmp_path), _facts(), results)
    md = (tmp_path / "results.md").read_text()
    assert "the 64 B stream also under fixed placements: split, same" in md
    section = md.split("## One-way streaming by placement, 64 B", 1)[1].split("\n## ", 1)[0]
    assert md.index("## One-way streaming\n") < md.index("## One-way streaming by placement")
    rows = {ln.split(" | ")[0].lstrip("| "): ln for ln in section.splitlines() if ln.startswith("| ")}
    assert "two cores (split): msgs/s | ÷ os.pipe (split) | one core (same): msgs/s" in section
    assert rows["os.pipe"].startswith("| os.pipe | 1,000 | 1.00× | 500 | 1.00× | 1.00× | 2 / 2 |")
    assert rows["shmcp Pythonic layer: path.send / vm.receive"].startswith(
        "| shmcp Pythonic layer: path.send / vm.receive | 2,000 | 2.00× | 750 | 1.50× | 1.50× | 2 / 2 |")
    iucv = rows["shmcp IUCV: handler-free wait"]
    assert iucv.startswith("| shmcp IUCV: handler-free wait | 1,010 | 1.01× | – | – | 0.50× | 1 / 0 |")
    assert "same: FAILED 1 of 1 runs: worker exited 1: boom" in iucv
    # the unpinned stream's table is the unpinned runs' alone
    stream = md.split("## One-way streaming\n", 1)[1].split("## One-way streaming by placement", 1)[0]
    assert "| os.pipe | 800 |" in stream and "1,000" not in stream


def test_the_placement_rows_run_and_report_again_from_results_json(tmp_path):
    """A real run of the placement jobs (Python transports and the C floor):
    each pinned stream whole and in order, its table in results.md, and
    --report-only writes it again from results.json."""
    cmd = [sys.executable, "-m", "bench", "--tiny", "--out", str(tmp_path), "--only",
           "iucv-wait,c-iucv,pipe", "--workloads", "stream", "--placements", "split,same"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    raw = json.loads((tmp_path / "results.json").read_text())
    assert raw["machine"]["config"]["placements"] == ["split", "same"]
    placed = {(r["key"], r["pin"]): r for r in raw["results"] if r["workload"] == "placement"}
    assert set(placed) == {(k, p) for k in ("iucv-wait", "c-iucv", "pipe") for p in ("split", "same")}
    for r in placed.values():
        assert r["status"] == "ok", r
        m = r["metrics"]
        assert m["lost"] == 0 and m["reordered"] == 0 and m["received"] == m["sent"] > 0
    md = (tmp_path / "results.md").read_text()
    assert "## One-way streaming by placement, 64 B" in md
    (tmp_path / "results.md").unlink()
    out = subprocess.run(cmd + ["--report-only"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "results.md").read_text() == md


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
