"""Trigram index on transcript readings (PostgreSQL), for search by reading.

Revision ID: 0006_reading_index
Revises: 0002_analysis
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_reading_index"
down_revision = "0002_analysis"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # SQLite scans readings; the written-form FTS5 index carries most searches
    has_ext = bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).scalar()
    if has_ext:
        op.execute(
            "CREATE INDEX IF NOT EXISTS ix_transcript_segments_reading_trgm ON transcript_segments "
            "USING gin (reading gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_transcript_segments_reading_trgm")
