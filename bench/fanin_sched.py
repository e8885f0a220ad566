"""Who ran where during a fan-in run, from the scheduler's own trace
(bench/NOTES.md, "Fan-in, fourth pass").

    perf record -a -e sched:sched_switch -e sched:sched_wakeup -e sched:sched_waking \\
        -o /tmp/sch.perf -- python -m bench.profile_cpu fanin 8 5000 [--transport KEY]
    perf script -i /tmp/sch.perf -F comm,pid,cpu,time,event,trace > /tmp/sch.txt
    python -m bench.fanin_sched /tmp/sch.txt [BUCKET_S]

The server is the process that wakes others most; its clients the
CLIENTS (8) it wakes most.  Prints, per BUCKET_S (0.1 s) of the run, each
CPU's share held by the server (S), the clients (c), other processes (o)
and idle (i), and the round trips (the server's wake-ups of clients) per
second; then how often the server went to sleep, how many clients were
woken or running at that moment (holding a reply, the next request not
yet sent), and how long its sleeps lasted.  Needs `perf record -a`:
without it, a switch from another process to ours is not seen.
"""
from __future__ import annotations

import collections
import re
import sys
from dataclasses import dataclass, field

_EVENT = re.compile(r"\s*(\S+)\s+(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+sched:(\w+):\s+(.*)")


@dataclass
class Event:
    """One line of `perf script`: the running pid, its CPU, the event."""
    time: float
    pid: int
    cpu: int
    name: str
    args: str

    def arg(self, key: str) -> str:
        m = re.search(rf"(?:^|\s){key}=(\S+)", self.args)
        if not m:
            raise ValueError(f"sched event {self.name!r} has no {key}=: {self.args!r}")
        return m.group(1)


def parse(lines) -> list[Event]:
    """The sched events of `perf script -F comm,pid,cpu,time,event,trace`."""
    out = []
    for line in lines:
        m = _EVENT.match(line)
        if m:
            out.append(Event(float(m.group(4)), int(m.group(2)), int(m.group(3)),
                             m.group(5), m.group(6)))
    return out


@dataclass
class Roles:
    server: int
    clients: set = field(default_factory=set)


def roles(events: list[Event], nclients: int = 8) -> Roles:
    """The server (the pid that wakes others most) and the clients it wakes most."""
    wakers = collections.Counter(e.pid for e in events if e.name == "sched_waking")
    if not wakers:
        raise ValueError("no sched_waking events: record them with perf record -a -e sched:sched_waking")
    server = wakers.most_common(1)[0][0]
    woken = collections.Counter(int(e.arg("pid")) for e in events
                                if e.name == "sched_waking" and e.pid == server)
    woken.pop(server, None)
    return Roles(server, {p for p, _ in woken.most_common(nclients)})


def shares(events: list[Event], who: Roles, bucket: float) -> list[tuple]:
    """Per bucket: (start, round trips/s, {cpu: {S, c, o, i: share}})."""
    held: dict = collections.defaultdict(float)
    trips: collections.Counter = collections.Counter()
    on_cpu: dict = {}  # cpu -> (pid, since)

    def kind(pid: int) -> str:
        return "S" if pid == who.server else "c" if pid in who.clients else "i" if pid == 0 else "o"

    def hold(pid: int, cpu: int, a: float, b: float) -> None:
        while a < b:
            k = int(a / bucket)
            end = min(b, (k + 1) * bucket)
            held[(k, cpu, kind(pid))] += end - a
            a = end

    for e in events:
        if e.name == "sched_switch":
            if e.cpu in on_cpu:
                pid, since = on_cpu[e.cpu]
                hold(pid, e.cpu, since, e.time)
            on_cpu[e.cpu] = (int(e.arg("next_pid")), e.time)
        elif e.name == "sched_wakeup" and e.pid == who.server and int(e.arg("pid")) in who.clients:
            trips[int(e.time / bucket)] += 1
    cpus = sorted({c for _, c, _ in held})
    rows = []
    for k in sorted(trips):
        rows.append((k * bucket, trips[k] / bucket,
                     {c: {x: held[(k, c, x)] / bucket for x in "Scoi"} for c in cpus}))
    return rows


@dataclass
class ServerSleeps:
    count: int
    clients_ready: collections.Counter  # clients woken or running -> sleeps
    lengths: list  # seconds, sorted


def server_sleeps(events: list[Event], who: Roles) -> ServerSleeps:
    """Each time the server went to sleep: how many clients were woken or
    running then; and how long until it was woken."""
    state = {c: "asleep" for c in who.clients}
    ready: collections.Counter = collections.Counter()
    lengths, since = [], None
    for e in events:
        if e.name == "sched_wakeup":
            pid = int(e.arg("pid"))
            if pid in state:
                state[pid] = "woken"
            if pid == who.server and since is not None:
                lengths.append(e.time - since)
                since = None
        elif e.name == "sched_switch":
            prev, nxt = int(e.arg("prev_pid")), int(e.arg("next_pid"))
            slept = e.arg("prev_state").startswith(("S", "D"))
            if prev in state:
                state[prev] = "asleep" if slept else "woken"
            if nxt in state:
                state[nxt] = "running"
            if prev == who.server and slept:
                ready[sum(s != "asleep" for s in state.values())] += 1
                since = e.time
    return ServerSleeps(sum(ready.values()), ready, sorted(lengths))


def main() -> None:
    args = sys.argv[1:]
    if not args:
        sys.exit("usage: python -m bench.fanin_sched PERF_SCRIPT_OUTPUT [BUCKET_S]")
    bucket = float(args[1]) if len(args) > 1 else 0.1
    with open(args[0]) as f:
        events = parse(f)
    who = roles(events)
    for start, rate, by_cpu in shares(events, who, bucket):
        cells = " | ".join(f"cpu{c} " + " ".join(f"{x}{v[x]:4.0%}" for x in "Scoi")
                           for c, v in by_cpu.items())
        print(f"{start:12.2f} {rate / 1e3:6.0f}k rt/s | {cells}")
    sl = server_sleeps(events, who)
    n = max(sl.count, 1)
    print(f"server slept {sl.count} times; clients woken or running then: "
          + ", ".join(f"{k}: {v / n:.0%}" for k, v in sorted(sl.clients_ready.items())))
    if sl.lengths:
        q = sl.lengths
        print(f"its sleeps: p50 {q[len(q) // 2] * 1e6:.0f} us, p90 {q[len(q) * 9 // 10] * 1e6:.0f} us")


if __name__ == "__main__":
    main()
