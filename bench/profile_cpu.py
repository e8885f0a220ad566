"""Where the CPU of the multi-process workloads goes (bench/NOTES.md, "What
the missed targets ask of Python").

Each process of the benchmark's own IUCV transport counts its CPU time and
context switches over its own messages.  On 2 cores a workload's rate is
bounded by 2 cores / (the CPU all its processes spend per message), and a
one-way stream by the busier of its two ends.

    python -m bench.profile_cpu fanin [CLIENTS] [ROUND_TRIPS_PER_CLIENT] [--transport KEY] [--spawn]
    python -m bench.profile_cpu stream [MESSAGES] [--transport KEY]

A trailing ``sigpause`` runs either through a SIGIUCV handler and
sigpause(0) (the transport's mode="sigpause"), ``fresh`` with a new
parameter list per call (the seed programs' way).

fanin: 8 clients and one server, 64 B round trips, the scheduler placing
them; besides each process's line, the CPU of all of them per round trip
(on 2 cores that bounds the rate) and how much of the machine other
processes took meanwhile (a shared machine: a run they crowded measured
them).  stream: one-way 64 B messages (IPNORPY, msglim 255), sender and
receiver pinned to CPUs 1 and 0 as `--pin split` does.  --transport: the
same for another of the benchmark's transports (bench/registry.py's key,
e.g. pipe or posix-mq: what a wake-up costs there); iucv-wait by default.
--spawn: fan-in's processes are started as the bench starts them (fresh
interpreters, each with an address-space layout of its own) rather than
forked (all sharing this one's layout; bench/NOTES.md, "Fan-in, fifth
pass": on this machine that alone moves the CPU per round trip a lot).
"""
from __future__ import annotations

import importlib
import multiprocessing
import os
import resource
import sys
import time

from bench.registry import BY_KEY
from bench.transports import shmcp_iucv as transport

OPTS: dict = {}  # the transport's options: --transport's, sigpause, fresh

CTX = multiprocessing.get_context("fork")  # --spawn: "spawn", for fan-in
STOP = b"\xff" * 8


class _Account:
    """A process's CPU time and context switches from now on."""

    def __init__(self) -> None:
        self.r0 = resource.getrusage(resource.RUSAGE_SELF)
        self.cpu0, self.wall0 = time.process_time(), time.perf_counter()

    def per(self, n: int, unit: str) -> str:
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu, wall = time.process_time() - self.cpu0, time.perf_counter() - self.wall0
        sys_s = r1.ru_stime - self.r0.ru_stime
        self.cpu, self.sys = cpu, sys_s
        return (f"CPU {cpu / n * 1e6:5.2f} us/{unit} (kernel {sys_s / n * 1e6:5.2f}), "
                f"wall {wall / n * 1e6:6.2f} us/{unit}, "
                f"voluntary switches {(r1.ru_nvcsw - self.r0.ru_nvcsw) / n:.3f}/{unit}, "
                f"involuntary {(r1.ru_nivcsw - self.r0.ru_nivcsw) / n:.3f}/{unit}")


def _fanin_server(module: str, spec, clients: int, ready, out) -> None:
    server = importlib.import_module(module).open_server(spec)
    ready.set()
    account = _Account()
    stopped = count = 0
    while stopped < clients:
        cid, data = server.recv()
        server.send(cid, data)
        count += 1
        stopped += data[1:9] == STOP
    out.put((f"server   {count:7d} rt  " + account.per(count, "rt"), account.cpu, account.sys))
    server.close()


def _fanin_client(module: str, spec, cid: int, n: int, connected, go, out) -> None:
    client = importlib.import_module(module).open_client(spec, cid)
    request = bytes([cid]) + bytes(63)
    connected.release()
    go.wait()
    account = _Account()
    for _ in range(n):
        client.send(request)
        client.recv()
    out.put((f"client {cid} {n:7d} rt  " + account.per(n, "rt"), account.cpu, account.sys))
    client.send(bytes([cid]) + STOP + bytes(55))
    client.recv()
    client.close()


