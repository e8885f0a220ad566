"""examples/asyncio_service runs end to end, as `make example-asyncio` runs
it (server in the background, then the client), and prints what it should."""
from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "examples", "asyncio_service")


def test_example_asyncio(system):
    server = subprocess.Popen([sys.executable, os.path.join(EXAMPLE, "server.py")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        client = subprocess.run([sys.executable, os.path.join(EXAMPLE, "client.py")],
                                capture_output=True, text=True, timeout=120, cwd=ROOT)
        out, err = server.communicate(timeout=60)
    finally:
        server.kill()
        server.wait()
    assert client.returncode == 0, client.stdout + client.stderr
    assert server.returncode == 0, out + err
    assert client.stdout.splitlines() == [
        "KVCLIENT: connected to KVSERVER",
        "KVCLIENT: 10 SETs answered {b'OK'} while WAIT was in flight: True",
        "KVCLIENT: values v0 v1 v4 v9 v16 v25 v36 v49 v64 v81",
        "KVCLIENT: WAITED 0.2",
        "KVCLIENT: FROB was rejected",
        "KVCLIENT: WAIT 5 timed out (withdrawn)",
        "KVCLIENT: BYE",
    ]
    lines = out.splitlines()
    assert lines[:2] == ["KVSERVER: ready", "KVSERVER: note from KVCLIENT: hello from asyncio"]
    # 25, or 24 if the withdrawn WAIT 5 was purged before the server took it
    assert lines[2:] in (["KVSERVER: stopped after 25 messages, 10 keys"],
                         ["KVSERVER: stopped after 24 messages, 10 keys"])
    assert err == ""


def test_make_example_asyncio_leaves_nothing_in_dev_shm():
    """The make target itself: its two programs share a system of their own,
    shut down at the end.  Before, they used the default system SHMCP and
    left /dev/shm/shmcp.SHMCP behind."""
    def ours() -> set[str]:
        return {n for n in os.listdir("/dev/shm") if n.startswith("shmcp.example-asyncio")}
    default = os.path.exists("/dev/shm/shmcp.SHMCP")
    before = ours()
    done = subprocess.run(["make", "-s", "-o", ".venv/.installed", "example-asyncio",
                           f"PY={sys.executable}"], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={k: v for k, v in os.environ.items()
                                                      if k != "SHMCP_SYSTEM"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "KVCLIENT: BYE" in done.stdout and "KVSERVER: stopped after" in done.stdout
    assert ours() == before
    assert os.path.exists("/dev/shm/shmcp.SHMCP") == default
