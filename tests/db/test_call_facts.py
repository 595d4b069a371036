"""The ``calls`` row's facts: one schema for writer and readers; rows of an older Akashi read as they are.

An "old home" here is a row and ledger entries written the way Akashi wrote them before the facts
were typed (a plain dict with string keys, the timeline event built key by key): the typed readers
read it, and a call stored now gets ledger entries of exactly the same shape, so ``verify`` of a
home holding both stays clean.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from akashi.callfacts import CallEvent, CallFacts
from akashi.calloutcome import CallOutcome
from akashi.calls import call_facts
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import Call, LedgerEntry
from akashi.ingest import ingest_call, record_call, store_call_media
from akashi.store import ledger
from akashi.web.services.calls import summary
from tests.web.conftest import stereo_wav

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)

#: what an older Akashi stored in ``calls.extra`` for a protected inbound call, key by key
OLD_EXTRA: dict[str, Any] = {
    "payload_type": 0,
    "announcement": "default",
    "notice_duration_s": 6.5,
    "ring_statuses": [486, 200],
    "final_status": 200,
    "caller_withheld": True,
    "session_expired": {"leg": "caller", "interval_s": 90},
    "timeline": [
        {"kind": "key", "at": 1762045230.5, "by": "operator", "detail": {}},
        {"kind": "warning", "at": 1762045231.25, "by": "auto", "detail": {"step": "1"}},
    ],
    "analysis": {
        "at": "2026-11-02T02:00:00+00:00",
        "model": "base",
        "settings": None,
        "lexicon": "default",
        "audio_s": 10.0,
        "processing_s": 2.0,
        "notice_ok": True,
        "notice": {"mode": "automatic", "check": "given", "at_s": 0.4},
        "keywords": ["土下座"],
    },
}


def _old_call(ak: Akashi, wav: Path) -> int:
    """A call stored as an older Akashi did: its extra a plain dict, its timeline's ledger entries built
    from that dict key by key (the code this replaces)."""
    rec = CallOutcome(started_at=T0, direction="in", caller="0312345678", notice_mode="automatic")
    put = store_call_media(ak, wav, rec, media_type="audio/wav", suffix="wav")
    with session_scope(ak.engine) as s:
        call = Call(
            started_at=T0,
            direction="in",
            caller="0312345678",
            notice_mode="automatic",
            media_object_id=put.object_id,
            analysis_state="done",
            extra=OLD_EXTRA,
        )
        s.add(call)
        s.flush()
        for ev in OLD_EXTRA["timeline"]:
            data = {"call_id": call.id, **{k: ev.get(k) for k in ("kind", "at", "by", "detail")}}
            ledger.append_entry(s, "event", put.object_id, data, anchor=ak.store.anchor)
        return call.id


def _event_entries(ak: Akashi, call_id: int) -> list[dict[str, Any]]:
    with session_scope(ak.engine) as s:
        rows = s.scalars(select(LedgerEntry).where(LedgerEntry.action == "event").order_by(LedgerEntry.seq))
        return [d for d in (json.loads(r.data) for r in rows) if d["call_id"] == call_id]


def test_an_old_row_reads_typed_and_a_new_call_gets_the_same_ledger_entries(
    home: Path, tmp_path: Path
) -> None:
    """On SQLite and on PostgreSQL."""
    with Akashi.open(home) as ak:
        old_id = _old_call(ak, stereo_wav(tmp_path / "old.wav", seconds=1.0))
        facts = CallFacts(
            payload_type=0,
            announcement="default",
            notice_duration_s=6.5,
            timeline=[CallEvent.model_validate(e) for e in OLD_EXTRA["timeline"]],
        )
        new = CallOutcome(
            started_at=T0 + timedelta(minutes=5),
            direction="in",
            caller="0312345678",
            notice_mode="automatic",
            facts=facts,
        )
        new_id = ingest_call(ak, stereo_wav(tmp_path / "new.wav", seconds=1.0), new, transcribe=False)
        old_entries, new_entries = _event_entries(ak, old_id), _event_entries(ak, new_id)
        assert len(old_entries) == 2
        assert [{**e, "call_id": 0} for e in new_entries] == [{**e, "call_id": 0} for e in old_entries]
        with session_scope(ak.engine) as s:
            old = s.get(Call, old_id)
            assert old is not None
            assert old.extra == OLD_EXTRA  # nothing rewrote the old row
            typed = old.facts
            assert typed.caller_withheld is True and typed.notice_duration_s == 6.5
            assert typed.session_expired is not None and typed.session_expired.leg == "caller"
            assert typed.timeline is not None and [e.kind for e in typed.timeline] == ["key", "warning"]
            assert typed.to_extra() == OLD_EXTRA  # stored again, the same JSON
            shown = call_facts(s, old)
            assert shown["keywords"] == ["土下座"] and shown["notice"]["check"] == "given"
            assert summary(old, {}).caller_withheld is True
            stored_new = s.get(Call, new_id)
            assert stored_new is not None
            assert stored_new.extra == facts.to_extra()
        report = ak.store.verify()
        assert report.ok, report.to_text()


def test_imported_call_without_media_gets_its_facts_and_no_ledger_event(home: Path) -> None:
    """A call without a recording keeps its timeline in the row only (nothing to put in the ledger on)."""
    with Akashi.open(home) as ak:
        rec = CallOutcome(
            started_at=T0,
            direction="out",
            caller="201",
            source="import",
            facts=CallFacts(timeline=[CallEvent(kind="key", at=1.0, by="operator")], caller_withheld=True),
        )
        call_id = record_call(
            ak, rec, ended=None, duration_s=0.0, media_object_id=None, codec="", channels=0, transcribe=False
        )
        assert _event_entries(ak, call_id) == []
        with session_scope(ak.engine) as s:
            call = s.get(Call, call_id)
            assert call is not None and call.source == "import"
            assert call.extra == {
                "caller_withheld": True,
                "timeline": [{"kind": "key", "at": 1.0, "by": "operator", "detail": {}}],
            }


def test_a_fact_of_the_wrong_type_never_reaches_the_row(sqlite_home: Path) -> None:
    """The JSON column is validated on every assignment; unknown keys of an importer are kept."""
    with Akashi.open(sqlite_home) as ak, session_scope(ak.engine) as s:
        call = Call(
            started_at=T0, direction="in", caller="1", extra={"late_offer": True, "importer_note": "x"}
        )
        assert call.extra == {"late_offer": True, "importer_note": "x"}
        with pytest.raises(ValidationError):
            call.extra = {"ring_statuses": ["busy"]}
        with pytest.raises(ValidationError):
            Call(started_at=T0, direction="in", caller="1", extra={"timeline": [{"kind": "", "at": 1.0}]})
        s.add(call)
        s.flush()
        assert call.facts.late_offer is True
