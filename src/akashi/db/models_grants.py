"""Incident-scoped access: a user (role ``counsel``) may read one incident's evidence until a time.

A grant is never deleted: revoking it stamps ``revoked_at``/``revoked_by``, so the table keeps who
could read what, and when, beside the audit log.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from akashi.db.base import Base, utcnow


class IncidentGrant(Base):
    """``user_id`` may view, play and export the calls and camera ranges of ``incident_id`` until ``until``."""

    __tablename__ = "incident_grants"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    until: Mapped[datetime] = mapped_column()
    granted_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_by: Mapped[str | None] = mapped_column(String(128), default=None)

    __table_args__ = (
        Index("ix_incident_grants_user", "user_id", "until"),
        Index("ix_incident_grants_incident", "incident_id"),
    )
