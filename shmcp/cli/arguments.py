"""Argument types of the commands: a bad value is argparse's usage error,
naming the argument, before any system is looked at."""
from __future__ import annotations

import argparse
import math
from typing import Any

from ..machine import userid_bytes

# the longest --wait, --poll or --interval: a day (past it the sleeps and
# poll(2)'s milliseconds overflow; nobody waits longer at a terminal)
LONGEST_SECONDS = 86400


def userid(text: str) -> str:
    """A userid as logon takes it (1-8 of A-Z 0-9 @ # $, any case)."""
    try:
        userid_bytes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _number(text: str, kind: type, noun: str) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None


def _at_least(text: str, kind: type, noun: str, least: float, unit: str) -> Any:
    value = _number(text, kind, noun)
    if not value >= least:  # (NaN too)
        raise argparse.ArgumentTypeError(f"must be {least}{unit} or more, not {text}")
    if value == math.inf:
        raise argparse.ArgumentTypeError(f"must be finite, not {text}")
    return value


def count(text: str) -> int:
    """A whole number of 1 or more."""
    return int(_at_least(text, int, "a whole number", 1, ""))


def _within_a_day(value: float, text: str) -> float:
    if value > LONGEST_SECONDS:
        raise argparse.ArgumentTypeError(
            f"must be at most {LONGEST_SECONDS} seconds (a day), not {text}")
    return value


def seconds(text: str) -> float:
    """A time in seconds, 0 to LONGEST_SECONDS."""
    return _within_a_day(float(_at_least(text, float, "a number of seconds", 0, " seconds")),
                         text)


def interval(text: str) -> float:
    """A time in seconds, more than 0 and at most LONGEST_SECONDS: a period
    to repeat at."""
    value = float(_number(text, float, "a number of seconds"))
    if not 0 < value < math.inf:  # (NaN too)
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds and finite, not {text}")
    return _within_a_day(value, text)


def add_wait(parser: argparse.ArgumentParser) -> None:
    """``--wait SECONDS``: how long a command waits for the control lock
    while another process holds it, before it names the holder."""
    parser.add_argument("--wait", type=seconds, default=2.0, metavar="SECONDS",
                        help="how long to wait for the control lock (default 2)")
