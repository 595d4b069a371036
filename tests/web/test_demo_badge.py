"""Demo calls carry a visible 「デモ」/"demo" badge in the call list, on the call page and in the API."""

from __future__ import annotations

from sqlalchemy import update

from akashi.db import session_scope
from akashi.db.models import Call
from akashi.web.app import create_app
from tests.web.conftest import Seeded, api_login


def test_demo_calls_are_marked(seeded_sqlite: Seeded) -> None:
    from fastapi.testclient import TestClient

    demo_id = seeded_sqlite.calls["suzuki_call"]
    real_id = seeded_sqlite.calls["tanaka_call"]
    with session_scope(seeded_sqlite.ak.engine) as s:
        s.execute(update(Call).where(Call.id == demo_id).values(demo=True))
    with TestClient(create_app(seeded_sqlite.ak), base_url="http://testserver") as client:
        api_login(client, "admin")
        page = client.get("/calls").text
        rows = {int(r.split('"', 1)[0]): r for r in page.split('<tr data-call="')[1:]}
        assert 'class="chip demo"' in rows[demo_id] and ">デモ<" in rows[demo_id]
        assert "chip demo" not in rows[real_id]
        assert 'id="demo-badge"' in client.get(f"/calls/{demo_id}").text
        assert 'id="demo-badge"' not in client.get(f"/calls/{real_id}").text
        items = {c["id"]: c for c in client.get("/api/v1/calls").json()["items"]}
        assert items[demo_id]["demo"] is True and items[real_id]["demo"] is False
        client.cookies.set("akashi_lang", "en")
        assert ">demo<" in client.get(f"/calls/{demo_id}").text
