"""Typed call facts and the frozen outcome: stored under the keys analysis reads, validated when read back."""

from __future__ import annotations

import dataclasses
import json

import pytest
from pydantic import ValidationError

from akashi.telephony.call.facts import CallFacts, CodecFacts, Failure, SessionEnd
from akashi.telephony.call.outcome import CallOutcome
from akashi.telephony.recorder import CallMeta
from akashi.telephony.sink import to_record


def _meta() -> CallMeta:
    meta = CallMeta(started_at=1000.0, caller="0312345678", dialled="0120", call_ids=["a@x"], status="failed")
    f = meta.extra
    f.failure = Failure.model_validate({"reason": "ack_timeout", "after_s": 32.0})
    f.codec = CodecFacts(name="opus", rate=48000, fmtp="useinbandfec=1", channels=2)
    f.announcement = "default"
    f.notice_duration_s = 7.5
    f.ring_statuses = [486, 408]
    f.final_status = 480
    f.session_expired = SessionEnd(leg="operator", interval_s=90, refresh_status=408)
    f.rtp_refused = {"caller": {"address": 3}}
    return meta


def test_facts_are_stored_under_the_keys_analysis_reads() -> None:
    """The JSON of typed facts is exactly what the untyped ``extra`` used to hold."""
    stored = json.loads(_meta().to_json())["extra"]
    assert stored == {
        "failure": {"reason": "ack_timeout", "after_s": 32.0},
        "codec": {"name": "opus", "rate": 48000, "fmtp": "useinbandfec=1", "channels": 2},
        "announcement": "default",
        "notice_duration_s": 7.5,
        "ring_statuses": [486, 408],
        "final_status": 480,
        "session_expired": {"leg": "operator", "interval_s": 90, "refresh_status": 408},
        "rtp_refused": {"caller": {"address": 3}},
    }


def test_meta_json_round_trips_and_old_spools_load() -> None:
    """meta.json read back gives the same typed facts; an older spool's keys (and unknown ones) still load."""
    meta = _meta()
    again = CallMeta(**json.loads(meta.to_json()))
    assert again.extra == meta.extra
    assert isinstance(again.extra.session_expired, SessionEnd)
    old = CallMeta(started_at=1.0, extra={"late_offer": True, "someone_elses": {"k": 1}})
    assert old.extra.late_offer is True
    assert old.extra.to_extra() == {"late_offer": True, "someone_elses": {"k": 1}}


def test_a_forged_meta_json_is_refused() -> None:
    """A spool whose facts have the wrong types does not load as if they were right."""
    with pytest.raises(ValidationError):
        CallMeta(started_at=1.0, extra={"ring_statuses": ["not a status"]})
    with pytest.raises(ValidationError):
        CallMeta(started_at=1.0, extra={"session_expired": {"leg": "nobody"}})


def test_outcome_is_frozen_and_a_copy() -> None:
    meta = _meta()
    out = CallOutcome.of(meta)
    assert out.status == "failed" and out.call_ids == ("a@x",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        out.status = "completed"  # type: ignore[misc]
    meta.extra.final_status = 486
    meta.call_ids.append("b@x")
    assert out.facts.final_status == 480 and out.call_ids == ("a@x",)


@pytest.mark.parametrize(
    ("status", "stored"), [("completed", "completed"), ("interrupted", "interrupted"), ("", "missed")]
)
def test_outcome_status_is_one_the_store_knows(status: str, stored: str) -> None:
    meta = CallMeta(started_at=1.0, status=status)
    assert CallOutcome.of(meta).status == stored
    assert to_record(meta).status == stored


def test_record_for_ingest_carries_the_facts_and_payload_type() -> None:
    meta = _meta()
    meta.payload_type = 111
    rec = to_record(meta)
    assert rec.extra["payload_type"] == 111
    assert rec.extra["failure"] == {"reason": "ack_timeout", "after_s": 32.0}
    assert rec.status == "failed" and rec.call_ids == ["a@x"]


def test_unknown_facts_from_others_are_kept() -> None:
    facts = CallFacts.model_validate({"payload_type": 0, "late_offer_refused": True})
    assert facts.to_extra() == {"payload_type": 0, "late_offer_refused": True}
