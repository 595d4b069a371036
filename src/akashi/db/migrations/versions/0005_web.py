"""web sessions, and indexes for searching calls by part of a phone number

Revision ID: 0005_web
Revises: 0001_foundation

Phone numbers are searched by any part (``LIKE '%1234%'``), which no B-tree index serves.
SQLite: an FTS5 trigram table ``call_digits_fts`` over ``calls.caller_digits``/``dialled_digits``,
kept in sync by triggers (rowid = ``calls.id``). PostgreSQL: ``pg_trgm`` GIN indexes, which serve
the existing ``LIKE`` directly.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import akashi.db.base

revision = "0005_web"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

SQLITE_UP = [
    "CREATE VIRTUAL TABLE call_digits_fts USING fts5("
    "caller_digits, dialled_digits, content='calls', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER call_digits_fts_ai AFTER INSERT ON calls BEGIN "
    "INSERT INTO call_digits_fts(rowid, caller_digits, dialled_digits) "
    "VALUES (new.id, new.caller_digits, new.dialled_digits); END",
    "CREATE TRIGGER call_digits_fts_ad AFTER DELETE ON calls BEGIN "
    "INSERT INTO call_digits_fts(call_digits_fts, rowid, caller_digits, dialled_digits) "
    "VALUES ('delete', old.id, old.caller_digits, old.dialled_digits); END",
    "CREATE TRIGGER call_digits_fts_au AFTER UPDATE OF caller_digits, dialled_digits ON calls BEGIN "
    "INSERT INTO call_digits_fts(call_digits_fts, rowid, caller_digits, dialled_digits) "
    "VALUES ('delete', old.id, old.caller_digits, old.dialled_digits); "
    "INSERT INTO call_digits_fts(rowid, caller_digits, dialled_digits) "
    "VALUES (new.id, new.caller_digits, new.dialled_digits); END",
    "INSERT INTO call_digits_fts(call_digits_fts) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS call_digits_fts_ai",
    "DROP TRIGGER IF EXISTS call_digits_fts_ad",
    "DROP TRIGGER IF EXISTS call_digits_fts_au",
    "DROP TABLE IF EXISTS call_digits_fts",
]


def upgrade() -> None:
    """Create the session table and the number-search indexes."""
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("second_factor_ok", sa.Boolean(), nullable=False),
        sa.Column("client", sa.String(length=200), nullable=False),
        sa.Column("created_at", akashi.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", akashi.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_web_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
    )
    op.create_index("ix_web_sessions_user", "web_sessions", ["user_id"], unique=False)
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for stmt in SQLITE_UP:
            op.execute(stmt)
    elif bind.dialect.name == "postgresql":
        has_ext = bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).scalar()
        if not has_ext:
            try:
                with bind.begin_nested():
                    bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
                has_ext = 1
            except sa.exc.DBAPIError:
                has_ext = None  # no privilege: number search stays an unindexed LIKE
        if has_ext:
            op.execute(
                "CREATE INDEX ix_calls_caller_digits_trgm ON calls USING gin (caller_digits gin_trgm_ops)"
            )
            op.execute(
                "CREATE INDEX ix_calls_dialled_digits_trgm ON calls USING gin (dialled_digits gin_trgm_ops)"
            )


def downgrade() -> None:
    """Drop the number-search indexes and the session table."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for stmt in SQLITE_DOWN:
            op.execute(stmt)
    elif bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_calls_caller_digits_trgm")
        op.execute("DROP INDEX IF EXISTS ix_calls_dialled_digits_trgm")
    op.drop_index("ix_web_sessions_user", table_name="web_sessions")
    op.drop_table("web_sessions")
