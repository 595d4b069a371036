"""Database: SQLAlchemy 2 models, Alembic migrations, queries. SQLite (WAL) default, PostgreSQL at scale."""

from akashi.db.base import Base, make_engine, session_factory, session_scope, utcnow

__all__ = ["Base", "make_engine", "session_factory", "session_scope", "utcnow"]
