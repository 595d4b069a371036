"""Tables of the foundation. Other packages' tables live in ``models_*.py`` beside this one.

All times are UTC. Evidence rows are never updated in place except for their state, hold and
retention fields, and every such change is also a ledger entry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from akashi.callfacts import CallFacts
from akashi.db.base import Base, utcnow

ROLES = ("admin", "manager", "operator", "auditor", "counsel")


class Site(Base):
    """An office, contact centre or shop."""

    __tablename__ = "sites"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UserSite(Base):
    """Which sites a user may see (managers, operators)."""

    __tablename__ = "user_sites"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)


class Agent(Base):
    """An operator as the phone system knows them: a name, a SIP user, a site."""

    __tablename__ = "agents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    sip_user: Mapped[str | None] = mapped_column(String(128), unique=True, default=None)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), default=None)


class User(Base):
    """A person who logs in. ``agent_id`` links an operator to their calls."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), default=None)
    totp_secret: Mapped[str | None] = mapped_column(String(255), default=None)  # sealed, see web/totp.py
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, default=None)  # no code used twice
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str] = mapped_column(String(8), default="ja")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sites: Mapped[list[Site]] = relationship(secondary="user_sites", lazy="selectin")


class EvidenceObject(Base):
    """One stored, encrypted object. ``sha256`` is of the plaintext, ``cipher_sha256`` of what is stored."""

    __tablename__ = "evidence_objects"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    media_type: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(255), default="")
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    cipher_size: Mapped[int] = mapped_column(BigInteger)
    cipher_sha256: Mapped[str] = mapped_column(String(64))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    key_id: Mapped[str] = mapped_column(String(64))
    chunk_size: Mapped[int] = mapped_column(Integer)
    backend: Mapped[str] = mapped_column(String(16))
    location: Mapped[str] = mapped_column(String(512))
    state: Mapped[str] = mapped_column(String(16), default="stored")  # stored | pending | deleted
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    retain_until: Mapped[datetime | None] = mapped_column(default=None)
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ix_evidence_retain", "state", "retain_until"),)


class LedgerEntry(Base):
    """Append-only, hash-chained record of every put, hold, release and deletion."""

    __tablename__ = "ledger"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[str] = mapped_column(String(32), index=True)
    data: Mapped[str] = mapped_column(Text)  # canonical JSON of the facts
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditEntry(Base):
    """Who did what to which evidence, when and from where; hash-chained like the ledger."""

    __tablename__ = "audit"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[datetime] = mapped_column(default=utcnow)
    user_name: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    target_type: Mapped[str] = mapped_column(String(32), default="")
    target_id: Mapped[str] = mapped_column(String(64), default="")
    outcome: Mapped[str] = mapped_column(String(16))  # ok | denied | failed
    client: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)

    __table_args__ = (
        Index("ix_audit_target", "target_type", "target_id"),
        Index("ix_audit_user_ts", "user_name", "ts"),
    )


class Call(Base):
    """A recorded (or missed) phone call."""

    __tablename__ = "calls"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column()
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    direction: Mapped[str] = mapped_column(String(4))  # in | out
    caller: Mapped[str] = mapped_column(String(64), default="")
    dialled: Mapped[str] = mapped_column(String(64), default="")
    caller_digits: Mapped[str] = mapped_column(String(64), default="")  # national form, digits only
    dialled_digits: Mapped[str] = mapped_column(String(64), default="")
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), default=None)
    agent_name: Mapped[str] = mapped_column(String(128), default="")
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), default=None)
    duration_s: Mapped[float] = mapped_column(Float, default=0.0)
    status: Mapped[str] = mapped_column(
        String(16), default="completed"
    )  # completed|missed|interrupted|failed
    source: Mapped[str] = mapped_column(String(16), default="sip")  # sip | import
    hangup_side: Mapped[str] = mapped_column(String(16), default="")
    call_ids: Mapped[list[Any]] = mapped_column(default=list)
    notice_mode: Mapped[str] = mapped_column(String(16), default="")
    notice_started_at: Mapped[datetime | None] = mapped_column(default=None)
    notice_ended_at: Mapped[datetime | None] = mapped_column(default=None)
    bridged_at: Mapped[datetime | None] = mapped_column(default=None)
    media_object_id: Mapped[str | None] = mapped_column(ForeignKey("evidence_objects.id"), default=None)
    codec: Mapped[str] = mapped_column(String(32), default="")
    channels: Mapped[int] = mapped_column(Integer, default=2)
    flags: Mapped[list[Any]] = mapped_column(default=list)  # category names, for quick filters
    severity: Mapped[float] = mapped_column(Float, default=0.0)
    analysis_state: Mapped[str] = mapped_column(String(16), default="pending")
    #: the call's facts as JSON, schema :class:`akashi.callfacts.CallFacts`: read them as :attr:`facts`
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # made by `akashi demo` (simulated traffic); `akashi demo --clear` removes it
    demo: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    @property
    def facts(self) -> CallFacts:
        """The typed facts of the call (a copy: store changes with ``extra = facts.to_extra()``)."""
        return CallFacts.read(self.extra)

    @validates("extra")
    def _facts_fit_the_schema(self, _key: str, value: dict[str, Any] | None) -> dict[str, Any]:
        """Whatever sets the JSON column goes through its schema: a fact of the wrong type raises
        ``pydantic.ValidationError`` instead of reaching the database."""
        return CallFacts.model_validate(value or {}).to_extra()

    __table_args__ = (
        Index("ix_calls_started", "started_at"),
        Index("ix_calls_site_started", "site_id", "started_at"),
        Index("ix_calls_agent_started", "agent_id", "started_at"),
        Index("ix_calls_caller_digits", "caller_digits"),
        Index("ix_calls_dialled_digits", "dialled_digits"),
    )


