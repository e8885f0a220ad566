"""An external interrupt as the core delivers it: 40 bytes and trailing data."""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

from ._native import lib

IUCV = lib.SHMCP_IUCV
VMCF = lib.SHMCP_VMCF
FACILITY_NAMES = {IUCV: "IUCV", VMCF: "VMCF"}


class Interrupt:
    """One external interrupt: ``raw`` is its 40-byte image (an IPARML for
    IUCV, a VMCMHDR for VMCF), ``buf`` the data that followed it (VMCF's
    SENDX and SMSG text), ``facility`` IUCV or VMCF, ``priority`` whether it
    came from the priority queue, ``presented`` whether the core already
    gave it its facility's last word (machine.py, the core), ``word`` the
    facility's own word of a record without data (0: none; VMCF's tag)."""

    __slots__ = ("facility", "priority", "raw", "buf", "presented", "word")

    def __init__(self, facility: int, priority: bool, raw: bytes, buf: bytes = b"",
                 presented: bool = False, word: int = 0) -> None:
        self.facility = facility
        self.priority = priority
        self.raw = raw
        self.buf = buf
        self.presented = presented
        self.word = word

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


class Facility(NamedTuple):
    """What the runtime asks of a facility (IUCV, VMCF) for its interrupts.

    ``present(vm, interrupt)``: the facility's last word before one of its
    interrupts reaches the program, in the VM's own process -- the
    interrupt to present (possibly with its image completed), or None when
    it is withdrawn (its message is gone) or held (masked).
    ``view(interrupt)``: how siginfo() and wait() show it (IUCV: the
    parameter-list classes; VMCF: Vmcmhdr), the Interrupt itself for a
    record that is not one of its types (the core's own callers queue
    arbitrary records)."""

    present: Callable[[Any, Interrupt], "Interrupt | None"]
    view: Callable[[Interrupt], Any]


# facility code -> its Facility: filled once, by shmcp/__init__.py (the
# facilities sit above the runtime, which never imports them); a facility
# not in it is presented and shown as the bare Interrupt
FACILITIES: dict[int, Facility] = {}


def view(interrupt: Interrupt) -> Any:
    """What siginfo() and wait() give the program for ``interrupt``."""
    facility = FACILITIES.get(interrupt.facility)
    return facility.view(interrupt) if facility is not None else interrupt
