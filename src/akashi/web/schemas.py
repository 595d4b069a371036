"""Pydantic models of the JSON API (``/api/v1``), with bounds and descriptions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class CallOrder(StrEnum):
    """Sort keys of the call list; a leading minus sorts descending."""

    newest = "-started_at"
    oldest = "started_at"
    longest = "-duration"
    shortest = "duration"
    severity = "-severity"
    caller = "caller"
    agent = "agent"


class CallSummary(BaseModel):
    """One row of the call list."""

    id: int
    started_at: datetime
    started_jst: str = Field(..., description="Start time as shown to people, in JST with the zone")
    duration_s: float = Field(
        ..., description="Length of the recording (with any early media before the answer)"
    )
    talk_s: float = Field(
        0.0, description="Talk time: from the answer to the end (the recording less its early media)"
    )
    direction: str
    caller: str
    caller_withheld: bool = Field(False, description="The caller withheld the number (非通知)")
    caller_name: str = Field("", description="The caller's name as the PBX/SBC's SIPREC metadata gave it")
    dialled: str
    agent: str
    site: str | None
    status: str
    flags: list[str]
    severity: float
    has_media: bool
    demo: bool = Field(
        False, description="Simulated traffic of `akashi demo` (removed by `akashi demo --clear`)"
    )


class CallPage(BaseModel):
    """A page of the call list."""

    total: int = Field(..., ge=0, description="Calls matching the filters (all pages)")
    limit: int
    offset: int
    items: list[CallSummary]


class Segment(BaseModel):
    """A transcript segment with the flagged words that fall in it."""

    channel: str
    start_s: float
    end_s: float
    text: str
    flagged: list[str] = Field(default_factory=list, description="Flagged words found in this text")


class FlagOut(BaseModel):
    """A harassment or compliance flag."""

    category: str
    source: str
    words: str
    channel: str
    start_s: float
    end_s: float
    score: float


class NoteOut(BaseModel):
    """A note on a call or an incident."""

    id: int
    author: str
    text: str
    created_at: datetime
    created_jst: str


class IncidentRef(BaseModel):
    """An incident a call belongs to."""

    id: int
    title: str
    status: str


class CallDetail(BaseModel):
    """Everything the call page shows."""

    call: CallSummary
    facts: dict[str, Any]
    transcript: list[Segment]
    flags: list[FlagOut]
    notes: list[NoteOut]
    incidents: list[IncidentRef]
    legal_hold: bool
    can_play: bool
    can_export: bool


class NoteIn(BaseModel):
    """A new note."""

    text: str = Field(..., min_length=1, max_length=10000)


class HoldIn(BaseModel):
    """Place or release a legal hold."""

    hold: bool
    reason: str = Field(..., min_length=1, max_length=500)


class Peaks(BaseModel):
    """Waveform peaks per channel, 0..1."""

    rate: int
    channels: int
    duration_s: float
    peaks: list[list[float]]


class IncidentIn(BaseModel):
    """A new incident (案件)."""

    title: str = Field(..., min_length=1, max_length=200)
    site: str | None = Field(None, max_length=64)
    notes: str = Field("", max_length=10000)


class IncidentPatch(BaseModel):
    """Change status, notes or legal hold of an incident."""

    status: str | None = Field(None, pattern="^(open|closed)$")
    notes: str | None = Field(None, max_length=10000)
    legal_hold: bool | None = None


class IncidentItemIn(BaseModel):
    """Link a call, or a camera time range, to an incident."""

    call_id: int | None = Field(None, ge=1, le=2**62)
    camera_id: int | None = Field(None, ge=1, le=2**62)
    started_at: datetime | None = None
    ended_at: datetime | None = None


class IncidentItemOut(BaseModel):
    """A linked call or camera range."""

    id: int
    call_id: int | None
    camera_id: int | None
    camera: str | None
    started_at: datetime | None
    ended_at: datetime | None


class IncidentOut(BaseModel):
    """An incident with its items and notes."""

    id: int
    title: str
    status: str
    site: str | None
    notes: str
    legal_hold: bool
    created_by: str
    created_at: datetime
    items: list[IncidentItemOut] = Field(default_factory=list)
    comments: list[NoteOut] = Field(default_factory=list)
