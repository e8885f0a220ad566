"""Timeouts as the Pythonic layer takes them: seconds, None for none."""
from __future__ import annotations

from time import monotonic

# connect(wait=True): how often to try a target not there yet
CONNECT_POLL = 0.01


def deadline_of(timeout: float | None) -> float | None:
    """The monotonic deadline of ``timeout`` seconds (None: none); a bad
    timeout is a TypeError / ValueError saying so."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be None or a number of seconds, not {type(timeout).__name__}")
    if not timeout >= 0:  # also NaN
        raise ValueError(f"timeout must be None or a number >= 0, not {timeout!r}")
    return monotonic() + timeout
