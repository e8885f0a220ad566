"""An external interrupt as the core delivers it: 40 bytes and trailing data."""
from __future__ import annotations

from typing import Any, Callable

from ._native import lib

IUCV = lib.SHMCP_IUCV
VMCF = lib.SHMCP_VMCF
FACILITY_NAMES = {IUCV: "IUCV", VMCF: "VMCF"}


class Interrupt:
    """One external interrupt: ``raw`` is its 40-byte image (an IPARML for
    IUCV, a VMCMHDR for VMCF), ``buf`` the data that followed it (VMCF's
    SENDX and SMSG text), ``facility`` IUCV or VMCF, ``priority`` whether it
    came from the priority queue, ``presented`` whether the core already
    gave it its facility's last word (machine.py, csrc/present.c)."""

    __slots__ = ("facility", "priority", "raw", "buf", "presented")

    def __init__(self, facility: int, priority: bool, raw: bytes, buf: bytes = b"",
                 presented: bool = False) -> None:
        self.facility = facility
        self.priority = priority
        self.raw = raw
        self.buf = buf
        self.presented = presented

    @property
    def type(self) -> int:
        """Byte 3 of the image: IPTYPE for IUCV."""
        return self.raw[3]

    def __bytes__(self) -> bytes:
        return self.raw

    def __repr__(self) -> str:
        prio = " priority" if self.priority else ""
        return (f"<Interrupt {FACILITY_NAMES.get(self.facility, self.facility)}{prio} "
                f"type={self.type} raw={self.raw.hex()}{' +%d bytes' % len(self.buf) if self.buf else ''}>")


def facility_of(name: int | str) -> int:
    """IUCV / VMCF given as the constant or its name."""
    if isinstance(name, str):
        for code, text in FACILITY_NAMES.items():
            if name.upper() == text:
                return code
        raise ValueError(f"facility {name!r} is not 'IUCV' or 'VMCF'")
    if name not in FACILITY_NAMES:
        raise ValueError(f"facility {name!r} is not IUCV ({IUCV}) or VMCF ({VMCF})")
    return name


# facility -> how its interrupts are shown; machine.py reads it once per interrupt
views: dict[int, Callable[[Interrupt], Any]] = {}


def register_view(facility: int, convert: Callable[[Interrupt], Any]) -> None:
    """A facility says how its interrupts are shown to programs (IUCV: the
    parameter-list classes; VMCF: Vmcmhdr).  ``convert`` returns the
    Interrupt itself for a record that is not one of its interrupt types
    (the core's own callers queue arbitrary records)."""
    views[facility] = convert


def view(interrupt: Interrupt) -> Any:
    """What siginfo() and wait() give the program for ``interrupt``."""
    convert = views.get(interrupt.facility)
    return convert(interrupt) if convert is not None else interrupt


# facility -> its presenter; machine.py reads it once per interrupt
presenters: dict[int, Callable[[Any, Interrupt], "Interrupt | None"]] = {}


def register_presenter(facility: int, present: Callable[[Any, Interrupt], "Interrupt | None"]) -> None:
    """A facility's last word before one of its interrupts reaches the
    program, in the VM's own process: ``present(vm, interrupt)`` returns the
    interrupt to present (possibly with its image completed), or None when
    it is withdrawn (its message is gone) or held (masked)."""
    presenters[facility] = present

