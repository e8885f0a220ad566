"""The checks of `python -m bench`'s option values: each an argparse type, so
a bad value is an error naming its option and the value before any job
runs (argparse says "argument --sizes: ...")."""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable

from .transports import HEADER

# What the workloads can take: a message carries an 8-byte header (client,
# sequence); a fan-in client's id is one byte of it; the private system of
# a run holds at most 4,096 VMs (the clients, the idle ones and 4 more) and
# a VM at most 65,535 paths (the open ones, the clients' and 8 more).
MIN_SIZE = HEADER
MAX_CLIENTS = 255
MAX_IDLE = 4096 - 1 - 4
MAX_PATHS = 65535 - 1 - 8


def _bad(text: str, why: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"{text!r}: {why}")


def _int(text: str, least: int, most: int | None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise _bad(text, "not a whole number") from None
    if value < least:
        raise _bad(text, f"must be at least {least}")
    if most is not None and value > most:
        raise _bad(text, f"must be at most {most}")
    return value


def count(least: int, most: int | None = None) -> Callable[[str], int]:
    """A whole number in least..most."""
    def check(text: str) -> int:
        return _int(text, least, most)
    check.__name__ = "count"
    return check


def seconds(text: str) -> float:
    """A time in seconds: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise _bad(text, "not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise _bad(text, "must be a number of seconds above 0")
    return value


def _items(text: str, empty_ok: bool) -> list[str]:
    if not text.strip():
        if empty_ok:
            return []
        raise _bad(text, "an empty list")
    items = [x.strip() for x in text.split(",")]
    if "" in items:
        raise _bad(text, "an empty item in the list")
    return items


def _unique(text: str, values: list) -> list:
    seen = set()
    for v in values:
        if v in seen:
            raise _bad(text, f"{v} is given twice")
        seen.add(v)
    return values


def counts(least: int, most: int | None = None, empty_ok: bool = False) -> Callable[[str], list[int]]:
    """A comma-separated list of distinct whole numbers in least..most
    (empty only if ``empty_ok``)."""
    def check(text: str) -> list[int]:
        values, items = [], _items(text, empty_ok)
        for item in items:
            try:
                values.append(_int(item, least, most))
            except argparse.ArgumentTypeError as exc:
                why = str(exc).split(": ", 1)[1]
                raise _bad(text, f"{item}: {why}" if len(items) > 1 else why) from None
        return _unique(text, values)
    check.__name__ = "counts"
    return check


def keys(known: Iterable[str], what: str, empty_ok: bool = False) -> Callable[[str], list[str]]:
    """A comma-separated list of distinct names from ``known`` (empty only
    if ``empty_ok``)."""
    names = list(known)

    def check(text: str) -> list[str]:
        items = _items(text, empty_ok)
        for item in items:
            if item not in names:
                raise _bad(text, f"unknown {what} {item!r}; known: {', '.join(names)}")
        return _unique(text, items)
    check.__name__ = "keys"
    return check
