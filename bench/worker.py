"""One measurement, in its own process: ``python -m bench.worker JOB_JSON``
prints one JSON line with the outcome.  The harness runs every measurement
this way, so a peer that hangs or crashes costs one row, not the run.

The worker process is one end (the client of a round trip, the receiver of a
stream); every other end is a child started with multiprocessing's spawn
method.  Every loop is bounded in count and in time."""
from __future__ import annotations

import importlib
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
import traceback
from typing import Any

from .transports import STOP_SEQ, Tally, is_stop, message, seq_of

CTX = mp.get_context("spawn")
# --pin: (this process's CPU, the peer's CPU); fan-in is never pinned
PINS = {"none": (None, None), "split": (0, 1), "same": (0, 0)}
START_TIMEOUT = 60.0   # seconds for a child to get ready
STOP_MSG_SEQ = STOP_SEQ


def percentiles(ns: list[int]) -> dict[str, float]:
    """p50 / p99 / p99.9 / mean in microseconds (nearest rank)."""
    if not ns:
        return {"n": 0}
    xs = sorted(ns)
    n = len(xs)

    def at(q: float) -> float:
        return xs[min(n - 1, int(q * n))] / 1000.0
    return {"n": n, "p50": at(0.5), "p99": at(0.99), "p999": at(0.999), "mean": sum(xs) / n / 1000.0}


def pin(cpu: int | None) -> None:
    """Bind this process to one CPU (the harness's --pin), or leave it free."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def round_trips(cli: Any, msg: bytes, count: int, deadline: int) -> tuple[list[int], int, Any]:
    """Up to ``count`` round trips of ``msg``, each timed (ns), ending early
    once past ``deadline`` (perf_counter_ns): the samples, how many replies
    differed from ``msg``, and the last reply.  A client that runs its
    round trips its own way (an asyncio client: all in one coroutine on its
    loop, as an asyncio program does) provides ``round_trips`` itself."""
    own = getattr(cli, "round_trips", None)
    if own is not None:
        return own(msg, count, deadline)
    clock = time.perf_counter_ns
    tally = Tally(msg, deadline)
    for _ in range(count):
        t0 = clock()
        cli.send(msg)
        back = cli.recv()
        if tally.add(t0, clock(), back):
            break
    return tally.outcome()


# -- children -------------------------------------------------------------------

def _serve(module: str, spec: Any, nclients: int, ready: Any, cpu: int | None = None) -> None:
    """The echo server: reply to every message; end after a STOP from every client."""
    pin(cpu)
    mod = importlib.import_module(module)
    if hasattr(mod, "serve"):  # a server of its own (an asyncio loop): it echoes and counts STOPs
        mod.serve(spec, nclients, ready)
        return
    srv = mod.open_server(spec)
    ready.set()
    stops = 0
    try:
        while stops < nclients:
            cid, data = srv.recv()
            if data[1] == 0xFF and is_stop(data):
                stops += 1
            srv.send(cid, data)
    finally:
        srv.close()


def _stream_send(module: str, spec: Any, size: int, window: float, max_msgs: int, out: Any,
                 cpu: int | None = None) -> None:
    """The streaming sender: numbered messages for ``window`` seconds (at most
    ``max_msgs``), then STOP; waits for the receiver's acknowledgement."""
    pin(cpu)
    mod = importlib.import_module(module)
    cli = mod.open_client(spec, 0)
    tail = bytes(size - 8)
    head = b"\x00"
    send = cli.send
    seq = 0
    deadline = time.perf_counter() + window
    while seq < max_msgs:
        send(head + seq.to_bytes(7, "little") + tail)
        seq += 1
        if not seq & 255 and time.perf_counter() > deadline:
            break
    cli.send(message(0, STOP_MSG_SEQ, size))
    out.put(seq)
    cli.recv()  # the acknowledgement: close only once everything arrived
    cli.close()


