"""Argument types of the commands: a bad value is argparse's usage error,
naming the argument, before any system is looked at."""
from __future__ import annotations

import argparse

from ..machine import userid_bytes


def userid(text: str) -> str:
    """A userid as logon takes it (1-8 of A-Z 0-9 @ # $, any case)."""
    try:
        userid_bytes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def count(text: str) -> int:
    """A whole number of 1 or more."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {n}")
    return n


def seconds(text: str) -> float:
    """A time in seconds, 0 or more."""
    try:
        s = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not s >= 0:  # (NaN too)
        raise argparse.ArgumentTypeError(f"must be 0 seconds or more, not {text}")
    return s