class CallFlag(Base):
    """A harassment or compliance flag with its evidence (words, channel, time range)."""

    __tablename__ = "call_flags"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    category: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(16))  # lexicon | behaviour | compliance
    words: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(16), default="")
    start_s: Mapped[float] = mapped_column(Float, default=0.0)
    end_s: Mapped[float] = mapped_column(Float, default=0.0)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class TranscriptSegment(Base):
    """A stretch of speech on one channel of a call."""

    __tablename__ = "transcript_segments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # customer | operator
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    reading: Mapped[str] = mapped_column(Text, default="")
    # [[start_s, end_s, text, probability], ...] on the call's timeline; None for older transcripts
    words: Mapped[list[Any] | None] = mapped_column(default=None)


class Camera(Base):
    """A camera known to the database (mirrors config; keeps state)."""

    __tablename__ = "cameras"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), default=None)
    state: Mapped[str] = mapped_column(String(16), default="unknown")
    last_segment_at: Mapped[datetime | None] = mapped_column(default=None)
    codec: Mapped[str] = mapped_column(String(32), default="")
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # the simulated camera of `akashi demo`; its footage is demo data
    demo: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class CameraSegment(Base):
    """A closed fMP4 segment of one camera."""

    __tablename__ = "camera_segments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id"))
    object_id: Mapped[str | None] = mapped_column(ForeignKey("evidence_objects.id"), default=None)
    started_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime] = mapped_column()
    frames: Mapped[int] = mapped_column(Integer, default=0)
    codec: Mapped[str] = mapped_column(String(32), default="")
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    sha256: Mapped[str] = mapped_column(String(64), default="")

    __table_args__ = (Index("ix_camseg_camera_started", "camera_id", "started_at"),)


class CameraGap(Base):
    """A stretch of time with no footage, and why."""

    __tablename__ = "camera_gaps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id"))
    started_at: Mapped[datetime] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    reason: Mapped[str] = mapped_column(String(200), default="")

    __table_args__ = (Index("ix_camgap_camera_started", "camera_id", "started_at"),)


class Incident(Base):
    """A case (案件) linking calls and camera ranges."""

    __tablename__ = "incidents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | closed
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), default=None)
    notes: Mapped[str] = mapped_column(Text, default="")
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IncidentItem(Base):
    """A call or a camera time range that belongs to an incident."""

    __tablename__ = "incident_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"), index=True)
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id"), default=None)
    camera_id: Mapped[int | None] = mapped_column(ForeignKey("cameras.id"), default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    released: Mapped[bool] = mapped_column(Boolean, default=False)


class Note(Base):
    """A note on a call or an incident."""

    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_type: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[int] = mapped_column(Integer)
    author: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_notes_target", "target_type", "target_id"),)


class Job(Base):
    """A durable unit of background work."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default="queued")  # queued|running|done|dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    worker: Mapped[str] = mapped_column(String(128), default="")
    last_error: Mapped[str] = mapped_column(Text, default="")
    dedupe_key: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        Index("ix_jobs_claim", "state", "run_after"),
        UniqueConstraint("dedupe_key", name="uq_jobs_dedupe_key"),
    )


class Setting(Base):
    """Small key/value facts of the installation (schema notes, last verify result)."""

    __tablename__ = "kv"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