def _fanin_client(module: str, spec: Any, cid: int, size: int, window: float, max_n: int,
                  start: Any, out: Any) -> None:
    mod = importlib.import_module(module)
    cli = mod.open_client(spec, cid)
    out.put(("ready", cid))
    start.wait(START_TIMEOUT)
    msg = message(cid, 0, size)
    clock = time.perf_counter_ns
    t_start = clock()
    samples, corrupt, _ = round_trips(cli, msg, max_n, t_start + int(window * 1e9))
    t_end = clock()
    cli.send(message(cid, STOP_MSG_SEQ, size))
    cli.recv()
    cli.close()
    out.put(("done", cid, t_start, t_end, samples, corrupt))


def _idle(module: str, spec: Any, index: int, out: Any, stop: Any) -> None:
    mod = importlib.import_module(module)
    end = mod.open_idle(spec, index)
    out.put(index)
    stop.wait(600)
    end.close()


# -- the worker's side --------------------------------------------------------------

def _start(target, *args) -> Any:
    p = CTX.Process(target=target, args=args, daemon=True)
    p.start()
    return p


def _finish(procs: list) -> list[str]:
    """Join the children (bounded); kill stragglers; the problems, if any."""
    problems = []
    for p in procs:
        p.join(20)
        if p.is_alive():
            p.kill()
            p.join(5)
            problems.append(f"child {p.pid} did not finish (killed)")
        elif p.exitcode:
            problems.append(f"child {p.pid} exited with {p.exitcode}")
    return problems


def _wait_ready(ev: Any, procs: list) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not ev.wait(0.1):
        if time.monotonic() > deadline or any(not p.is_alive() for p in procs):
            raise RuntimeError("server did not get ready (it failed or timed out; see stderr)")


def rtt(mod: Any, job: dict) -> dict:
    size, n, warm = job["size"], job["n"], job["warmup"]
    opts = job.get("opts", {})
    spec, cleanup = mod.setup(1, size, **opts)
    procs: list = []
    idle_stop = CTX.Event()
    try:
        idle = job.get("idle_vms", 0)
        if idle:
            q = CTX.Queue()
            procs += [_start(_idle, mod.__name__, spec, i, q, idle_stop) for i in range(idle)]
            for _ in range(idle):
                q.get(timeout=START_TIMEOUT)
        ready = CTX.Event()
        mine, theirs = PINS[job.get("pin", "none")]
        pin(mine)
        server = _start(_serve, mod.__name__, spec, 1, ready, theirs)
        procs.append(server)
        _wait_ready(ready, [server])
        cli = mod.open_client(spec, 0)
        msg = message(0, 0, size)
        samples, corrupt, back = round_trips(cli, msg, warm + n,
                                             time.perf_counter_ns() + int(job["max_s"] * 1e9))
        samples = samples[warm:]
        if len(back) != size:
            raise RuntimeError(f"reply of {len(back)} bytes to a {size}-byte message")
        cli.send(message(0, STOP_MSG_SEQ, size))
        cli.recv()
        cli.close()
        idle_stop.set()
        problems = _finish(procs)
        procs = []
    finally:
        idle_stop.set()
        _finish(procs)
        cleanup()
    res = percentiles(samples)
    res["complete"] = len(samples) >= n
    res["corrupt"] = corrupt
    if corrupt:
        problems.append(f"CORRUPT: {corrupt} replies differed from the request")
    if problems:
        res["problems"] = problems
    return res


