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
