"""Where the CPU of the fan-in goes (bench/NOTES.md "Fan-in: the CPU per
round trip").

The benchmark's fan-in (8 IUCV clients, one server, each its own process,
the bench's own transport) with each process's CPU time and context switches
counted over its own round trips: on 2 cores the aggregate rate is bounded by
2 cores / (client CPU + server CPU per round trip).

    python -m bench.profile_fanin [CLIENTS] [ROUND_TRIPS_PER_CLIENT]
"""
from __future__ import annotations

import multiprocessing
import resource
import sys
import time

from bench.transports import shmcp_iucv as transport

CTX = multiprocessing.get_context("fork")
STOP = b"\xff" * 8


def _usage(r0: resource.struct_rusage, n: int, cpu: float) -> str:
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return (f"CPU {cpu / n * 1e6:5.1f} us/rt, voluntary switches {(r1.ru_nvcsw - r0.ru_nvcsw) / n:.2f}/rt, "
            f"involuntary {(r1.ru_nivcsw - r0.ru_nivcsw) / n:.2f}/rt")


def _server(spec, clients: int, ready, out) -> None:
    server = transport.open_server(spec)
    ready.set()
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.process_time()
    stopped = count = 0
    while stopped < clients:
        cid, data = server.recv()
        server.send(cid, data)
        count += 1
        stopped += data[1:9] == STOP
    out.put(f"server   {count:7d} rt  " + _usage(r0, count, time.process_time() - t0))
    server.close()


def _client(spec, cid: int, n: int, go, out) -> None:
    client = transport.open_client(spec, cid)
    request = bytes([cid]) + bytes(63)
    go.wait()
    r0, t0, w0 = resource.getrusage(resource.RUSAGE_SELF), time.process_time(), time.perf_counter()
    for _ in range(n):
        client.send(request)
        client.recv()
    wall = time.perf_counter() - w0
    out.put(f"client {cid} {n:7d} rt  " + _usage(r0, n, time.process_time() - t0)
            + f", wall {wall / n * 1e6:.1f} us/rt")
    client.send(bytes([cid]) + STOP + bytes(55))
    client.recv()
    client.close()


def main() -> None:
    clients = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    spec, cleanup = transport.setup(clients, 64, workload="fanin")
    ready, go, out = CTX.Event(), CTX.Event(), CTX.Queue()
    procs = [CTX.Process(target=_server, args=(spec, clients, ready, out))]
    procs[0].start()
    try:
        ready.wait(30)
        procs += [CTX.Process(target=_client, args=(spec, i, n, go, out)) for i in range(clients)]
        for p in procs[1:]:
            p.start()
        time.sleep(1)  # every client connected
        start = time.perf_counter()
        go.set()
        lines = [out.get(timeout=600) for _ in procs]
        elapsed = time.perf_counter() - start
        for line in sorted(lines):
            print(line)
        print(f"aggregate {clients * n / elapsed:,.0f} rt/s")
    finally:
        for p in procs:
            p.join(30)
        cleanup()


if __name__ == "__main__":
    main()
