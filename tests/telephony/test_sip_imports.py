"""The modules of ``akashi.telephony.sip`` import each other without a cycle.

Every ``import`` and ``from ... import`` in each module counts, wherever it is written: at the top,
inside a function, or under ``if TYPE_CHECKING:``. A cycle hidden in a function body or a type-only
import is still a cycle for a reader and for the next refactoring.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

import akashi.telephony.sip as sip_pkg

PACKAGE = "akashi.telephony.sip"
SIP_DIR = Path(sip_pkg.__file__).parent


def _module_name(path: Path) -> str:
    return PACKAGE if path.name == "__init__.py" else f"{PACKAGE}.{path.stem}"


def _imported(tree: ast.AST, here: str, modules: set[str]) -> set[str]:
    """The package's own modules that ``tree`` imports (absolute, relative and ``from pkg import mod``)."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = here.rsplit(".", node.level)[0] if here != PACKAGE else PACKAGE
                base = f"{parent}.{base}" if base else parent
            # ``from pkg import mod`` is an edge to ``mod``; ``from mod import name`` one to ``mod``
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        out |= {n for n in names if n in modules and n != here}
    return out


def import_graph(directory: Path) -> dict[str, set[str]]:
    """Module name -> the package's modules it imports, from the source of every ``.py`` file."""
    files = sorted(directory.glob("*.py"))
    modules = {_module_name(p) for p in files}
    return {
        _module_name(p): _imported(ast.parse(p.read_text(encoding="utf-8")), _module_name(p), modules)
        for p in files
    }


def test_sip_modules_import_as_a_dag() -> None:
    """No module of the package reaches itself through its imports (type-only and lazy ones included)."""
    graph = import_graph(SIP_DIR)
    assert f"{PACKAGE}.grammar" in graph and f"{PACKAGE}.message" in graph
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        pytest.fail(f"import cycle in {PACKAGE}: {' -> '.join(exc.args[1])}")
    assert set(order) == set(graph)


def test_grammar_is_the_bottom_of_the_package() -> None:
    """``grammar`` imports nothing else from the package, so anything may import it."""
    assert import_graph(SIP_DIR)[f"{PACKAGE}.grammar"] == set()


def test_the_check_sees_hidden_cycles(tmp_path: Path) -> None:
    """A cycle made only of a function-level import and a TYPE_CHECKING import is found."""
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "message.py").write_text("def f():\n    from akashi.telephony.sip.uri import g\n")
    (tmp_path / "uri.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from . import message\n"
    )
    graph = import_graph(tmp_path)
    assert graph[f"{PACKAGE}.message"] == {f"{PACKAGE}.uri"}
    assert graph[f"{PACKAGE}.uri"] == {f"{PACKAGE}.message"}
    with pytest.raises(CycleError):
        list(TopologicalSorter(graph).static_order())
