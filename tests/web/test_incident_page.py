"""The incident page shows its calls' date, caller and flags, and has one notes box (issue 11 item 10)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from akashi.db.base import session_scope
from akashi.db.models import Incident, IncidentItem
from akashi.web.app import create_app
from tests.web.conftest import Seeded, api_login


@pytest.fixture
def client(seeded_sqlite: Seeded) -> Iterator[TestClient]:
    with TestClient(create_app(seeded_sqlite.ak)) as c:
        yield c


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
