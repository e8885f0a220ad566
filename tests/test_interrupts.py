"""Interrupt queues and SIGIUCV delivery, between real processes."""
from __future__ import annotations

import pytest

from vms import Child, run_senders

N = 100_000


@pytest.mark.parametrize("mode", ["sigpause", "async"])
def test_100k_interrupts_one_sender_none_lost_doubled_or_reordered(system, mode):
    got = run_senders(1, N, mode)
    assert got["errors"] == []
    assert got["calls"] == N
    assert got["next"] == [N]
    assert not got["left"], "an interrupt was left over after the count"
    assert got["outside"], "siginfo() must be None outside a handler"


def test_8_senders_to_one_receiver(system):
    per = N // 8
    got = run_senders(8, per, "sigpause")
    assert got["errors"] == []
    assert got["calls"] == 8 * per
    assert got["next"] == [per] * 8
    assert not got["left"]


def released_after_a_batch(rx_role: str, count: int) -> dict:
    """RX (children.``rx_role``, SIGIUCV blocked) while TX queues ``count``
    interrupts for it; then RX goes on: its findings."""
    rx = Child(rx_role, "RX", count)
    tx = Child("send", "TX", "RX", 0, count)
    try:
        rx.expect("READY")
        tx.expect("READY")
        tx.tell()
        assert tx.json()["sent"] == count
        rx.tell()
        got = rx.json()
        tx.tell()
        return got
    finally:
        rx.kill()
        tx.kill()


def test_blocked_200_then_one_sigsetmask_gives_200_handler_calls(system):
    got = released_after_a_batch("blocked", 200)
    assert got["before"] == 0, "a blocked SIGIUCV must not run the handler"
    assert got["queued"] == 200
    assert got["calls"] == 200
    assert got["errors"] == []


def test_sigpause_hands_each_interrupt_over_once_in_order_awake_or_asleep(system):
    """Bursts with gaps: some interrupts come while sigpause spins (handed
    to the handler from the pause, no signal sent), some wake it from its
    sleep (the doorbell); none lost, doubled or reordered."""
    total = 3000
    rx = Child("receive", "RX", 1, total, "sigpause")
    tx = Child("send_bursts", "TX", "RX", total, 8)
    try:
        rx.expect("READY")
        tx.expect("READY")
        tx.tell()
        assert tx.json()["sent"] == total
        got = rx.json()
        assert got["errors"] == []
        assert got["calls"] == total and got["next"] == [total]
        assert not got["left"], "an interrupt was left over after the count"
        assert got["outside"], "siginfo() must be None outside a handler"
        tx.tell()
        assert tx.wait() == 0 and rx.wait() == 0
    finally:
        rx.kill()
        tx.kill()


def test_a_handler_that_raises_strands_none_of_the_interrupts_behind_it(system):
    got = released_after_a_batch("raising", 5)
    assert got["caught"] == "handler refused interrupt 0", "the exception reaches the program"
    assert got["seen"] == [0, 1, 2, 3, 4], "the rest once each, in order, nothing new needed"
    assert got["left"] == 0


def test_priority_interrupts_overtake_queued_non_priority_ones(system):
    rx = Child("order", "RX")
    normal = Child("send", "TXN", "RX", 0, 10, "no")
    prio = Child("send", "TXP", "RX", 1, 5, "yes")
    try:
        for c in (rx, normal, prio):
            c.expect("READY")
        normal.tell()
        assert normal.json()["sent"] == 10
        prio.tell()
        assert prio.json()["sent"] == 5
        rx.tell()
        seen = rx.json()["seen"]
        assert seen == [[True, 1, s] for s in range(5)] + [[False, 0, s] for s in range(10)]
        normal.tell()
        prio.tell()
    finally:
        for c in (rx, normal, prio):
            c.kill()
