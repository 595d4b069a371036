"""Alembic environment: runs on the engine handed in by :func:`akashi.db.migrate.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from akashi.db.all_models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Run on the connection Akashi passed in ``config.attributes``."""
    connection = config.attributes.get("connection")
    if connection is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
        with engine.begin() as conn:
            context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
            context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
