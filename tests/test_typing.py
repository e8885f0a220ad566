"""The package is typed (py.typed) and mypy finds nothing wrong with it."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

import shmcp

pytest.importorskip("mypy")


def test_mypy_is_clean(tmp_path):
    package = os.path.dirname(shmcp.__file__)
    assert os.path.exists(os.path.join(package, "py.typed"))
    p = subprocess.run([sys.executable, "-m", "mypy", "--ignore-missing-imports",
                        "--cache-dir", str(tmp_path), package],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
