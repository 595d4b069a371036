"""The incident page shows its calls' date, caller and flags, and has one notes box (issue 11 item 10)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from akashi.db.base import session_scope
from akashi.db.models import Incident, IncidentItem
from akashi.web.app import create_app
from tests.web.conftest import Seeded, api_login


def test_linked_calls_facts_and_one_notes_box(client: TestClient, seeded_sqlite: Seeded) -> None:
    cid = seeded_sqlite.calls["tanaka_call"]
    csrf = api_login(client, "admin")
    r = client.post(f"/calls/{cid}/incident", data={"incident_id": "0", "title": "暴言の件", "csrf_token": csrf},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    with session_scope(seeded_sqlite.ak.engine) as s:
        inc = s.query(Incident).one()
        inc.notes = "最初のメモ"
        inc_id = inc.id
    page = client.get(f"/incidents/{inc_id}").text
    item = page.split('class="linked-call"', 1)[1].split("</li>", 1)[0]
    assert "JST" in item and "03-1234-5678" in item and "暴言" in item and "tanaka" in item
    assert page.count("<textarea") == 1  # one notes box: the thread
    assert "最初のメモ" in page
    r = client.post(f"/incidents/{inc_id}/update", data={"status": "closed", "csrf_token": csrf},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    with session_scope(seeded_sqlite.ak.engine) as s:
        after = s.get(Incident, inc_id)
        assert after is not None and after.status == "closed" and after.notes == "最初のメモ"  # not wiped


def test_other_sites_calls_show_no_facts(seeded_sqlite: Seeded) -> None:
    """A Tokyo manager opens an incident that also links an Osaka call: its facts are not shown."""
    ak = seeded_sqlite.ak
    with TestClient(create_app(ak)) as admin:
        csrf = api_login(admin, "admin")
        tokyo, osaka = seeded_sqlite.calls["tanaka_call"], seeded_sqlite.calls["osaka_call"]
        admin.post(f"/calls/{tokyo}/incident", data={"incident_id": "0", "title": "件", "csrf_token": csrf})
        with session_scope(ak.engine) as s:
            inc_id = s.query(Incident).one().id
        admin.post(f"/calls/{osaka}/incident", data={"incident_id": str(inc_id), "csrf_token": csrf})
        with session_scope(ak.engine) as s:
            linked = {i.call_id for i in s.query(IncidentItem).filter(IncidentItem.incident_id == inc_id)}
        assert linked == {tokyo, osaka}
    with TestClient(create_app(ak)) as boss:
        api_login(boss, "boss_tokyo")
        page = boss.get(f"/incidents/{inc_id}").text
        assert "03-1234-5678" in page and "06-5555-0101" not in page


def test_incident_forms_refuse_inline_and_keep_what_was_typed(
    client: TestClient, seeded_sqlite: Seeded
) -> None:
    from akashi.db.models import AuditEntry, Camera, Note

    ak = seeded_sqlite.ak
    csrf = api_login(client, "admin")
    client.post("/incidents", data={"title": "件", "site": "tokyo", "csrf_token": csrf})
    with session_scope(ak.engine) as s:
        inc_id = s.query(Incident).one().id
        site_id = s.get(Incident, inc_id).site_id  # type: ignore[union-attr]
        s.add(Camera(name="gate", site_id=site_id, state="stopped"))
    r = client.post(f"/incidents/{inc_id}/grants", data={"user": "nobody_x", "until": "2030-01-31",
                                                         "csrf_token": csrf})  # fmt: skip
    assert r.status_code == 400 and 'id="err-grants-user"' in r.text and "nobody_x" in r.text
    assert 'value="nobody_x"' in r.text and 'value="2030-01-31"' in r.text
    r = client.post(f"/incidents/{inc_id}/grants", data={"user": "auditor", "until": "31/01/2030",
                                                         "csrf_token": csrf})  # fmt: skip
    assert r.status_code == 400 and 'id="err-grants-until"' in r.text and 'value="auditor"' in r.text
    with session_scope(ak.engine) as s:
        cam = s.query(Camera).filter(Camera.name == "gate").one().id
    r = client.post(f"/incidents/{inc_id}/range", data={"camera_id": str(cam), "start": "2026-12-01T10:00:00",
                                                        "end": "2026-12-01T09:00:00", "csrf_token": csrf})  # fmt: skip
    assert r.status_code == 400 and 'id="err-range-end"' in r.text and 'value="2026-12-01T10:00:00"' in r.text
    r = client.post(f"/incidents/{inc_id}/notes", data={"text": "   ", "csrf_token": csrf})
    assert r.status_code == 400 and 'id="err-notes-text"' in r.text
    with session_scope(ak.engine) as s:
        grants = s.query(AuditEntry).filter(AuditEntry.action == "incident_grant", AuditEntry.outcome == "ok")
        assert grants.count() == 0 and s.query(Note).count() == 0
        assert s.query(IncidentItem).filter(IncidentItem.incident_id == inc_id).count() == 0
    assert client.post("/incidents/999/notes", data={"text": "x", "csrf_token": csrf}).status_code == 404


def test_call_hold_without_reason_and_empty_note_are_inline(
    client: TestClient, seeded_sqlite: Seeded
) -> None:
    from akashi.db.models import Note

    cid = seeded_sqlite.calls["tanaka_call"]
    csrf = api_login(client, "admin")
    r = client.post(f"/calls/{cid}/hold", data={"hold": "on", "reason": " ", "csrf_token": csrf})
    assert r.status_code == 400 and 'id="err-hold-reason"' in r.text and "理由を入力してください" in r.text
    r = client.post(f"/calls/{cid}/notes", data={"text": "", "csrf_token": csrf})
    assert r.status_code == 400 and 'id="err-notes-text"' in r.text
    with session_scope(seeded_sqlite.ak.engine) as s:
        assert s.query(Note).count() == 0
    page = client.get(f"/calls/{cid}").text
    assert "ホールドなし" in page


def test_unknown_incident_stays_a_404(client: TestClient) -> None:
    csrf = api_login(client, "admin")
    r = client.post(
        "/incidents/999/grants", data={"user": "auditor", "until": "2030-01-31", "csrf_token": csrf}
    )
    assert r.status_code == 404
    r = client.post("/incidents/999/range", data={"camera_id": "1", "start": "2026-12-01T09:00:00",
                                                  "end": "2026-12-01T10:00:00", "csrf_token": csrf})  # fmt: skip
    assert r.status_code == 404


def test_new_incident_refused_inline(client: TestClient, seeded_sqlite: Seeded) -> None:
    """A forged form naming a site that does not exist, then an empty title: inline, nothing opened."""
    csrf = api_login(client, "admin")
    r = client.post("/incidents", data={"title": "暴言の件", "site": "atlantis", "csrf_token": csrf})
    assert r.status_code == 400 and 'id="err-incident-site"' in r.text and 'value="暴言の件"' in r.text
    r = client.post("/incidents", data={"title": " ", "site": "tokyo", "csrf_token": csrf})
    assert r.status_code == 400 and 'id="err-incident-title"' in r.text
    assert '<option value="tokyo" selected>' in r.text
    with session_scope(seeded_sqlite.ak.engine) as s:
        assert s.query(Incident).count() == 0
