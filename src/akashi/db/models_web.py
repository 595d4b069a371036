"""Tables of the web application: server-side login sessions.

The cookie carries a random token; only its SHA-256 is stored, so a copy of the database does not
let anyone take over a session.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from akashi.db.base import Base, utcnow


class WebSession(Base):
    """One logged-in browser (or API client). ``id`` is the SHA-256 of the cookie token."""

    __tablename__ = "web_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    second_factor_ok: Mapped[bool] = mapped_column(Boolean, default=True)
    client: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_web_sessions_user", "user_id"),)
