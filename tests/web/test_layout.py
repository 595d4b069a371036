"""The web package's shape (issue 13): thin routers in ``routes/``, what they call in ``services/``.

Routers do not import one another, services never import a router, and ``access`` (sessions, TOTP,
evidence packages) never reaches up into ``web``. Every import counts, lazy ones included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import akashi

SRC = Path(akashi.__file__).parent


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def _offences(folder: str, forbidden: str, allow_self: bool = False) -> list[str]:
    out = []
    for path in sorted((SRC / folder).rglob("*.py")):
        me = "akashi." + ".".join(path.relative_to(SRC).with_suffix("").parts)
        for name in _imports(path):
            if name.startswith(forbidden) and name != forbidden and not (allow_self and name == me):
                out.append(f"{path.relative_to(SRC)} imports {name}")
    return out


def test_routers_do_not_import_each_other() -> None:
    assert not _offences("web/routes", "akashi.web.routes.")


def test_services_never_import_a_router() -> None:
    assert not _offences("web/services", "akashi.web.routes")


def test_access_never_reaches_into_web() -> None:
    assert not _offences("access", "akashi.web")


def test_no_module_global_caches_in_web() -> None:
    """No ``OrderedDict``/``lru_cache`` at module level: caches belong to the app's state (``web/cache.py``)."""
    found = []
    for path in sorted((SRC / "web").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
            if (
                isinstance(value, ast.Call)
                and isinstance(value.func, ast.Name)
                and value.func.id == "OrderedDict"
            ):
                found.append(f"{path.relative_to(SRC)}:{node.lineno}")
        found += [
            f"{path.relative_to(SRC)}:{n.lineno}"
            for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef)
            for d in n.decorator_list
            if "lru_cache" in ast.unparse(d) or ast.unparse(d) == "cache"
        ]
    assert not found
