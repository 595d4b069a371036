"""The schema of a call's facts: the ``calls.extra`` JSON column, typed, in one place.

Telephony fills :class:`CallFacts` while a call runs (notice, ringing, session end, errors, live
protection's timeline), :mod:`akashi.ingest` stores it (:meth:`CallFacts.to_extra`, the same keys the
untyped ``extra`` dictionary had, so rows written by an older Akashi need no migration), the analysis
adds its result (:class:`AnalysisFacts`) and every reader goes through :meth:`CallFacts.read`
(``Call.facts``) instead of picking string keys out of the dictionary.

This module imports nothing of Akashi: telephony (the writer), ``db``, analysis and the web (the
readers) all depend on it, and it on none of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

#: ``media_container`` of a call stored as RTP packets (:mod:`akashi.codecs.container`), not a WAV
AKRTP = "akrtp1"


class Failure(BaseModel):
    """Why a call failed (stored with status ``failed``); further details are kept beside the reason."""

    model_config = ConfigDict(extra="allow", frozen=True)

    reason: str = Field(description="ack_timeout, error, srtp_refused...")


class CodecFacts(BaseModel):
    """The call's codec when it is not G.711 (what the raw container and the player need)."""

    model_config = ConfigDict(frozen=True)

    name: str
    rate: int
    fmtp: str = ""
    channels: int = 1


class SessionEnd(BaseModel):
    """A session timer ended the call (RFC 4028 10): on which leg, its interval, the refresh's status."""

    model_config = ConfigDict(frozen=True)

    leg: Literal["caller", "operator"]
    interval_s: int | None = None
    refresh_status: int | None = None


class CallEvent(BaseModel):
    """One step of live protection on the call's timeline (issue 14), as stored and put in the ledger.

    ``kind``: ``key`` (the operator's protection key), ``warning`` (the warning played), ``final``
    (the final message, then the end), ``end`` (a board's end), ``transfer`` / ``transfer_failed``,
    ``flag`` (a live detection), ``long_call`` (``detail["step"]``: alert, warn, end).
    """

    model_config = ConfigDict(frozen=True)

    kind: str = Field(min_length=1, max_length=32)
    #: UTC epoch seconds
    at: float
    #: who caused it: ``operator`` (the key), a board user's name, ``auto`` (the policy), ``akashi``
    by: str = ""
    detail: dict[str, str] = Field(default_factory=dict)

    def ledger_data(self, call_id: int) -> dict[str, Any]:
        """The ledger entry's content for this step (its shape is evidence: it never changes)."""
        return {
            "call_id": call_id,
            "kind": self.kind,
            "at": self.at,
            "by": self.by,
            "detail": dict(self.detail),
        }


class SiprecFacts(BaseModel):
    """A call recorded from a SIPREC session (RFC 7866): who sent it and how its streams were told apart."""

    model_config = ConfigDict(extra="allow")

    #: the recording client's (SBC's or PBX's) address
    src: str = ""
    #: how the customer's stream was chosen (the metadata's calling party, a known agent, the order...)
    basis: str = ""
    #: the stream label of each side: ``customer``, ``operator``
    labels: dict[str, str] = Field(default_factory=dict)
    customer_name: str = ""
    operator_name: str = ""
    #: the participants the metadata named (each a small dict of its id, name and addresses)
    participants: list[dict[str, str]] = Field(default_factory=list)
    session_ids: list[str] = Field(default_factory=list)
    #: ``[paused_at, resumed_at]`` pairs (UTC epoch seconds) while the client paused the recording
    pauses: list[list[float]] = Field(default_factory=list)
    metadata_updates: int = 0


class NoticeFacts(BaseModel):
    """The analysis' check of the recording notice; the check's own details (``reason``, ``played_s``,
    ``window_s``...) are kept beside these fields."""

    model_config = ConfigDict(extra="allow")

    #: the call's notice mode: ``operator`` (said by the operator) or ``automatic`` (played by Akashi)
    mode: str = ""
    #: given | given_without_purpose | late | not_given
    check: str | None = None
    #: when the notice was heard, seconds from the call's start
    at_s: float | None = None
    #: what was heard (the first 200 characters)
    heard: str | None = None


