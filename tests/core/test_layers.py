"""The tree is the data path: the sans-IO core and the policy never do I/O themselves.

This test reads the source of `sockspy/core/` and `sockspy/policy/` and fails on an import
of trio, socket, ssl or os (or anything under them), or of the layers above (`sockspy.io`,
`sockspy.cli`). Their code takes bytes and answers, and yields the look-ups it needs; the
I/O layer does the rest.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import sockspy

ROOT = Path(sockspy.__file__).parent
PURE = ("core", "policy")
FORBIDDEN = ("trio", "socket", "ssl", "os", "sockspy.io", "sockspy.cli")


def imported(source: str) -> set[str]:
    """Every module an `import` or absolute `from ... import` of this source names."""
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


def forbidden(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))


def pure_files() -> list[Path]:
    return sorted(p for layer in PURE for p in (ROOT / layer).rglob("*.py"))


def test_the_check_catches_every_form_of_a_forbidden_import() -> None:
    source = "import os.path\nfrom trio import lowlevel\nimport ssl as s\nfrom sockspy.io import x"
    assert forbidden(imported(source)) == ["os.path", "sockspy.io", "ssl", "trio"]
    assert forbidden(imported("import ipaddress\nfrom sockspy.core import wire\n")) == []


def test_there_are_pure_modules_to_check() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in pure_files()}
    assert {"core/proxy/conversation.py", "core/deciding/judgement.py"} <= names
    assert {"policy/engine.py", "policy/hostaccess.py"} <= names


@pytest.mark.parametrize("path", pure_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_core_and_policy_modules_import_no_io(path: Path) -> None:
    assert forbidden(imported(path.read_text())) == []


# -- the floors of the core ----------------------------------------------------------------
# From the ground up: the record interface; wire; docker; deciding; serving and audit side
# by side; then proxy, the live path. A folder imports only from the floors below it (and
# itself). `records` imports nothing of sockspy, so every floor can name a record type.
FLOORS: dict[str, frozenset[str]] = {
    "records": frozenset(),
    "wire": frozenset({"records"}),
    "docker": frozenset({"records", "wire"}),
    "deciding": frozenset({"records", "wire", "docker"}),
    "serving": frozenset({"records", "wire", "docker", "deciding"}),
    "audit": frozenset({"records", "wire", "docker", "deciding"}),
    "proxy": frozenset({"records", "wire", "docker", "deciding"}),
}


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _room(module: str) -> str | None:
    """The floor of a `sockspy.core` module: its folder, or `records`."""
    parts = module.split(".")
    if parts[:2] != ["sockspy", "core"] or len(parts) < 3:
        return None
    return parts[2]


def _known(name: str, modules: set[str]) -> str | None:
    """The module an imported name lives in (`from a.b import c` names a.b or a.b.c)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def core_imports() -> dict[str, set[str]]:
    """Every `sockspy.core` module -> the `sockspy.core` modules it imports, including
    imports under TYPE_CHECKING and inside functions (a cycle hidden there is one still)."""
    files = sorted((ROOT / "core").rglob("*.py"))
    modules = {_module(p) for p in files}
    graph: dict[str, set[str]] = {}
    for path in files:
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        found = {_known(name, modules) for name in names if name.startswith("sockspy.core")}
        graph[_module(path)] = {m for m in found if m and m != "sockspy.core"} - {_module(path)}
    return graph


def reversed_imports(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, imported_modules in graph.items():
        room = _room(module)
        for other in imported_modules:
            to = _room(other)
            if room is not None and to is not None and to != room and to not in FLOORS[room]:
                wrong.append(f"{module} -> {other}")
    return sorted(wrong)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each import cycle once (found by a depth-first walk)."""
    found: list[list[str]] = []
    done: set[str] = set()

    def walk(module: str, path: list[str]) -> None:
        if module in path:
            cycle = path[path.index(module) :]
            if min(cycle) == cycle[0]:
                found.append(cycle)
            return
        if module in done:
            return
        for other in sorted(graph.get(module, ())):
            walk(other, [*path, module])
        done.add(module)

    for module in sorted(graph):
        walk(module, [])
    return found


def test_every_folder_of_the_core_has_its_floor() -> None:
    rooms = {_room(m) for m in core_imports()} - {"__init__", None}
    assert rooms == set(FLOORS)


def test_the_core_imports_only_downwards() -> None:
    assert reversed_imports(core_imports()) == []


def test_the_core_has_no_import_cycle() -> None:
    assert cycles(core_imports()) == []


def test_the_floor_check_catches_a_reversed_import_and_a_cycle() -> None:
    graph = {
        "sockspy.core.deciding.gate": {"sockspy.core.serving.limits"},
        "sockspy.core.proxy.exchange": {"sockspy.core.proxy.recording"},
        "sockspy.core.proxy.recording": {"sockspy.core.proxy.exchange"},
    }
    assert reversed_imports(graph) == ["sockspy.core.deciding.gate -> sockspy.core.serving.limits"]
    assert cycles(graph) == [["sockspy.core.proxy.exchange", "sockspy.core.proxy.recording"]]
