"""incident grants: a counsel user may read one incident's evidence until a time

Revision ID: 0012_incident_grants
Revises: 0005_web
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import akashi.db.base

revision = "0012_incident_grants"
down_revision = "0005_web"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``incident_grants``."""
    op.create_table(
        "incident_grants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("until", akashi.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("granted_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", akashi.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", akashi.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_grants_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_incident_grants_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_grants")),
    )
    op.create_index("ix_incident_grants_user", "incident_grants", ["user_id", "until"], unique=False)
    op.create_index("ix_incident_grants_incident", "incident_grants", ["incident_id"], unique=False)


def downgrade() -> None:
    """Drop ``incident_grants``."""
    op.drop_index("ix_incident_grants_incident", table_name="incident_grants")
    op.drop_index("ix_incident_grants_user", table_name="incident_grants")
    op.drop_table("incident_grants")
