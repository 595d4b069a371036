"""One frozen, typed outcome of a finished call: what :func:`akashi.ingest.ingest_call` is handed.

Telephony builds it once from the call's final metadata
(:func:`akashi.telephony.call.outcome.outcome_of`); ``akashi import call``, the bulk import and the
tests build one directly. It lives outside telephony so that ingest, analysis and the web never
import the SIP stack. Its facts (:class:`~akashi.callfacts.CallFacts`)
become the ``calls`` row's JSON, its other fields the row's columns. An invalid outcome cannot be
made: times are UTC-aware, the direction is ``in`` or ``out``, the status one the store knows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal, cast, get_args

from akashi.callfacts import AKRTP, CallEvent, CallFacts
from akashi.errors import AkashiError

#: how a call ended, as stored; ``failed``: it ended on an error (``facts.failure`` says which)
CallStatus = Literal["completed", "missed", "interrupted", "failed"]
STATUSES: frozenset[str] = frozenset(get_args(CallStatus))
#: where the call came from: recorded by Akashi's SIP side, or an imported recording
CallSource = Literal["sip", "import"]


@dataclass(frozen=True, kw_only=True)
class CallOutcome:
    """Everything known about a finished call except its media (times are timezone-aware)."""

    started_at: datetime
    direction: Literal["in", "out"]
    caller: str
    dialled: str = ""
    status: CallStatus = "completed"
    answered_at: datetime | None = None
    bridged_at: datetime | None = None
    ended_at: datetime | None = None
    agent: str = ""
    agent_sip_user: str = ""
    site: str = ""
    hangup_side: str = ""
    notice_mode: str = ""
    notice_started_at: datetime | None = None
    notice_ended_at: datetime | None = None
    #: the codec's name (PCMU, G722, opus...); empty: the media's own (an imported WAV's)
    codec: str = ""
    #: the caller's Call-ID, then the bridged leg's
    call_ids: tuple[str, ...] = ()
    source: CallSource = "sip"
    facts: CallFacts = field(default_factory=CallFacts)

    def __post_init__(self) -> None:
        for name in (
            "started_at",
            "answered_at",
            "bridged_at",
            "ended_at",
            "notice_started_at",
            "notice_ended_at",
        ):
            t = getattr(self, name)
            if t is not None and t.tzinfo is None:
                raise AkashiError(f"{name} にタイムゾーンがありません", f"{name} must be timezone-aware")
        if self.direction not in ("in", "out"):
            raise AkashiError(
                f"方向は in か out です: {self.direction}", f"direction must be in or out: {self.direction}"
            )
        if self.status not in STATUSES:
            raise AkashiError(f"通話の状態が不正です: {self.status}", f"unknown call status: {self.status}")
        if not isinstance(self.call_ids, tuple):  # a list given by a caller: kept as an immutable copy
            object.__setattr__(self, "call_ids", tuple(cast(Sequence[str], self.call_ids)))
        # a private copy: the outcome stays what it was when it was made
        object.__setattr__(self, "facts", self.facts.model_copy(deep=True))

    @property
    def events(self) -> tuple[CallEvent, ...]:
        """Live protection's timeline: key presses, warnings, board actions, long-call steps."""
        return tuple(self.facts.timeline or ())

    @property
    def payload_type(self) -> int | None:
        """The RTP payload type the recording was made with (None for an imported recording)."""
        return self.facts.payload_type

    def as_rtp_container(self) -> CallOutcome:
        """This outcome, its media stored as an RTP container rather than a WAV."""
        return replace(self, facts=self.facts.model_copy(update={"media_container": AKRTP}))
