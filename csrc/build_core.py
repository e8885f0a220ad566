"""cffi build of shmcp's C core (out-of-line API mode).

setuptools runs this through ``cffi_modules`` in setup.py; it compiles the
C files of the core and of the facilities (``LAYERS``) into the extension
``shmcp._core``.  The cdef is read from the public headers,
``csrc/include/``, so a declaration is never typed twice.
The package version is stamped into the binary and checked at import.
"""
from __future__ import annotations

import pathlib
import re

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent


def package_version() -> str:
    text = (ROOT / "shmcp" / "_version.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.M)
    if not match:
        raise RuntimeError("shmcp/_version.py has no __version__")
    return match.group(1)


# the public headers, one per area, the core's first
HEADERS = ("shmcp.h", "shmcp_iucv.h", "shmcp_vmcf.h")


def cdef_text() -> str:
    """The public headers as cdef accepts them: integer #defines stay,
    include guards and #includes go."""
    keep = []
    for header in HEADERS:
        for line in (HERE / "include" / header).read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith("#") and not re.match(r"#define \w+ -?\d+", stripped):
                continue
            keep.append(line)
    return "\n".join(keep)


# the folders compiled into shmcp._core (docs/design.md has the map), and
# csrc/facilities.c, the table that joins them
LAYERS = ("core", "iucv", "vmcf")
SOURCES = sorted(str(p.relative_to(ROOT)) for p in
                 [*HERE.glob("*.c"), *(p for layer in LAYERS for p in (HERE / layer).glob("*.c"))])

ffibuilder = FFI()
ffibuilder.cdef(cdef_text())
ffibuilder.set_source(
    "shmcp._core",
    "".join(f'#include "{header}"\n' for header in HEADERS),
    sources=SOURCES,
    include_dirs=[str((HERE / "include").relative_to(ROOT))],
    define_macros=[("SHMCP_BUILD_VERSION", '"%s"' % package_version()), ("_GNU_SOURCE", None)],
    extra_compile_args=["-std=gnu11", "-O2", "-Wall", "-Wextra"],
    libraries=["pthread"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
