"""`python -m bench`'s option values: each bad one is an argparse error naming
the option and the value, before any job runs; good ones parse as before.
No bench is run."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import harness

ROOT = Path(__file__).resolve().parent.parent

BAD = [
    # (option, value, what the error says beside them)
    ("--only", "nosuch", "unknown transport 'nosuch'"),
    ("--only", "pipe,pipe", "pipe is given twice"),
    ("--only", "", "an empty list"),
    ("--only", "pipe,,core", "an empty item"),
    ("--workloads", "rtt,bogus", "unknown workload 'bogus'"),
    ("--workloads", "rtt,rtt", "rtt is given twice"),
    ("--workloads", " ", "an empty list"),
    ("--repeats", "0", "at least 1"),
    ("--repeats", "-2", "at least 1"),
    ("--repeats", "three", "not a whole number"),
    ("--n", "0", "at least 1"),
    ("--n", "1.5", "not a whole number"),
    ("--warmup", "-1", "at least 0"),
    ("--sizes", "0", "must be at least 8"),
    ("--sizes", "64,-8", "-8: must be at least 8"),
    ("--sizes", "64,x", "x: not a whole number"),
    ("--sizes", "", "an empty list"),
    ("--sizes", "64,64", "64 is given twice"),
    ("--stream-sizes", "4", "must be at least 8"),
    ("--stream-sizes", "64,", "an empty item"),
    ("--big-sizes", "0", "must be at least 8"),
    ("--big-sizes", "1048576,1048576", "1048576 is given twice"),
    ("--big-sizes", "1M", "not a whole number"),
    ("--window", "0", "above 0"),
    ("--window", "-1", "above 0"),
    ("--window", "nan", "above 0"),
    ("--window", "inf", "above 0"),
    ("--window", "soon", "not a number of seconds"),
    ("--clients", "0", "at least 1"),
    ("--clients", "256", "at most 255"),
    ("--fanin-window", "0", "above 0"),
    ("--idle", "-1", "must be at least 0"),
    ("--idle", "0,8,8", "8 is given twice"),
    ("--idle", "5000", "must be at most"),
    ("--idle", "", "an empty list"),
    ("--paths", "0", "must be at least 1"),
    ("--paths", "10,100000", "100000: must be at most"),
    ("--max-s", "0", "above 0"),
    ("--pin", "both", "invalid choice"),
    ("--placements", "both", "unknown placement 'both'"),
    ("--placements", "split,split", "split is given twice"),
    ("--placements", "split,", "an empty item"),
    ("--floors", "/nonexistent/floors", "not an executable file"),
]


@pytest.mark.parametrize("option,value,why", BAD, ids=[f"{o}={v!r}" for o, v, _ in BAD])
def test_a_bad_value_is_an_error_naming_option_and_value(capsys, option, value, why):
    with pytest.raises(SystemExit) as exc:
        harness.parse(["--tiny", option, value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err, err
    assert repr(value) in err or f"'{value}'" in err, err
    assert why in err, err


def test_out_must_be_a_directory(capsys, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    for out in (str(afile), ""):
        with pytest.raises(SystemExit):
            harness.parse(["--tiny", "--out", out])
        err = capsys.readouterr().err
        assert "argument --out" in err and repr(out) in err and "not a directory" in err


def test_report_only_needs_results_json(capsys, tmp_path):
    with pytest.raises(SystemExit):
        harness.parse(["--report-only", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert "argument --report-only" in err and str(tmp_path) in err


def test_an_unknown_preset_in_the_environment_is_an_error(capsys, monkeypatch):
    monkeypatch.setenv("BENCH_PRESET", "huge")
    with pytest.raises(SystemExit):
        harness.parse([])
    assert "BENCH_PRESET 'huge'" in capsys.readouterr().err


def test_good_values_parse(tmp_path):
    args = harness.parse(["--quick", "--out", str(tmp_path), "--only", "shmcp-path,iucv-wait,pipe",
                          "--workloads", "rtt,stream", "--sizes", "64", "--stream-sizes", "64,4096",
                          "--big-sizes", "", "--repeats", "3", "--n", "100", "--warmup", "0",
                          "--window", "0.5", "--clients", "255", "--idle", "0,8", "--paths", "1,10",
                          "--max-s", "2.5"])
    assert args.only == ["shmcp-path", "iucv-wait", "pipe"]
    assert args.workloads == ["rtt", "stream"]
    assert (args.sizes, args.stream_sizes, args.big_sizes) == ([64], [64, 4096], [])
    assert (args.repeats, args.n, args.warmup, args.clients) == (3, 100, 0, 255)
    assert (args.window, args.max_s, args.idle, args.paths) == (0.5, 2.5, [0, 8], [1, 10])
    from bench.registry import BY_KEY
    jobs = harness.jobs(args, [BY_KEY[k] for k in args.only])
    assert {(j["workload"], j["size"]) for j in jobs} == {("rtt", 64), ("stream", 64), ("stream", 4096),
                                                          ("placement", 64)}
    assert harness.parse(["--quick", "--placements", "same,split"]).placements == ["same", "split"]
    assert harness.parse(["--quick", "--placements", ""]).placements == []


def test_the_command_refuses_before_running_anything(tmp_path):
    """`python -m bench --big-sizes 0` (the value that used to make failing
    jobs) stops at once, writing nothing."""
    out = subprocess.run([sys.executable, "-m", "bench", "--quick", "--big-sizes", "0",
                          "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                         timeout=60, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 2
    assert "argument --big-sizes: '0'" in out.stderr
    assert not out.stdout and not os.listdir(tmp_path)