class AnalysisFacts(BaseModel):
    """What the analysis found, stored with the call once it is done (``analysis`` in the JSON).

    Stored with every field the analysis set, None values included, as it always wrote it.
    """

    model_config = ConfigDict(extra="allow")

    #: when the analysis finished (ISO 8601, UTC)
    at: str | None = None
    model: str | None = None
    #: the recogniser settings that made the stored transcript (the readable transcript states them)
    settings: dict[str, Any] | None = None
    lexicon: str | None = None
    audio_s: float | None = None
    processing_s: float | None = None
    #: the notice check: None when the call's mode asks for none
    notice_ok: bool | None = None
    notice: NoticeFacts | None = None
    keywords: list[str] = Field(default_factory=list)


class CallFacts(BaseModel):
    """Typed facts of one call; every field None (left out of the stored JSON) until it is known.

    Keys an importer or an older Akashi wrote that this schema does not name are kept as they are
    (``extra="allow"``); telephony writes only the fields named here.
    """

    model_config = ConfigDict(extra="allow")

    failure: Failure | None = None
    codec: CodecFacts | None = None
    #: the RTP payload type the recording was made with
    payload_type: int | None = None
    #: the recording is an RTP container (:data:`AKRTP`), not a WAV
    media_container: str | None = None
    #: the notice: which announcement, and how long it is (analysis checks it played whole)
    announcement: str | None = None
    notice_duration_s: float | None = None
    #: ringing: what each phone answered, what the caller was told, the "nobody can answer" message
    ring_statuses: list[int] | None = None
    final_status: int | None = None
    unavailable_started_at: float | None = None
    #: an outbound call: when the trunk's early media (183 with SDP: ringback, an announcement) began
    early_media_at: float | None = None
    #: the recording's first sample (UTC epoch seconds) when it is not the answer: an answered outbound
    #: call keeps the trunk's early media (ringback, announcements) before the answer in its audio
    audio_started_at: float | None = None
    #: where the customer answered, in seconds of call audio (the recording's time); None: at its start
    answer_at_s: float | None = None
    #: how the call ended when no one hung up
    rtp_timeout_s: float | None = None
    session_expired: SessionEnd | None = None
    prack_timeout: bool | None = None
    #: a late offer: answered in the ACK (or refused there)
    late_offer: bool | None = None
    late_offer_refused: bool | None = None
    #: a leg's digest challenge Akashi did not answer, and why
    auth_refused: str | None = None
    #: RTP refused per side and reason, and the first addresses it came from
    rtp_refused: dict[str, dict[str, int]] | None = None
    rtp_refused_from: dict[str, list[str]] | None = None
    #: packets dropped while the spool disk refused writes
    spool_dropped_packets: int | None = None
    #: the caller withheld the number (非通知: Privacy: id, an anonymous From, or 184 dialled out)
    caller_withheld: bool | None = None
    #: live protection's steps in order: key presses, warnings, board actions, long-call steps
    timeline: list[CallEvent] | None = None
    #: a SIPREC recording: the client and the streams' roles
    siprec: SiprecFacts | None = None
    #: what the analysis found (written by the analysis, never by telephony)
    analysis: AnalysisFacts | None = None

    def answer_offset_s(self) -> float:
        """Seconds of call audio before the answer (early media); 0 when the audio starts at the answer.

        Transcript, flag and notice times are call-audio times (from the recording's first sample);
        what counts from the answer (the notice's window) adds this.
        """
        return self.answer_at_s or 0.0

    def talk_s(self, duration_s: float) -> float:
        """Talk time of a call whose recording lasts ``duration_s``: less the early media kept before the
        answer, so the list, the call page, the API and the mining tables say the same as the phone did."""
        return max(0.0, duration_s - self.answer_offset_s())

    def to_extra(self) -> dict[str, Any]:
        """The JSON stored in the ``calls`` row (and the spool's ``meta.json``): known facts only."""
        out = self.model_dump(mode="json", exclude_none=True, exclude={"analysis"})
        if self.analysis is not None:
            out["analysis"] = self.analysis.model_dump(mode="json", exclude_unset=True)
        return out

    @classmethod
    def read(cls, data: Mapping[str, Any] | None) -> CallFacts:
        """The facts of a stored row; a value that does not fit its field (a row written by hand or by
        an old importer) is left out rather than making the whole call unreadable."""
        raw = dict(data or {})
        for _ in range(len(raw) + 1):
            try:
                return cls.model_validate(raw)
            except ValidationError as exc:
                bad = {e["loc"][0] for e in exc.errors() if e["loc"]}
                if not bad & raw.keys():
                    raise
                for key in bad:
                    raw.pop(str(key), None)
        return cls()  # pragma: no cover - every round removes at least one key
