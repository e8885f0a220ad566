"""The Pythonic layer's events, named after the Linux IUCV callbacks."""
from __future__ import annotations

from typing import Any

# the IUCV events, named as struct iucv_handler's callbacks in Linux's net/iucv
NAMES = ("path_pending", "path_complete", "path_severed", "path_quiesced", "path_resumed",
         "message_pending", "message_complete")


class Event:
    """One external interrupt as the Pythonic layer saw it: ``name`` is
    one of NAMES (or "other" for an interrupt that is not IUCV's, e.g.
    VMCF's: ``raw`` is then what the faithful ``vm.wait()`` would return);
    ``path`` the Path it concerns (None for a pending connection the
    program has still to accept, or a path already forgotten), ``message``
    the Message of a message_pending, ``raw`` the interrupt's parameter
    list.  Events are notices: the message is also in its inbox, the path
    in ``vm.paths``."""

    __slots__ = ("name", "path", "message", "raw")

    def __init__(self, name: str, path: Any = None, message: Any = None, raw: Any = None) -> None:
        self.name = name
        self.path = path
        self.message = message
        self.raw = raw

    def __repr__(self) -> str:
        on = f" on {self.path!r}" if self.path is not None else ""
        return f"<Event {self.name}{on}>"
