"""Every transport the harness knows, and which workloads each runs.

A row is never silently absent: a transport whose package is missing, whose
facility is not built yet, or that cannot run a workload is reported with
the reason.  IUCV (bench/transports/shmcp_iucv.py) and VMCF
(bench/transports/shmcp_vmcf.py) use only shmcp's public API; their entries
report "pending" only where ``shmcp.iucv`` / ``shmcp.vmcf`` do not import.
The "paths" workload (the 64 B round trip with 10 or 100 open paths) is
IUCV's alone."""
from __future__ import annotations

import importlib
import json
import os
import sys
import importlib.util
from dataclasses import dataclass, field

ALL_WORKLOADS = ("rtt", "stream", "fanin", "scale")
IUCV_WORKLOADS = ALL_WORKLOADS + ("paths",)   # + the 64 B round trip with idle open paths


@dataclass(frozen=True)
class Transport:
    key: str                    # short id used on the command line
    label: str                  # as the report shows it
    module: str                 # bench.transports.X, or "floors"
    kind: str                   # "shmcp", "peer", "floor"
    opts: dict = field(default_factory=dict)
    workloads: tuple = ("rtt", "stream", "fanin")
    needs: str = ""             # a package or facility module that must import
    pending: str = ""           # why it cannot be measured yet, if the needs are missing
    big: bool = False           # also measured with large messages (the harness's big_sizes)

    def status(self) -> str | None:
        """None if runnable, else why not (install failure, pending facility)."""
        for mod in filter(None, (self.needs, self.module if self.module != "floors" else "")):
            try:
                if mod.startswith("shmcp.") and importlib.util.find_spec(mod) is None:
                    raise ImportError(f"no module named {mod!r}")
                importlib.import_module(mod)
            except Exception as exc:  # noqa: BLE001 -- any import failure is the report
                if self.pending:
                    return f"pending: {self.pending}"
                why = _install_failures().get(PACKAGE_OF.get(mod, mod))
                return why or f"not installed / failed to import: {type(exc).__name__}: {exc}"
        return None


PACKAGE_OF = {"zmq": "pyzmq", "faster_fifo": "faster-fifo", "posix_ipc": "posix_ipc"}


def _install_failures() -> dict:
    """What bench/install.py recorded for packages that would not install."""
    try:
        with open(os.path.join(sys.prefix, "bench-install.json")) as f:
            return {k: v for k, v in json.load(f).items() if v != "ok"}
    except (OSError, ValueError):
        return {}


_PENDING_IUCV = "facility not built yet (IUCV, issue 3)"
_PENDING_VMCF = "facility not built yet (VMCF, issue 4)"

