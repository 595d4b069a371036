"""analysis: call keywords, transcript full-text index

Revision ID: 0002_analysis
Revises: 0001_foundation

SQLite: an FTS5 table with the trigram tokenizer (Japanese has no word spaces) over
transcript_segments.text, kept in sync by triggers. PostgreSQL: pg_trgm and a GIN trigram index for
ILIKE; when the extension cannot be created (no privilege) search still works, unindexed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_analysis"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

SQLITE_UP = [
    "CREATE VIRTUAL TABLE transcript_fts USING fts5("
    "text, content='transcript_segments', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER transcript_fts_ai AFTER INSERT ON transcript_segments BEGIN "
    "INSERT INTO transcript_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER transcript_fts_ad AFTER DELETE ON transcript_segments BEGIN "
    "INSERT INTO transcript_fts(transcript_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER transcript_fts_au AFTER UPDATE ON transcript_segments BEGIN "
    "INSERT INTO transcript_fts(transcript_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO transcript_fts(rowid, text) VALUES (new.id, new.text); END",
    "INSERT INTO transcript_fts(transcript_fts) VALUES ('rebuild')",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS transcript_fts_ai",
    "DROP TRIGGER IF EXISTS transcript_fts_ad",
    "DROP TRIGGER IF EXISTS transcript_fts_au",
    "DROP TABLE IF EXISTS transcript_fts",
]


def upgrade() -> None:
    op.create_table(
        "call_keywords",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("word", sa.String(length=128), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_call_keywords_call_id_calls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_keywords")),
    )
    with op.batch_alter_table("call_keywords", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_call_keywords_call_id"), ["call_id"], unique=False)
        batch_op.create_index("ix_call_keywords_word", ["word"], unique=False)
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
                has_ext = None  # no privilege: search falls back to an unindexed ILIKE
        if has_ext:
            op.execute(
                "CREATE INDEX ix_transcript_segments_text_trgm ON transcript_segments "
                "USING gin (text gin_trgm_ops)"
            )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for stmt in SQLITE_DOWN:
            op.execute(stmt)
    elif bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_transcript_segments_text_trgm")
    with op.batch_alter_table("call_keywords", schema=None) as batch_op:
        batch_op.drop_index("ix_call_keywords_word")
        batch_op.drop_index(batch_op.f("ix_call_keywords_call_id"))
    op.drop_table("call_keywords")