def _cpu_ticks() -> tuple[int, int]:
    """(idle, total) clock ticks of every CPU so far, from /proc/stat."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return ticks[3] + ticks[4], sum(ticks[:8])  # idle + iowait; up to steal


def fanin(clients: int, n: int) -> None:
    spec, cleanup = transport.setup(clients, 64, workload="fanin", **OPTS)
    ready, connected, go, out = CTX.Event(), CTX.Semaphore(0), CTX.Event(), CTX.Queue()
    module = transport.__name__
    procs = [CTX.Process(target=_fanin_server, args=(module, spec, clients, ready, out))]
    procs[0].start()
    try:
        if not ready.wait(60):
            raise RuntimeError("the fan-in server did not get ready")
        procs += [CTX.Process(target=_fanin_client, args=(module, spec, i, n, connected, go, out))
                  for i in range(clients)]
        for p in procs[1:]:
            p.start()
        for _ in range(clients):  # every client connected
            if not connected.acquire(timeout=60):
                raise RuntimeError("a fan-in client did not connect")
        start, ticks = time.perf_counter(), _cpu_ticks()
        go.set()
        lines, clients_done = [], 0
        while clients_done < clients:  # the window ends with the last client's
            lines.append(out.get(timeout=600))
            clients_done += lines[-1][0].startswith("client")
        elapsed, (idle, total) = time.perf_counter() - start, _cpu_ticks()
        idle, total = idle - ticks[0], total - ticks[1]
        lines += [out.get(timeout=600) for _ in range(len(procs) - len(lines))]
        for line in sorted(lines):
            print(line[0])
        # every process's CPU over every round trip (the server's also
        # counts the clients' STOPs: a negligible 8)
        cpu, sys_s = sum(x[1] for x in lines), sum(x[2] for x in lines)
        print(f"all      {clients * n:7d} rt  CPU {cpu / (clients * n) * 1e6:5.2f} us/rt "
              f"(kernel {sys_s / (clients * n) * 1e6:5.2f})")
        # what else the machine did meanwhile: its idle share of every
        # core, and its busy share that was not this benchmark's (other
        # processes: a run they took much of measured them, not shmcp)
        tick = os.sysconf("SC_CLK_TCK")
        other = max(0.0, (total - idle) / tick - cpu) / max(total / tick, 1e-9)
        print(f"aggregate {clients * n / elapsed:,.0f} rt/s; cores idle {idle / max(total, 1):.0%}, "
              f"busy with other work {other:.0%}")
    finally:
        for p in procs:
            p.join(30)
        cleanup()


def _stream_sender(spec, n: int, out) -> None:
    os.sched_setaffinity(0, {1})
    client = transport.open_client(spec, 0)
    tail = bytes(56)
    account = _Account()
    for seq in range(n):
        client.send(b"\x00" + seq.to_bytes(7, "little") + tail)
    out.put("sender   " + account.per(n, "msg"))
    client.send(b"\x00" + STOP[1:] + tail)  # the transport sends this one two-way
    client.recv()
    client.close()


def stream(n: int) -> None:
    os.sched_setaffinity(0, {0})
    spec, cleanup = transport.setup(1, 64, workload="stream", **OPTS)
    out = CTX.Queue()
    sender = CTX.Process(target=_stream_sender, args=(spec, n, out))
    try:
        server = transport.open_server(spec)
        sender.start()
        server.recv()  # the first message starts the count
        account, count = _Account(), 0
        while server.recv()[1][1:8] != STOP[1:]:
            count += 1
        print("receiver " + account.per(count, "msg"))
        print(out.get(timeout=600))
        server.send(0, bytes(64))  # the acknowledgement
        sender.join(30)
        server.close()
    finally:
        if sender.is_alive():
            sender.kill()
        cleanup()


def main() -> None:
    global transport, CTX
    args = sys.argv[1:] or ["fanin"]
    if "--spawn" in args:
        if args[0] != "fanin":
            sys.exit("--spawn: for fanin only (stream forks its sender)")
        args.remove("--spawn")
        CTX = multiprocessing.get_context("spawn")
    if "--transport" in args:
        i = args.index("--transport")
        key = args[i + 1] if i + 1 < len(args) else ""
        if key not in BY_KEY or BY_KEY[key].module == "floors":
            sys.exit(f"--transport: one of the Python transports of bench/registry.py, not {key!r}")
        transport = importlib.import_module(BY_KEY[key].module)
        OPTS.update(BY_KEY[key].opts)
        del args[i:i + 2]
    if "sigpause" in args:
        OPTS["mode"] = "sigpause"
    if "fresh" in args:
        OPTS["fresh"] = True
    numbers = [int(a) for a in args[1:] if a not in ("sigpause", "fresh")]
    if args[0] == "fanin":
        fanin(*(numbers + [8, 20000][len(numbers):]))
    elif args[0] == "stream":
        stream(*(numbers or [200000]))
    else:
        sys.exit(f"usage: python -m bench.profile_cpu fanin|stream [...]; not {args[0]!r}")


if __name__ == "__main__":
    main()
