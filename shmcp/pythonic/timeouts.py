"""Timeouts as the Pythonic layer takes them: seconds, None for none."""
from __future__ import annotations

from time import monotonic

from .._native import checked_timeout

# connect(wait=True): how often to try a target not there yet
CONNECT_POLL = 0.01


def deadline_of(timeout: float | None) -> float | None:
    """The monotonic deadline of ``timeout`` seconds; None for none (None,
    or a timeout longer than LONGEST_TIMEOUT, math.inf too).  A bad
    timeout is a TypeError / ValueError saying so (checked_timeout), raised
    before the caller does anything."""
    seconds = checked_timeout(timeout)
    return None if seconds is None else monotonic() + seconds


def poll_pause(deadline: float | None) -> float:
    """How long connect(wait=True) sleeps before its next try: CONNECT_POLL,
    or what is left before ``deadline`` if less -- never below 0 (the
    deadline may pass after the try looked at it: the next try raises
    TimeoutError)."""
    if deadline is None:
        return CONNECT_POLL
    return max(0.0, min(CONNECT_POLL, deadline - monotonic()))
