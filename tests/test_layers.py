"""The package's house rules, read from its source (docs/design.md, Map):
imports point down the layers and form no cycle, the compiled modules are
loaded in one place, no module touches another's private members, and no
file of the project puts itself on sys.path."""
from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "shmcp"

# bottom to top; a module may import its own layer's modules listed before
# it, and any module of a layer below
LAYERS = [
    ("native", ["_version", "_native"]),
    ("runtime", ["errors", "interrupt", "directory", "snapshot", "system", "machine", "signals",
                 "session"]),
    ("faithful", ["plist", "msgservice", "iucv", "vmcf", "trace"]),
    ("sasc", ["sasc"]),
    ("top", ["testing", "pythonic", "cli", "__main__", "__init__"]),
]
RANK = {m: (i, j) for i, (_, mods) in enumerate(LAYERS) for j, m in enumerate(mods)}
COMPILED = {"_core", "_iparml"}


def module_of(path: pathlib.Path) -> str:
    """The top-level module a file belongs to (a package's files: the package)."""
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def typing_only(tree: ast.AST) -> set[int]:
    """The nodes under ``if TYPE_CHECKING:``: names for the type checker,
    never imported when the program runs."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) \
                and node.test.id == "TYPE_CHECKING":
            out.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return out


def imports(path: pathlib.Path) -> set[str]:
    """The shmcp modules a file imports when it runs, wherever in it (lazy
    imports too; not those only the type checker sees)."""
    rel = path.relative_to(PACKAGE)
    depth = len(rel.parts) - 1  # how deep in a subpackage
    out = set()
    tree = ast.parse(path.read_text())
    skip = typing_only(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level == 0:
                parts = (node.module or "").split(".")
                if parts[0] != "shmcp":
                    continue
                names = parts[1:2] or [a.name for a in node.names]
            else:
                if node.level <= depth:
                    continue  # within its own subpackage
                parts = (node.module or "").split(".") if node.module else []
                names = parts[:1] or [a.name for a in node.names]
            out.update(names)
        elif isinstance(node, ast.Import):
            for a in node.names:
                parts = a.name.split(".")
                if parts[0] == "shmcp" and len(parts) > 1:
                    out.add(parts[1])
    return out


def sources() -> list[pathlib.Path]:
    return sorted(PACKAGE.rglob("*.py"))


def graph() -> dict[str, set[str]]:
    g: dict[str, set[str]] = {}
    for path in sources():
        mod = module_of(path)
        g.setdefault(mod, set()).update(imports(path) - {mod})
    return g


def test_every_module_has_a_layer():
    assert sorted(set(graph()) - set(RANK)) == []


def test_imports_point_down():
    upward = [f"{m} imports {d}" for m, deps in graph().items() for d in deps
              if d in RANK and RANK[d] >= RANK[m]]
    assert upward == []


def test_no_import_cycles():
    g = graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in sorted(g.get(m, ())):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m, [m])
    assert cycles == []


def test_the_compiled_modules_are_loaded_in_one_place():
    loaders = sorted(module_of(p) for p in sources() if imports(p) & COMPILED)
    assert loaders == ["_native"]


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_touches_another_modules_private_members(path):
    """``x._name`` only on this module's own objects (self, cls) or on
    objects of its own classes; never ``module._name`` of a shmcp module,
    nor ``from .module import _name``."""
    own_module = module_of(path)
    bad = []
    tree = ast.parse(path.read_text())
    imported_modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("shmcp")):
            for a in node.names:
                allowed = {"_version", "_native"} | (COMPILED if own_module == "_native" else set())
                if a.name.startswith("_") and not a.name.startswith("__") and \
                        a.name not in allowed and not node.module:
                    bad.append(f"line {node.lineno}: from . import {a.name}")
                elif a.name.startswith("_") and not a.name.startswith("__") and node.module \
                        and node.module.split(".")[-1] != own_module:
                    bad.append(f"line {node.lineno}: from {node.module} import {a.name}")
                if a.name in RANK:
                    imported_modules.add(a.asname or a.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id in imported_modules and node.attr.startswith("_") \
                and not node.attr.startswith("__"):
            bad.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    assert bad == []


def test_objects_of_other_modules_are_used_through_their_stated_names():
    """The members the runtime states for facilities (machine.py's
    docstring) are the only ones the other modules read off a VM."""
    private_reads = []
    for path in sources():
        if module_of(path) == "machine":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id == "vm" and node.attr.startswith("_") \
                    and not node.attr.startswith("__"):
                private_reads.append(f"{path.name}:{node.lineno}: vm.{node.attr}")
    assert private_reads == []


def test_nothing_puts_itself_on_sys_path():
    files = [p for d in ("shmcp", "tests", "examples", "bench") for p in (ROOT / d).rglob("*.py")]
    assert [str(p.relative_to(ROOT)) for p in files if "sys.path.insert" in p.read_text()
            and p.name != "test_layers.py"] == []