def stream(mod: Any, job: dict) -> dict:
    size = job["size"]
    spec, cleanup = mod.setup(1, size, **job.get("opts", {}))
    procs: list = []
    try:
        mine, theirs = PINS[job.get("pin", "none")]
        pin(mine)
        srv = mod.open_server(spec)
        out = CTX.Queue()
        procs.append(_start(_stream_send, mod.__name__, spec, size, job["window"], job["max_msgs"], out,
                            theirs))
        expected = lost = reordered = received = 0
        t_first = t_last = None
        hard = time.monotonic() + job["window"] + START_TIMEOUT + 60
        recv = srv.recv
        while True:
            cid, data = recv()
            if t_first is None:
                t_first = time.perf_counter()
            if len(data) != size:
                raise RuntimeError(f"message of {len(data)} bytes in a {size}-byte stream")
            s = int.from_bytes(data[1:8], "little")
            if s == expected:
                expected += 1
                received += 1
            elif s == STOP_MSG_SEQ:
                t_last = time.perf_counter()
                break
            elif s > expected:
                lost += s - expected
                expected = s + 1
                received += 1
            else:
                reordered += 1
                received += 1
            if not received & 4095 and time.monotonic() > hard:
                raise RuntimeError("stream did not end in time")
        sent = out.get(timeout=START_TIMEOUT)
        srv.send(0, message(0, 0, size))  # acknowledgement
        problems = _finish(procs)
        procs = []
        srv.close()
    finally:
        _finish(procs)
        cleanup()
    secs = max(t_last - t_first, 1e-9)
    res = {"sent": sent, "received": received, "lost": lost + max(0, sent - received - lost),
           "reordered": reordered, "secs": secs, "msgs_per_s": received / secs,
           "mb_per_s": received * size / secs / 1e6}
    if problems:
        res["problems"] = problems
    return res


def fanin(mod: Any, job: dict) -> dict:
    size, k = job["size"], job["clients"]
    spec, cleanup = mod.setup(k, size, **job.get("opts", {}))
    procs: list = []
    start = CTX.Event()
    try:
        ready = CTX.Event()
        procs.append(_start(_serve, mod.__name__, spec, k, ready))
        _wait_ready(ready, procs)
        out = CTX.Queue()
        procs += [_start(_fanin_client, mod.__name__, spec, cid, size, job["window"], job["n"], start, out)
                  for cid in range(k)]
        for _ in range(k):
            out.get(timeout=START_TIMEOUT)
        start.set()
        done = [out.get(timeout=job["window"] + START_TIMEOUT + 60) for _ in range(k)]
        problems = _finish(procs)
        procs = []
    finally:
        start.set()
        _finish(procs)
        cleanup()
    samples = [x for d in done for x in d[4]]
    wall = (max(d[3] for d in done) - min(d[2] for d in done)) / 1e9
    res = percentiles(samples)
    res["rt_per_s"] = len(samples) / wall
    res["clients"] = k
    res["corrupt"] = sum(d[5] for d in done)
    if res["corrupt"]:
        problems.append(f"CORRUPT: {res['corrupt']} replies differed from the request")
    if problems:
        res["problems"] = problems
    return res


def floor(job: dict) -> dict:
    """The C floors (bench/floors.c, bench/core_stream.c), built by the harness."""
    env = dict(os.environ, FLOORS_PIN=job.get("pin", "none"))
    if job["workload"] == "stream":
        args, limit = [str(job["size"]), str(job["window"])], job["window"] + 60
    else:
        args, limit = [job["opts"]["mode"], str(job["size"]), str(job["n"]), str(job["warmup"])], job["max_s"] + 60
    out = subprocess.run([job["binary"], *args], capture_output=True, text=True, env=env, timeout=limit)
    if out.returncode:
        raise RuntimeError(f"{job['opts']['program']} exited {out.returncode}: {out.stderr.strip()}")
    res = json.loads(out.stdout)
    res["complete"] = True
    return res


WORKLOADS = {"rtt": rtt, "scale": rtt, "paths": rtt, "stream": stream, "fanin": fanin}


def run(job: dict) -> dict:
    if job["module"] == "floors":
        return floor(job)
    mod = importlib.import_module(job["module"])
    return WORKLOADS[job["workload"]](mod, job)


def main() -> None:
    job = json.loads(sys.argv[1])
    try:
        res = {"status": "ok", "metrics": run(job)}
    except BaseException as exc:  # reported as this row's failure
        traceback.print_exc()
        res = {"status": "failed", "error": f"{type(exc).__name__}: {exc}".strip()[:300]}
    print(json.dumps(res), flush=True)
    os._exit(0)  # skip atexit work of peers that may hang (their children are joined above)


if __name__ == "__main__":
    main()
