"""``access/export.py``: an incident's package packs each call as a call export does, refusals audited."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from akashi.access.export import export_call, export_incident
from akashi.access.principal import Principal
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import AuditEntry, Call, Incident, IncidentItem, Site
from akashi.errors import AccessDenied, NotFoundError
from akashi.store.export import check_package
from tests.codecs.rtpaudio import OPUS, ingest_container, two_leg_container

pytest.importorskip("av")

STARTED = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


def _rtp_call_in_incident(ak: Akashi, tmp_path: Path, site: str = "tokyo") -> tuple[int, int]:
    container = two_leg_container(tmp_path / f"call-{site}.akrtp", OPUS, STARTED.timestamp())
    call_id = ingest_container(ak, container, OPUS, STARTED, site=site)
    with session_scope(ak.engine) as s:
        call = s.get(Call, call_id)
        assert call is not None
        inc = Incident(title="カスハラ 11/2", created_by="kanri", site_id=call.site_id)
        s.add(inc)
        s.flush()
        s.add(IncidentItem(incident_id=inc.id, call_id=call_id))
        return call_id, inc.id


def _denials(ak: Akashi) -> list[tuple[str, str, str, str]]:
    with session_scope(ak.engine) as s:
        return [
            (e.user_name, e.target_type, e.target_id, json.loads(e.detail or "{}").get("reason", ""))
            for e in s.scalars(
                select(AuditEntry).where(AuditEntry.action == "export", AuditEntry.outcome == "denied")
            )
        ]


def test_incident_export_carries_the_listening_copy_of_an_rtp_call(sqlite_home: Path, tmp_path: Path) -> None:
    """The RTP original stays the evidence; derived/call-N.wav sits beside it, as in the call's own package."""
    with Akashi.open(sqlite_home) as ak:
        call_id, inc_id = _rtp_call_in_incident(ak, tmp_path)
        boss = Principal.system("kanri")
        pkg = export_incident(ak, boss, inc_id, tmp_path / "incident.zip", "cli")
        alone = export_call(ak, boss, call_id, tmp_path / "call.zip", client="cli")
    assert check_package(pkg).ok
    with zipfile.ZipFile(pkg) as z, zipfile.ZipFile(alone) as one:
        originals = [n for n in z.namelist() if n.startswith("media/")]
        assert len(originals) == 1 and originals[0].endswith(".akrtp")
        manifest = json.loads(z.read("manifest.json"))
        derived = {d["file"]: d["from"] for d in manifest["derived"]}
        assert derived[f"derived/call-{call_id}.wav"] == originals[0]
        copy = z.read(f"derived/call-{call_id}.wav")
        assert copy == one.read(f"derived/call-{call_id}.wav")  # the same copy the call's package has
        meta = json.loads(z.read("metadata.json"))
    assert meta["calls"][0]["evidence_object"]["media_type"] == "application/x-akashi-rtp"


def test_denied_incident_exports_are_audited_and_write_nothing(sqlite_home: Path, tmp_path: Path) -> None:
    """No export right, an incident of another site, a linked call of another site: each refusal audited."""
    with Akashi.open(sqlite_home) as ak:
        call_id, inc_id = _rtp_call_in_incident(ak, tmp_path)
        with session_scope(ak.engine) as s:
            tokyo = s.scalar(select(Call.site_id).where(Call.id == call_id))
            osaka = Site(name="osaka")
            s.add(osaka)
            s.flush()
            osaka_id = osaka.id
        assert tokyo is not None
        out = tmp_path / "refused.zip"

        auditor = Principal(7, "kansa", "auditor", None)
        with pytest.raises(AccessDenied):
            export_incident(ak, auditor, inc_id, out, "web")
        elsewhere = Principal(8, "osaka-mgr", "manager", frozenset({osaka_id}))
        with pytest.raises(NotFoundError):
            export_incident(ak, elsewhere, inc_id, out, "web")

        # a manager of tokyo, with a call of osaka linked into the tokyo incident
        far_call, _ = _rtp_call_in_incident(ak, tmp_path, site="osaka")
        with session_scope(ak.engine) as s:
            s.add(IncidentItem(incident_id=inc_id, call_id=far_call))
        tokyo_mgr = Principal(9, "tokyo-mgr", "manager", frozenset({tokyo}))
        with pytest.raises(AccessDenied):
            export_incident(ak, tokyo_mgr, inc_id, out, "web")
        denied = _denials(ak)
    assert not out.exists()
    assert ("kansa", "incident", str(inc_id), "role_auditor_no_export") in denied
    assert ("osaka-mgr", "incident", str(inc_id), "out_of_scope") in denied
    assert ("tokyo-mgr", "call", str(far_call), "out_of_scope") in denied
