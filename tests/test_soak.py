"""The soak (issue 13, tests/soak.py): VMs doing random IUCV, some
SIGKILLed and started again, every ledger checked -- nothing received twice,
nothing lost, nothing corrupted, no call hung, storage back at its start.

CI runs a short form (8 VMs, 12 s); `make stress` the long one: 32 VMs for
10 minutes, or $SHMCP_SOAK_VMS VMs for $SHMCP_SOAK_SECONDS seconds.
"""
from __future__ import annotations

import json
import os

import pytest

from soak import Soak


def soak(system: str, tmp_path, vms: int, seconds: float) -> dict:
    figures = Soak(system, vms, seconds, str(tmp_path)).run()
    print(json.dumps(figures, indent=1))
    assert figures["problems"] == []
    assert figures["lost"] == 0 and figures["duplicates"] == 0
    assert figures["storage back"]
    assert figures["kills"] > 0 and figures["completed"] > 0
    return figures


def test_soak_short(system, tmp_path):
    soak(system, tmp_path, 8, 12)


@pytest.mark.stress
def test_soak(system, tmp_path):
    soak(system, tmp_path, int(os.environ.get("SHMCP_SOAK_VMS", 32)),
         float(os.environ.get("SHMCP_SOAK_SECONDS", 600)))
