"""Word times of transcript segments (utterances cite the time of each word).

Revision ID: 0013_transcript_words
Revises: 0006_reading_index
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_transcript_words"
down_revision = "0006_reading_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: transcripts stored before this revision keep their segments and have no word times.
    # A plain ADD COLUMN (no table rebuild), so the FTS5 triggers on the table stay as they are.
    op.add_column("transcript_segments", sa.Column("words", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("transcript_segments", "words")
