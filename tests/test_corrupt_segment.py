"""A corrupted segment: random bytes at random places of one region at a
time (header, trace ring, VM table, IUCV's tables, VMCF's, rings, tags,
pool), then a scripted workload (tests/corrupt_trials.py).  Every trial
ends with each call returning a result or an error code (CorruptSegment
where a check caught the damage): never a signal, never a hang.

Each trial runs in a child process of a batch process, so a crash is seen
as a signal death.  Under CI the trials are always the same ones."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest

from corrupt_trials import BOUND, REGIONS

HERE = os.path.dirname(os.path.abspath(__file__))


def first_trial() -> int:
    """Trial numbers are seeds: fixed under CI, fresh otherwise."""
    return 0 if os.environ.get("CI") else random.randrange(1 << 40)


def run_trials(first: int, count: int, batches: int = 2) -> list[dict]:
    """Trials first .. first+count-1 in @batches processes side by side."""
    per = -(-count // batches)
    procs = [subprocess.Popen([sys.executable, os.path.join(HERE, "corrupt_trials.py"),
                               str(first + i * per), str(min(per, count - i * per))],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(batches)]
    results = []
    for p in procs:
        # each trial has its own bound inside the batch; this one only
        # keeps a broken batch from holding the suite for ever
        out, err = p.communicate(timeout=per * (BOUND + 5))
        assert p.returncode == 0, f"a trial batch failed:\n{err[-4000:]}"
        results += [json.loads(line) for line in out.splitlines()]
    assert len(results) == count
    return results


def check(results: list[dict]) -> None:
    bad = [r for r in results if r["outcome"] != "ok"]
    assert not bad, (
        f"{len(bad)} of {len(results)} trials crashed, hung or raised; "
        "rerun one with: python tests/corrupt_trials.py TRIAL 1\n"
        + "\n".join(json.dumps(r) for r in bad[:10]))
    assert {r["region"] for r in results} == set(REGIONS)


def test_corrupt_regions_never_crash_or_hang():
    check(run_trials(first_trial(), 50 * len(REGIONS)))


@pytest.mark.stress
def test_corrupt_regions_thousands_of_trials():
    first = first_trial()
    results = run_trials(first, 500 * len(REGIONS))
    check(results)
    print(f"\n{len(results)} trials from {first}: 0 crashes, 0 hangs")
