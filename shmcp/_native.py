"""The compiled core, loaded once; its version checked against the package.

Never imported by users: the facilities and the Pythonic layer go through it.
"""
from __future__ import annotations

import os
import sys

from ._version import __version__

if not sys.platform.startswith("linux"):
    raise ImportError(
        f"shmcp runs on Linux only (it needs POSIX shared memory, pidfds and /proc); "
        f"this is {sys.platform}"
    )

try:
    from ._core import ffi, lib
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "shmcp's C core (shmcp._core) is not built: install the package with "
        "`pip install .` or run `make test`, which sets everything up"
    ) from exc

_built = ffi.string(lib.shmcp_version()).decode()
if _built != __version__:
    raise ImportError(
        f"shmcp's compiled core is version {_built} but the Python package is "
        f"{__version__}: the build is stale; reinstall (`pip install -e .`) or run `make test`"
    )

# A wait in the main thread comes back to Python when one of its sleep
# slices ends, so that the handler of a signal that landed just before the
# wait blocked signals (Ctrl-C) runs then; SHMCP_WAIT_SLICE_MS sets the
# slice (500 ms; tests shorten or lengthen it).
lib.shmcp_wait_slices(int(float(os.environ.get("SHMCP_WAIT_SLICE_MS", "500")) * 1_000_000), 1)

__all__ = ["ffi", "lib"]
