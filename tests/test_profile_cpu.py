"""bench.profile_cpu's fan-in, tiny: every process reports, and the summary
lines (all processes' CPU per round trip, the machine's other work) are
there and add up.  Asserts no timing."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("start", [[], ["--spawn"]], ids=["fork", "spawn"])
@pytest.mark.parametrize("transport", ["iucv-wait", "pipe"])
def test_fanin_reports_every_process(transport, start):
    out = subprocess.run([sys.executable, "-m", "bench.profile_cpu", "fanin", "3", "200",
                          "--transport", transport, *start],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert [ln.split()[1] for ln in lines if ln.startswith("client")] == ["0", "1", "2"]
    server = [ln for ln in lines if ln.startswith("server")]
    assert len(server) == 1 and int(server[0].split()[1]) == 3 * 200 + 3  # with the STOPs
    every = [ln for ln in lines if ln.startswith("all")]
    assert len(every) == 1 and int(every[0].split()[1]) == 3 * 200
    cpu = [float(x) for x in re.findall(r"CPU\s+([\d.]+) us/rt", "\n".join(lines))]
    # the "all" figure is the processes' CPU summed over the same round trips
    per_process = sum(cpu[:-1][:3]) * 200 + cpu[3] * (3 * 200 + 3)
    assert cpu[-1] * 3 * 200 == pytest.approx(per_process, rel=0.05)
    summary = re.search(r"aggregate ([\d,]+) rt/s; cores idle (\d+)%, busy with other work (\d+)%",
                        out.stdout)
    assert summary, out.stdout
    assert 0 <= int(summary.group(2)) <= 100 and 0 <= int(summary.group(3)) <= 100


def test_spawn_is_for_fanin_only():
    out = subprocess.run([sys.executable, "-m", "bench.profile_cpu", "stream", "1000", "--spawn"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "--spawn: for fanin only" in out.stderr
