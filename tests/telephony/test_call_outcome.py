"""Typed call facts and the frozen outcome: stored under the keys analysis reads, validated when read back."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from akashi.callfacts import AKRTP, CallEvent
from akashi.calloutcome import CallOutcome
from akashi.errors import AkashiError
from akashi.telephony.call.facts import CallFacts, CodecFacts, Failure, SessionEnd
from akashi.telephony.call.outcome import outcome_of
from akashi.telephony.recorder import CallMeta


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
    out = outcome_of(meta)
    assert out.status == "failed" and out.call_ids == ("a@x",)
    assert out.started_at == datetime.fromtimestamp(1000.0, UTC)
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
    assert outcome_of(meta).status == stored


def test_outcome_carries_the_facts_and_payload_type() -> None:
    meta = _meta()
    meta.payload_type = 111
    out = outcome_of(meta)
    assert out.payload_type == 111
    stored = out.facts.to_extra()
    assert stored["payload_type"] == 111
    assert stored["failure"] == {"reason": "ack_timeout", "after_s": 32.0}
    assert out.source == "sip"


def test_unknown_facts_from_others_are_kept() -> None:
    facts = CallFacts.model_validate({"payload_type": 0, "late_offer_refused": True, "importer_note": "x"})
    assert facts.to_extra() == {"payload_type": 0, "late_offer_refused": True, "importer_note": "x"}


def test_an_invalid_outcome_cannot_be_made() -> None:
    """Naive times, an unknown direction or status are refused with a message that names them."""
    now = datetime.now(UTC)
    with pytest.raises(AkashiError, match="started_at"):
        CallOutcome(started_at=datetime(2026, 1, 1), direction="in", caller="1")
    with pytest.raises(AkashiError, match="ended_at"):
        CallOutcome(started_at=now, ended_at=datetime(2026, 1, 1), direction="in", caller="1")
    with pytest.raises(AkashiError, match="direction"):
        CallOutcome(started_at=now, direction="sideways", caller="1")  # type: ignore[arg-type]
    with pytest.raises(AkashiError, match="status"):
        CallOutcome(started_at=now, direction="in", caller="1", status="lost")  # type: ignore[arg-type]


def test_an_imported_outcome_gets_its_call_ids_as_a_tuple_and_its_own_facts() -> None:
    facts = CallFacts(announcement="default")
    out = CallOutcome(
        started_at=datetime.now(UTC),
        direction="in",
        caller="1",
        call_ids=["x"],  # type: ignore[arg-type]
        source="import",
        facts=facts,
    )
    assert out.call_ids == ("x",)
    facts.announcement = "other"
    assert out.facts.announcement == "default"
    rtp = out.as_rtp_container()
    assert rtp.facts.media_container == AKRTP and out.facts.media_container is None


def test_stored_rows_read_back_typed_and_bad_values_do_not_break_them() -> None:
    """Old rows hold the same keys: they read back typed; a value of the wrong type is left out."""
    row = {
        "announcement": "default",
        "notice_duration_s": 7.5,
        "timeline": [{"kind": "key", "at": 5.0, "by": "operator", "detail": {}}],
        "analysis": {"at": "2026-01-01T00:00:00+00:00", "keywords": ["土下座"], "notice_ok": None},
        "final_status": "not a status",
        "someone_elses": 1,
    }
    facts = CallFacts.read(row)
    assert facts.announcement == "default" and facts.notice_duration_s == 7.5
    assert facts.timeline is not None and facts.timeline[0].kind == "key"
    assert facts.analysis is not None and facts.analysis.keywords == ["土下座"]
    assert facts.final_status is None
    stored = facts.to_extra()
    assert stored["someone_elses"] == 1 and "final_status" not in stored
    # the analysis is stored whole, its None values included, as it always was
    assert stored["analysis"]["notice_ok"] is None
    assert CallFacts.read(None) == CallFacts()


def test_ledger_data_of_a_step_keeps_its_shape() -> None:
    """The ledger entry of a timeline step is what it was when the timeline was an untyped list."""
    ev = CallEvent(kind="warning", at=12.5, by="auto", detail={"step": "1"})
    assert ev.ledger_data(7) == {
        "call_id": 7,
        "kind": "warning",
        "at": 12.5,
        "by": "auto",
        "detail": {"step": "1"},
    }
    assert CallEvent(kind="key", at=1.0).ledger_data(1) == {
        "call_id": 1,
        "kind": "key",
        "at": 1.0,
        "by": "",
        "detail": {},
    }


def test_telephony_writes_no_untyped_extra_keys() -> None:
    """Every fact telephony sets or reads on a call's ``extra`` is a field of the schema: no string keys
    (``extra["..."]``, ``extra.get("...")``) and no attribute the schema does not name."""
    import ast
    from pathlib import Path

    import akashi.telephony

    allowed = set(CallFacts.model_fields) | {"to_extra", "model_copy", "model_dump", "model_fields_set"}
    root = Path(akashi.telephony.__file__).parent
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            on_extra = isinstance(getattr(node, "value", None), ast.Attribute) and node.value.attr == "extra"  # type: ignore[attr-defined]
            if on_extra and isinstance(node, ast.Subscript):
                found.append(f"{path.name}:{node.lineno}: extra[...]")
            elif on_extra and isinstance(node, ast.Attribute) and node.attr not in allowed:
                found.append(f"{path.name}:{node.lineno}: extra.{node.attr}")
    assert not found, found
