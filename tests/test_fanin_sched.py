"""bench.fanin_sched on a small hand-written scheduler trace: who is the
server, what each CPU held, and the clients' states at the server's sleeps."""
from __future__ import annotations

import pytest

from bench import fanin_sched

# server 100 on CPU 1 wakes clients 201 and 202 (on CPU 0), sleeps while
# both are woken, is woken by 201's request 10 us later; 999 is another process
TRACE = """\
          python   100 [001]     10.000000: sched:sched_waking: comm=python pid=201 prio=120 target_cpu=000
          python   100 [001]     10.000001: sched:sched_wakeup: comm=python pid=201 prio=120 target_cpu=000
         swapper     0 [000]     10.000002: sched:sched_switch: prev_comm=swapper/0 prev_pid=0 prev_prio=120 prev_state=R ==> next_comm=python next_pid=201 next_prio=120
          python   100 [001]     10.000003: sched:sched_waking: comm=python pid=202 prio=120 target_cpu=000
          python   100 [001]     10.000004: sched:sched_wakeup: comm=python pid=202 prio=120 target_cpu=000
          python   100 [001]     10.000010: sched:sched_switch: prev_comm=python prev_pid=100 prev_prio=120 prev_state=S ==> next_comm=other next_pid=999 next_prio=120
          python   201 [000]     10.000020: sched:sched_waking: comm=python pid=100 prio=120 target_cpu=001
          python   201 [000]     10.000020: sched:sched_wakeup: comm=python pid=100 prio=120 target_cpu=001
          python   201 [000]     10.000030: sched:sched_switch: prev_comm=python prev_pid=201 prev_prio=120 prev_state=S ==> next_comm=python next_pid=202 next_prio=120
           other   999 [001]     10.000040: sched:sched_switch: prev_comm=other prev_pid=999 prev_prio=120 prev_state=R ==> next_comm=python next_pid=100 next_prio=120
          python   202 [000]     10.000050: sched:sched_switch: prev_comm=python prev_pid=202 prev_prio=120 prev_state=S ==> next_comm=swapper/0 next_pid=0 next_prio=120
          python   100 [001]     10.000060: sched:sched_switch: prev_comm=python prev_pid=100 prev_prio=120 prev_state=R ==> next_comm=swapper/1 next_pid=0 next_prio=120
"""


def test_roles_shares_and_sleeps():
    events = fanin_sched.parse(TRACE.splitlines())
    assert len(events) == 12
    who = fanin_sched.roles(events, nclients=2)
    assert who.server == 100 and who.clients == {201, 202}
    [(start, rate, by_cpu)] = fanin_sched.shares(events, who, bucket=1.0)
    assert start == 10.0 and rate == 2  # two wake-ups of clients in the 1 s bucket
    # CPU 0: clients from 2 us to 50 us; CPU 1: the other process 10-40 us, the server 40-60 us
    assert by_cpu[0]["c"] == pytest.approx(48e-6)
    assert by_cpu[1]["o"] == pytest.approx(30e-6)
    assert by_cpu[1]["S"] == pytest.approx(20e-6)
    sleeps = fanin_sched.server_sleeps(events, who)
    assert sleeps.count == 1 and sleeps.clients_ready == {2: 1}  # both held replies
    assert sleeps.lengths == [pytest.approx(10e-6)]


def test_a_trace_without_wakeups_is_refused():
    events = fanin_sched.parse(TRACE.splitlines()[2:3])
    with pytest.raises(ValueError, match="sched_waking"):
        fanin_sched.roles(events)
