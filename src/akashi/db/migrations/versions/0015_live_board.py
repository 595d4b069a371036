"""live board: calls in progress, their events and the board's commands (issue 14)

Revision ID: 0015_live_board
Revises: 0001_foundation
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import akashi.db.base

revision = "0015_live_board"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

_UTC = akashi.db.base.UTCDateTime


def upgrade() -> None:
    """Create ``live_calls``, ``live_events`` and ``live_commands``."""
    op.create_table(
        "live_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=256), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("caller", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=128), nullable=False),
        sa.Column("direction", sa.String(length=4), nullable=False),
        sa.Column("started_at", _UTC(timezone=True), nullable=False),
        sa.Column("answered_at", _UTC(timezone=True), nullable=True),
        sa.Column("ended_at", _UTC(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=16), nullable=False),
        sa.Column("seen_at", _UTC(timezone=True), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("stored_call_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_live_calls_site_id_sites"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_live_calls_incident_id_incidents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["stored_call_id"],
            ["calls.id"],
            name=op.f("fk_live_calls_stored_call_id_calls"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_calls")),
        sa.UniqueConstraint("call_id", name=op.f("uq_live_calls_call_id")),
    )
    op.create_index("ix_live_calls_open", "live_calls", ["ended_at", "site_id"], unique=False)
    op.create_table(
        "live_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=256), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", _UTC(timezone=True), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_live_events_site_id_sites"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_events")),
    )
    op.create_index("ix_live_events_call", "live_events", ["call_id", "id"], unique=False)
    op.create_table(
        "live_commands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.String(length=256), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("by", sa.String(length=128), nullable=False),
        sa.Column("created_at", _UTC(timezone=True), nullable=False),
        sa.Column("taken_at", _UTC(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_commands")),
    )
    op.create_index("ix_live_commands_pending", "live_commands", ["taken_at", "call_id"], unique=False)


def downgrade() -> None:
    """Drop the live board tables."""
    op.drop_index("ix_live_commands_pending", table_name="live_commands")
    op.drop_table("live_commands")
    op.drop_index("ix_live_events_call", table_name="live_events")
    op.drop_table("live_events")
    op.drop_index("ix_live_calls_open", table_name="live_calls")
    op.drop_table("live_calls")
