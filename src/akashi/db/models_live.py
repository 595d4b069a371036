"""Live protection (issue 14): calls in progress, what happens on them, and the board's commands.

Telephony nodes write here through :class:`akashi.access.live.LiveStore` (every ~0.5 s); the web reads
the same rows, so the board works across processes and hosts (PostgreSQL) as well as in one (SQLite).
A live call is keyed by the caller's SIP Call-ID (``call_id``), never by a ``calls`` row: that row
exists only once the call has ended and been stored.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from akashi.db.base import Base, utcnow


class LiveCall(Base):
    """A call in progress (or just ended) as the board shows it.

    ``seen_at`` is the node's heartbeat: the node running the call moves it every few seconds, so a call
    whose node died stops being shown after the stale timeout and is closed with ``end_reason="stale"``.
    """

    __tablename__ = "live_calls"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(256), unique=True)
    site: Mapped[str] = mapped_column(String(64), default="")
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"), default=None)
    caller: Mapped[str] = mapped_column(String(64), default="")
    agent: Mapped[str] = mapped_column(String(128), default="")
    direction: Mapped[str] = mapped_column(String(4), default="in")
    started_at: Mapped[datetime] = mapped_column()
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    end_reason: Mapped[str] = mapped_column(String(16), default="")  # ended | stale
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # the incident this call opened or joined (issue 14 item 6), and whether its stored call is linked
    incident_id: Mapped[int | None] = mapped_column(
        ForeignKey("incidents.id", ondelete="SET NULL"), default=None
    )
    stored_call_id: Mapped[int | None] = mapped_column(
        ForeignKey("calls.id", ondelete="SET NULL"), default=None
    )

    __table_args__ = (Index("ix_live_calls_open", "ended_at", "site_id"),)


class LiveEventRow(Base):
    """One event of a live call; ``id`` orders the board's stream (server-sent events resume from it)."""

    __tablename__ = "live_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(256))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"), default=None)
    kind: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column()
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_live_events_call", "call_id", "id"),)


class LiveCommandRow(Base):
    """A board action (warn, end) waiting for the node running the call; taken exactly once."""

    __tablename__ = "live_commands"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(8))
    by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    taken_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (Index("ix_live_commands_pending", "taken_at", "call_id"),)