TRANSPORTS: list[Transport] = [
    # shmcp, at the level that exists: the core's interrupt queue
    Transport("core", "shmcp core: queue_interrupt + wait (default spin)", "bench.transports.shmcp_core",
              "shmcp", {"mode": "wait"}, ALL_WORKLOADS),
    Transport("core-nospin", "shmcp core: wait, spin off (futex doorbell)", "bench.transports.shmcp_core",
              "shmcp", {"mode": "wait", "spin_us": 0}, ALL_WORKLOADS),
    Transport("core-sigpause", "shmcp core: SIGIUCV handler + sigpause", "bench.transports.shmcp_core",
              "shmcp", {"mode": "sigpause"}, ALL_WORKLOADS),
    # shmcp's facilities (reported as pending where shmcp.iucv / shmcp.vmcf do not import)
    Transport("iucv-sigpause", "shmcp IUCV: SIGIUCV handler + sigpause", "bench.transports.shmcp_iucv",
              "shmcp", {"mode": "sigpause"}, IUCV_WORKLOADS, "shmcp.iucv", _PENDING_IUCV),
    Transport("iucv-seed", "shmcp IUCV: handler + sigpause, a new plist per message",
              "bench.transports.shmcp_iucv", "shmcp", {"mode": "sigpause", "fresh": True},
              ("rtt", "stream"), "shmcp.iucv", _PENDING_IUCV),
    Transport("iucv-wait", "shmcp IUCV: handler-free wait", "bench.transports.shmcp_iucv",
              "shmcp", {"mode": "wait"}, IUCV_WORKLOADS, "shmcp.iucv", _PENDING_IUCV, big=True),
    Transport("iucv-nospin", "shmcp IUCV: wait, spin off (futex doorbell)", "bench.transports.shmcp_iucv",
              "shmcp", {"mode": "wait", "spin_us": 0}, IUCV_WORKLOADS, "shmcp.iucv", _PENDING_IUCV),
    Transport("shmcp-path", "shmcp Pythonic layer: path.send / vm.receive", "bench.transports.shmcp_path",
              "shmcp", {"mode": "wait"}, IUCV_WORKLOADS, "shmcp.iucv", _PENDING_IUCV),
    Transport("iucv-traced", "shmcp IUCV: handler-free wait, a tracer attached",
              "bench.transports.shmcp_iucv", "shmcp", {"mode": "wait", "tracer": True}, ("rtt",),
              "shmcp.iucv", _PENDING_IUCV),
    Transport("shmcp-path-async", "shmcp Pythonic layer, asyncio: await path.asend",
              "bench.transports.shmcp_path_async", "shmcp", {}, ("rtt", "fanin"), "shmcp.iucv",
              _PENDING_IUCV),
    Transport("vmcf", "shmcp VMCF (wait)", "bench.transports.shmcp_vmcf",
              "shmcp", {}, ("rtt", "stream", "fanin"), "shmcp.vmcf", _PENDING_VMCF),
    # the peers users would otherwise pick
    Transport("pipe", "os.pipe", "bench.transports.pipe", "peer", big=True),
    Transport("socketpair", "socket.socketpair", "bench.transports.socketpair", "peer", big=True),
    Transport("mp-pipe", "multiprocessing.Pipe", "bench.transports.mp_pipe", "peer"),
    Transport("mp-queue", "multiprocessing.Queue", "bench.transports.mp_queue", "peer"),
    Transport("posix-mq", "posix_ipc.MessageQueue", "bench.transports.posix_mq", "peer", needs="posix_ipc"),
    Transport("zmq", "pyzmq ipc://", "bench.transports.zmq_ipc", "peer", needs="zmq"),
    Transport("asyncio-socketpair", "asyncio streams over socket.socketpair",
              "bench.transports.asyncio_socketpair", "peer", workloads=("rtt", "fanin")),
    Transport("zmq-asyncio", "pyzmq asyncio ipc://", "bench.transports.zmq_asyncio", "peer",
              workloads=("rtt", "fanin"), needs="zmq"),
    Transport("faster-fifo", "faster-fifo", "bench.transports.faster_fifo", "peer", needs="faster_fifo"),
    Transport("iox2-event", "iceoryx2 event/listener", "bench.transports.iceoryx2", "peer",
              {"mode": "event"}, needs="iceoryx2"),
    Transport("iox2-busy", "iceoryx2 busy-wait", "bench.transports.iceoryx2", "peer",
              {"mode": "busy"}, needs="iceoryx2"),
    Transport("py-signal", "Python kill + sigtimedwait (bare doorbell)", "bench.transports.py_signal",
              "peer", workloads=("rtt",)),
    # the mechanism floors, in C
    Transport("c-spin", "C floor: shared memory, busy-spin", "floors", "floor",
              {"program": "floors", "mode": "spin"}, ("rtt",)),
    Transport("c-futex", "C floor: shared memory, futex", "floors", "floor",
              {"program": "floors", "mode": "futex"}, ("rtt",)),
    Transport("c-signal", "C floor: kill + sigwaitinfo", "floors", "floor",
              {"program": "floors", "mode": "signal"}, ("rtt",)),
    # what the one-way stream costs in shmcp's core, below every Python layer
    Transport("c-iucv", "C floor: shmcp core, IUCV one-way from C", "floors", "floor",
              {"program": "core_stream"}, ("stream",)),
]

BY_KEY = {t.key: t for t in TRANSPORTS}


def unsupported(t: Transport, workload: str, size: int) -> str | None:
    """Why ``t`` does not run ``workload`` at ``size`` (None: it does)."""
    if workload not in t.workloads:
        return {"scale": "scaling is measured for shmcp only",
                "stream": "round trips only", "fanin": "round trips only",
                "paths": "open paths are IUCV's"}.get(workload, "not applicable")
    if t.module == "floors":
        return None
    mod = importlib.import_module(t.module)
    check = getattr(mod, "unsupported", None)
    return check(workload, size, t.opts) if check else None
