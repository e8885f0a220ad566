"""The compiled core and the package must agree; the core is Linux-only."""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

import shmcp
from shmcp.system import System, shm_name


def test_core_version_matches_the_package():
    from shmcp._native import ffi, lib
    assert ffi.string(lib.shmcp_version()).decode() == shmcp.__version__


def test_a_stale_core_fails_the_import_loudly(tmp_path):
    """The package's Python moves on while the compiled core stays behind."""
    pkg = pathlib.Path(shmcp.__file__).parent
    copy = tmp_path / "shmcp"
    shutil.copytree(pkg, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "_version.py").write_text('__version__ = "0.0.0-newer"\n')
    p = subprocess.run([sys.executable, "-c", "import shmcp"], capture_output=True,
                       text=True, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(tmp_path)))
    assert p.returncode != 0
    assert "stale" in p.stderr and "0.0.0-newer" in p.stderr and shmcp.__version__ in p.stderr


def test_sizes_come_from_the_core():
    from shmcp._native import lib
    assert lib.SHMCP_RECORD_LEN == 40 and lib.SHMCP_USERID_LEN == 8


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the segment away")
def test_segment_of_another_owner_is_refused(system):
    shmcp.ipl(system)
    path = "/dev/shm" + shm_name(system)
    os.chown(path, 65534, -1)
    try:
        with pytest.raises(shmcp.ShmcpError, match=f"{system}.*another user"):
            System.attach(system)
        with pytest.raises(shmcp.ShmcpError, match="another user"):
            shmcp.logon("alice")
    finally:
        os.unlink(path)
