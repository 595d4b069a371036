"""Demo traffic is marked: ``calls.demo`` and ``cameras.demo`` (``akashi demo --clear`` removes it).

Revision ID: 0014_demo_marks
Revises: 0001_foundation
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_demo_marks"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no table rebuild): the FTS triggers and indexes of the tables stay as they are.
    op.add_column("calls", sa.Column("demo", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("cameras", sa.Column("demo", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    op.drop_column("cameras", "demo")
    op.drop_column("calls", "demo")
