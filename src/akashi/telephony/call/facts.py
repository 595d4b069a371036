"""What call control learns about a call while it runs, typed: notice, ringing, session end, errors.

:class:`CallFacts` replaces the free-form ``extra`` dictionary telephony used to fill with string keys.
It is stored in the spool's ``meta.json`` (and then in the ``calls`` row's ``extra``) under the same
keys as before (:meth:`CallFacts.to_extra`), and validated when it is read back
(:meth:`CallFacts.model_validate`), so spools written by an older Akashi still load.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Failure(BaseModel):
    """Why a call failed (stored with status ``failed``); further details are kept beside the reason."""

    model_config = ConfigDict(extra="allow", frozen=True)

    reason: str = Field(description="ack_timeout, error, srtp_plain_answer...")


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


class CallFacts(BaseModel):
    """Typed facts of one call; every field None (left out of the stored JSON) until it is known.

    Keys written by other parts of Akashi (the recorder's ``payload_type``, an importer's own) are
    kept as they are (``extra="allow"``).
    """

    model_config = ConfigDict(extra="allow")

    failure: Failure | None = None
    codec: CodecFacts | None = None
    #: the notice: which announcement, and how long it is (analysis checks it played whole)
    announcement: str | None = None
    notice_duration_s: float | None = None
    #: ringing: what each phone answered, what the caller was told, the "nobody can answer" message
    ring_statuses: list[int] | None = None
    final_status: int | None = None
    unavailable_started_at: float | None = None
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

    def to_extra(self) -> dict[str, Any]:
        """The JSON stored with the call (the keys analysis and the web read), without unknown facts."""
        return self.model_dump(mode="json", exclude_none=True)
