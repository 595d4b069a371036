"""After ``akashi demo --clear`` the demo's site 「デモ / Demo」 is no longer offered for choosing (issue 11).

It is not deleted: the demo's deleted objects keep their rows, pointing at the site, and their ledger ``put``
entries name it, which ``akashi verify`` checks; deleting it would turn every demo tombstone into a mismatch.
So the site stays in the database, verify stays clean, and the call list's site filter, the new-incident form
and the admin's list of sites leave it out, until something real (an incident, a held demo call, a user, a
camera, an agent) refers to it again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from akashi.calloutcome import CallOutcome
from akashi.db.base import session_scope
from akashi.db.models import Call, Incident, Site
from akashi.demo.clear import clear_demo
from akashi.demo.site import DEMO_SITE, DEMO_SITE_LABEL, leftover_demo_site
from akashi.ingest import ingest_call
from akashi.store.verify import verify_store
from akashi.web.app import create_app
from tests.web.conftest import Seeded, api_login, stereo_wav

OPTION = f'<option value="{DEMO_SITE}"'


def _demo_call(seeded: Seeded, tmp: Path) -> int:
    cid = ingest_call(
        seeded.ak,
        stereo_wav(tmp / "demo.wav", seconds=1.0),
        CallOutcome(
            started_at=datetime.now(UTC).replace(microsecond=0),
            direction="in",
            caller="090-0000-0001",
            dialled="0120000901",
            agent="",
            site=DEMO_SITE,
            notice_mode="automatic",
            codec="pcm16",
        ),
        transcribe=False,
    )
    with session_scope(seeded.ak.engine) as s:
        s.execute(update(Call).where(Call.id == cid).values(demo=True))
        s.execute(update(Site).where(Site.name == DEMO_SITE).values(label=DEMO_SITE_LABEL))
    return cid


def _offered(client: TestClient) -> tuple[bool, bool, bool]:
    calls = OPTION in client.get("/calls").text
    incidents = OPTION in client.get("/incidents").text
    admin = any(x["name"] == DEMO_SITE for x in client.get("/api/v1/admin/config").json()["sites"])
    return calls, incidents, admin


def test_the_demo_site_leaves_the_filters_with_the_demo(seeded_sqlite: Seeded, tmp_path: Path) -> None:
    ak = seeded_sqlite.ak
    _demo_call(seeded_sqlite, tmp_path)
    with TestClient(create_app(ak), base_url="http://testserver") as client:
        api_login(client, "admin")
        assert _offered(client) == (True, True, True)
        result = clear_demo(ak)
        assert result.calls and result.objects_deleted
        assert _offered(client) == (False, False, False)
        with session_scope(ak.engine) as s:
            assert s.scalar(select(Site.id).where(Site.name == DEMO_SITE)) is not None  # kept, for the ledger
            assert leftover_demo_site(s) is not None
        report = verify_store(ak.store)
        assert report.ok, report.problems
        assert report.tombstones >= 1
        # other sites are offered as before
        assert '<option value="tokyo"' in client.get("/calls").text


def test_the_demo_site_stays_offered_while_something_refers_to_it(
    seeded_sqlite: Seeded, tmp_path: Path
) -> None:
    ak = seeded_sqlite.ak
    _demo_call(seeded_sqlite, tmp_path)
    with session_scope(ak.engine) as s:
        sid = s.scalar(select(Site.id).where(Site.name == DEMO_SITE))
        s.add(Incident(title="デモで見つけた件", site_id=sid, created_by="admin", notes=""))
    clear_demo(ak)
    with TestClient(create_app(ak), base_url="http://testserver") as client:
        api_login(client, "admin")
        assert _offered(client) == (True, True, True)
