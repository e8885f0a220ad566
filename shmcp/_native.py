"""The one binding seam: both compiled modules, loaded, checked and bound once.

* ``shmcp._core`` (cffi, csrc/): the C core -- ``ffi`` and ``lib``.
* ``shmcp._iparml`` (a CPython extension, csrc/pyext/): the parameter
  lists' C base, VirtualMachine's C base ``Machine``, and IUCV's per-message
  calls SEND, RECEIVE and REPLY.

Both are stamped with the package version at build time and refused here if
they disagree with it.  The extension calls the core directly (no cffi on
its hot path): it is given the core's two calls here, by keyword, once.
Never imported by users; every other module takes the native parts from
here, not from the compiled modules.
"""
from __future__ import annotations

import os
import sys
from typing import Any

from ._version import __version__

if not sys.platform.startswith("linux"):
    raise ImportError(
        f"shmcp runs on Linux only (it needs POSIX shared memory, pidfds and /proc); "
        f"this is {sys.platform}"
    )

try:
    from . import _iparml
    from ._core import ffi, lib
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "shmcp's C core (shmcp._core) or its extension (shmcp._iparml) is not built: "
        "install the package with `pip install .` or run `make test`, which sets everything up"
    ) from exc


def _check_stamp(module: str, built: str) -> None:
    if built != __version__:
        raise ImportError(
            f"shmcp's compiled {module} is version {built} but the Python package is "
            f"{__version__}: the build is stale; reinstall (`pip install -e .`) or run `make test`"
        )


_check_stamp("core", ffi.string(lib.shmcp_version()).decode())
_check_stamp("extension (_iparml)", getattr(_iparml, "__version__", "unstamped"))
if _iparml.IMAGE_LEN != lib.SHMCP_RECORD_LEN:  # two builds of different layouts
    raise ImportError(f"shmcp._iparml's image is {_iparml.IMAGE_LEN} bytes, "
                      f"the core's {lib.SHMCP_RECORD_LEN}")

_iparml.bind_core(iucv_call=int(ffi.cast("uintptr_t", ffi.addressof(lib, "shmcp_iucv_call"))),
                  next=int(ffi.cast("uintptr_t", ffi.addressof(lib, "shmcp_next"))),
                  wait=int(ffi.cast("uintptr_t", ffi.addressof(lib, "shmcp_wait"))),
                  leave=int(ffi.cast("uintptr_t", ffi.addressof(lib, "shmcp_leave"))))
_iparml.bind_receive_many(int(ffi.cast("uintptr_t", ffi.addressof(lib, "shmcp_iucv_receive_many"))))

# A wait in the main thread comes back to Python when one of its sleep
# slices ends, so that the handler of a signal that landed just before the
# wait blocked signals (Ctrl-C) runs then; SHMCP_WAIT_SLICE_MS sets the
# slice (500 ms; tests shorten or lengthen it).
lib.shmcp_wait_slices(int(float(os.environ.get("SHMCP_WAIT_SLICE_MS", "500")) * 1_000_000), 1)

# A timeout longer than this many seconds (about 31.7 years; math.inf too)
# waits with no limit, as None does: no clock reaches it, and the core's
# wait counts nanoseconds in 64 bits (docs/decisions.md).  The extension's
# own waits (pumper.c) hold the same bound.
LONGEST_TIMEOUT = _iparml.LONGEST_WAIT


def checked_timeout(timeout: Any) -> float | None:
    """``timeout`` seconds, checked before a call does anything: None for no
    limit (None, or longer than LONGEST_TIMEOUT, math.inf too); TypeError
    unless a number, ValueError if negative or NaN."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be None or a number of seconds, not {type(timeout).__name__}")
    if not timeout >= 0:  # also NaN
        raise ValueError(f"timeout must be None or a number >= 0, not {timeout!r}")
    return None if timeout > LONGEST_TIMEOUT else timeout


def timeout_ns(timeout: Any) -> int:
    """``timeout`` seconds as the core's waits take them: ns, -1 for none.
    Not a number is ValueError here, as the base layer's waits say it."""
    try:
        seconds = checked_timeout(timeout)
    except TypeError:
        raise ValueError(f"timeout must be None or a number >= 0, not {timeout!r}") from None
    return -1 if seconds is None else int(seconds * 1e9)


# the extension's names, for the modules above (csrc/pyext/ has each one)
from ._iparml import Buffer, Field, Image  # noqa: E402  (iparml.c)
from ._iparml import Machine, current, set_current, set_unhandled, unhandled  # noqa: E402  (machine.c)
from ._iparml import bind_signals, pausing, siginfo, sigpause  # noqa: E402  (sigpause.c)
from ._iparml import bind_iucv  # noqa: E402  (iucvcall.c, as the three below)
from ._iparml import presented as iucv_presented  # noqa: E402
from ._iparml import receive as iucv_receive  # noqa: E402
from ._iparml import reply as iucv_reply  # noqa: E402
from ._iparml import send as iucv_send  # noqa: E402
from ._iparml import receive_data, take_batch  # noqa: E402  (the Pythonic layer's batches)
from ._iparml import MessageCore, bind_message, file_messages  # noqa: E402
from ._iparml import answer_of, pump, receive_method, send_two_way  # noqa: E402
from ._iparml import send_method, wait_message, wait_reply  # noqa: E402
from ._iparml import take as take_message  # noqa: E402
from ._iparml import bind_vmcf, vmcf_field, vmcf_state  # noqa: E402  (vmcfcall.c, as the one below)
from ._iparml import diag68 as vmcf_diag68  # noqa: E402
from ._iparml import VmcfReplies  # noqa: E402  (vmcfreply.c)

__all__ = ["ffi", "lib", "LONGEST_TIMEOUT", "checked_timeout", "timeout_ns", "Image", "Field", "Buffer", "Machine", "current",
           "set_current", "unhandled", "set_unhandled", "iucv_send", "iucv_receive",
           "iucv_reply", "iucv_presented", "bind_iucv", "take_batch", "receive_data",
           "MessageCore", "bind_message", "file_messages", "take_message",
           "receive_method", "pump", "send_two_way", "answer_of",
           "wait_message", "wait_reply", "send_method",
           "bind_vmcf", "vmcf_field", "vmcf_state", "vmcf_diag68", "VmcfReplies"]
