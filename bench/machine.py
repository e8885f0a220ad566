"""The machine a run happened on, and what it left in /dev/shm."""
from __future__ import annotations

import json
import os
import platform
import signal
import subprocess
import sys
import time
from importlib import metadata

import psutil

PACKAGES = ("shmcp", "cffi", "posix_ipc", "pyzmq", "faster-fifo", "iceoryx2", "matplotlib")
SHM_DIRS = ("/dev/shm", "/dev/mqueue")


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        return "unavailable"


def facts() -> dict:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "cc": _first_line([os.environ.get("CC", "gcc"), "--version"]),
        "loadavg_start": os.getloadavg(),
        "commit": _first_line(["git", "rev-parse", "--short", "HEAD"]),
        "packages": versions,
    }


def handoff_ns(probe: str | None) -> float | None:
    """The cores' handoff latency now, in ns (bench/handoff.c), or None
    when there is no probe or it gave no figure (fewer than two CPUs)."""
    if not probe:
        return None
    try:
        out = subprocess.run([probe], capture_output=True, text=True, timeout=30)
        return json.loads(out.stdout)["ns"]
    except (OSError, subprocess.TimeoutExpired, ValueError, KeyError, TypeError):
        return None


def shm_entries() -> set[str]:
    out = set()
    for d in SHM_DIRS:
        try:
            out |= {f"{d}/{n}" for n in os.listdir(d)}
        except OSError:
            pass
    return out


def kill_job(proc: subprocess.Popen) -> None:
    """Kill a worker and the processes it started, then shut down the shmcp
    systems it IPLed (the transports name them bench-PID-N): killed, it
    could not do so itself.  multiprocessing's resource tracker is spared
    until the rest are gone, so it unlinks the semaphores they leaked."""
    import shmcp  # here: the harness itself never logs on
    from shmcp.testing import shm_left
    try:
        worker = psutil.Process(proc.pid)
        group = [worker] + worker.children(recursive=True)
    except psutil.NoSuchProcess:
        group = []
    trackers = [p for p in group if _is_resource_tracker(p)]
    for p in group:
        if p not in trackers:
            _kill(p)
    proc.communicate()
    psutil.wait_procs(trackers, timeout=5)
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of its group
    except ProcessLookupError:
        pass
    for name in shm_left("bench", proc.pid):
        shmcp.shutdown(name)


def _is_resource_tracker(p: psutil.Process) -> bool:
    try:
        return any("resource_tracker" in part for part in p.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _kill(p: psutil.Process) -> None:
    try:
        p.kill()
    except psutil.NoSuchProcess:
        pass


def clean_shm(before: set[str]) -> list[str]:
    """What the run added to /dev/shm and /dev/mqueue.  iceoryx2 leaves its
    global management segment (``iox2_*``) behind when its last node goes:
    those are removed and reported; anything else is only reported."""
    report = []
    for path in sorted(shm_entries() - before):
        if os.path.basename(path).startswith("iox2_"):
            try:
                os.unlink(path)
                report.append(f"{path} (iceoryx2's, removed)")
            except OSError as exc:
                report.append(f"{path} (iceoryx2's, could not remove: {exc})")
        else:
            report.append(path)
    return report
