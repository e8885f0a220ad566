"""docs/reference.md names every public name, so it cannot silently fall
behind the code: every name of shmcp.__all__, every function and constant
of shmcp.iucv and shmcp.vmcf, every SAS/C function, every public method of
the Pythonic layer's classes, every exception and every ipl limit."""
from __future__ import annotations

import inspect
import os
import re

import pytest

import shmcp
from shmcp import iucv, sasc, vmcf
from shmcp.system import _LIMITS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(ROOT, "docs", "reference.md")) as _f:
    REFERENCE = _f.read()


def public_functions(module) -> list[str]:
    """The functions of the module's __all__ (IUCV's SEND, RECEIVE and REPLY
    are C functions of the extension)."""
    return [n for n in module.__all__
            if inspect.isfunction(getattr(module, n)) or inspect.isbuiltin(getattr(module, n))]


def constants(module) -> list[str]:
    return [n for n, v in vars(module).items() if n.isupper() and not n.startswith("_")
            and isinstance(v, (int, dict))]


def public_methods(cls) -> list[str]:
    return [n for c in cls.__mro__ if c is not object
            for n in vars(c) if not n.startswith("_")]


def mentioned(name: str) -> bool:
    """``name`` appears as a word of the reference (not inside a longer one)."""
    return re.search(r"(?<![\w])" + re.escape(name) + r"(?![\w])", REFERENCE) is not None


NAMES = (
    [("shmcp", n) for n in shmcp.__all__]
    + [("shmcp.iucv", "iucv." + n) for n in public_functions(iucv)]
    + [("shmcp.iucv", n) for n in constants(iucv)]
    + [("shmcp.vmcf", "vmcf." + n) for n in public_functions(vmcf)
       if n not in ("smsg", "info")] + [("shmcp.vmcf", n) for n in ("smsg", "info")]
    + [("shmcp.vmcf", n) for n in constants(vmcf)]
    + [("shmcp.sasc", n) for n in sasc.__all__]
    + [("shmcp.sasc", n) for n in constants(sasc) if n not in ("SIGIUCV",)]
    + [(c.__name__, n) for c in (shmcp.VirtualMachine, shmcp.Path, shmcp.Pending,
                                 shmcp.Message, shmcp.Event, shmcp.System, shmcp.Interrupt,
                                 shmcp.OwnedSystem)
       for n in public_methods(c)]
    + [("ipl", n) for n in _LIMITS]
)


def test_iucv_has_its_18_functions():
    """The reference's IUCV table has one row per function: 18."""
    functions = public_functions(iucv)
    assert len(functions) == 18
    rows = re.findall(r"^\| `iucv\.(\w+)\(", REFERENCE, re.M)
    assert sorted(rows) == sorted(functions)


@pytest.mark.parametrize("where,name", sorted(set(NAMES)))
def test_reference_names(where, name):
    assert mentioned(name), f"{where}.{name} is not in docs/reference.md"


def test_reference_names_every_exception_with_its_base():
    errors = [o for o in vars(shmcp).values()
              if inspect.isclass(o) and issubclass(o, shmcp.ShmcpError)]
    assert len(errors) >= 18
    for cls in errors:
        base = cls.__mro__[1].__name__
        row = re.search(r"^\| `" + cls.__name__ + r"` \| `" + base + r"`", REFERENCE, re.M)
        assert row, f"{cls.__name__} (base {base}) has no row in the exceptions table"


def test_reference_gives_every_iprcode_constant_its_number():
    for name in constants(iucv):
        if name.startswith("IPRC_"):
            assert re.search(rf"^\| {getattr(iucv, name)} \| `{name}` \|", REFERENCE, re.M), name


def test_reference_gives_every_vmcf_return_code_its_number():
    for name in constants(vmcf):
        if name.startswith("RC_") and isinstance(getattr(vmcf, name), int):
            assert re.search(rf"^\| {getattr(vmcf, name)} \| `{name}` \|", REFERENCE, re.M), name


def test_reference_gives_every_limit_its_default():
    for name, (default, lo, hi) in _LIMITS.items():
        row = re.search(rf"^\| `{name}` \| ([^|]+) \|", REFERENCE, re.M)
        assert row, name
        text = row.group(1).strip()
        value = int(text.split()[0]) * {"MiB": 1 << 20, "KiB": 1 << 10}.get(
            text.split()[-1], 1) if text.split()[0].isdigit() else None
        assert value == default, (name, text, default)


def test_reference_stays_inside_the_repository():
    from test_readme import OUTSIDE  # tests/ is on the path: pytest puts it there
    assert not OUTSIDE.search(REFERENCE), OUTSIDE.search(REFERENCE).group()
