"""The call list keeps itself current (issue 11 item 7, "refresh by itself").

``/calls/rows`` answers the list's script: new calls matching the page's filters as rendered rows, rows
being transcribed with their state and, once settled, rendered again with their flags. Rows sent are audited
as a search (``via: web-refresh``); a question that finds nothing writes nothing. In real Chromium, a call
ingested after the page loaded appears without a reload, at 1280 and 390 px, with no console or CSP error.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from akashi.calloutcome import CallOutcome
from akashi.db.base import session_scope
from akashi.db.models import AuditEntry, Call, Job
from akashi.ingest import ingest_call
from akashi.web.app import create_app
from akashi.web.routes import calls_live, pages
from tests.web.conftest import Seeded, api_login, stereo_wav


def _new_call(
    seeded: Seeded, tmp: Path, *, site: str = "tokyo", agent: str = "tanaka", minutes: int = 1
) -> int:
    wav = stereo_wav(tmp / f"new-{site}-{agent}-{minutes}.wav", seconds=1.0)
    return ingest_call(
        seeded.ak,
        wav,
        CallOutcome(
            started_at=datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes),
            direction="in",
            caller="03-9999-0000",
            dialled="0120-000-111",
            agent=agent,
            site=site,
            notice_mode="automatic",
            codec="pcm16",
        ),
        transcribe=True,  # queued: no worker runs here, so the row is followed
    )


def _refreshes(seeded: Seeded) -> list[dict[str, Any]]:
    with session_scope(seeded.ak.engine) as s:
        rows = s.scalars(select(AuditEntry.detail).where(AuditEntry.action == "search"))
        details = [json.loads(d or "{}") for d in rows]
    return [d for d in details if d.get("via") == "web-refresh"]


def _latest(seeded: Seeded) -> int:
    with session_scope(seeded.ak.engine) as s:
        return int(s.scalar(select(func.max(Call.id))) or 0)


def test_new_calls_come_as_rows_and_are_audited(seeded_sqlite: Seeded, tmp_path: Path) -> None:
    latest = _latest(seeded_sqlite)
    with TestClient(create_app(seeded_sqlite.ak), base_url="http://testserver") as client:
        api_login(client, "admin")
        page = client.get("/calls").text
        assert f'data-after="{latest}"' in page and 'data-insert="1"' in page
        assert 'data-live="/calls/rows?order=-started_at"' in page

        quiet = client.get("/calls/rows", params={"after": latest, "insert": 1}).json()
        assert quiet["rows"] == [] and quiet["new"] == 0 and quiet["after"] == latest
        assert _refreshes(seeded_sqlite) == []  # nothing shown, nothing written

        cid = _new_call(seeded_sqlite, tmp_path)
        got = client.get("/calls/rows", params={"after": latest, "insert": 1, "order": "-started_at"}).json()
        assert [r["id"] for r in got["rows"]] == [cid] and got["after"] == cid and got["total"] == 4
        html = got["rows"][0]["html"]
        assert (
            html.startswith(f'<tr data-call="{cid}"') and "文字起こし待ち" in html and "data-follow" in html
        )
        assert got["rows"][0]["started"] == pytest.approx(
            (datetime.now(UTC) - timedelta(minutes=1)).timestamp(), abs=120
        )
        (entry,) = _refreshes(seeded_sqlite)
        assert entry["new"] == [cid] and entry["updated"] == []

        # the page's filters hold: an Osaka call is no new row of the Tokyo list
        osaka = _new_call(seeded_sqlite, tmp_path, site="osaka", agent="sato")
        tokyo = client.get("/calls/rows", params={"after": cid, "insert": 1, "site": "tokyo"}).json()
        assert tokyo["rows"] == [] and tokyo["after"] == osaka and tokyo["total"] == 3

        # any other order: a count only (the page offers a reload), no rows, nothing audited
        counted = client.get("/calls/rows", params={"after": latest, "order": "caller"}).json()
        assert counted["new"] == 2 and counted["rows"] == []
        assert len(_refreshes(seeded_sqlite)) == 1
        # without ``after``: where to start counting from
        assert client.get("/calls/rows").json()["after"] == osaka


def test_followed_rows_settle_with_their_flags(seeded_sqlite: Seeded, tmp_path: Path) -> None:
    cid = _new_call(seeded_sqlite, tmp_path)
    with TestClient(create_app(seeded_sqlite.ak), base_url="http://testserver") as client:
        api_login(client, "admin")
        (item,) = client.get("/calls/rows", params={"follow": str(cid)}).json()["updated"]
        assert item == {"id": cid, "state": "queued", "label": "文字起こし待ち", "settled": False}
        with session_scope(seeded_sqlite.ak.engine) as s:
            s.execute(update(Call).where(Call.id == cid).values(analysis_state="done", flags=["暴言"]))
            s.execute(update(Job).where(Job.dedupe_key == f"transcribe:{cid}").values(state="done"))
        (item,) = client.get("/calls/rows", params={"follow": f"{cid},999999"}).json()["updated"][:1]
        assert item["settled"] and item["state"] == "done" and "暴言" in item["html"]
        assert "data-follow" not in item["html"]
        assert _refreshes(seeded_sqlite)[-1]["updated"] == [cid]


def test_an_operator_gets_only_their_calls(seeded_sqlite: Seeded, tmp_path: Path) -> None:
    latest = _latest(seeded_sqlite)
    theirs = _new_call(seeded_sqlite, tmp_path, agent="tanaka")
    other = _new_call(seeded_sqlite, tmp_path, agent="suzuki", minutes=2)
    with TestClient(create_app(seeded_sqlite.ak), base_url="http://testserver") as client:
        api_login(client, "op_tanaka")
        got = client.get("/calls/rows", params={"after": latest, "insert": 1, "follow": f"{other}"}).json()
        assert [r["id"] for r in got["rows"]] == [theirs]
        assert got["updated"] == [{"id": other, "state": "gone", "settled": True}]
        client.cookies.clear()
        assert client.get("/calls/rows", follow_redirects=False).status_code in (303, 401)
        api_login(client, "auditor")  # may not search by words: refused, as the page refuses it
        assert client.get("/calls/rows", params={"q": "土下座", "after": 0}).status_code == 403


def _query_names(d: Dependant) -> set[str]:
    return {q.alias for q in d.query_params}.union(*(_query_names(sub) for sub in d.dependencies))


def test_the_list_and_its_refresh_take_the_same_filters() -> None:
    params = {
        r.path: _query_names(r.dependant)
        for r in [*pages.router.routes, *calls_live.router.routes]
        if isinstance(r, APIRoute) and r.path in ("/calls", "/calls/rows")
    }
    assert params["/calls"] - {"page"} == params["/calls/rows"] - {"after", "insert", "follow"}
    assert {"from", "to", "q", "order"} <= params["/calls"]


@pytest.mark.browser
def test_a_call_appears_without_reload(
    server: str, browser: Any, seeded_sqlite: Seeded, tmp_path: Path
) -> None:
    from tests.web.test_pages_browser import SHOTS, Watched

    problems: list[str] = []
    for width in (1280, 390):
        w = Watched(browser, width)
        w.login(server, "admin")
        w.visit(f"{server}/calls", f"calls-live-before-{width}")
        w.page.evaluate("window.__marker = 1")  # gone if the page reloads
        w.page.fill("input[name=number]", "typed but not searched")  # what the user typed stays
        cid = _new_call(seeded_sqlite, tmp_path, minutes=0)  # the server runs in its own thread
        row = w.page.wait_for_selector(f'#calls tbody tr[data-call="{cid}"]', timeout=30_000)
        assert row is not None
        assert w.page.evaluate("window.__marker") == 1
        assert w.page.input_value("input[name=number]") == "typed but not searched"
        first = w.page.eval_on_selector("#calls tbody tr", "tr => tr.dataset.call")
        assert first == str(cid)  # newest first: at the top
        assert w.page.text_content("#total") == str(_count(seeded_sqlite))
        # the row that came in plays in the list's player like the others
        w.page.click(f'#calls tr[data-call="{cid}"] button.play')
        assert w.page.is_visible("#list-player-card")
        assert w.page.get_attribute("#list-player", "src") == f"/api/v1/calls/{cid}/media"
        w.page.screenshot(path=str(SHOTS / f"calls-live-after-{width}.png"), full_page=True)
        problems.extend(f"CSP: {v}" for v in w.page.evaluate("window.__csp || []"))
        problems += w.problems
        w.ctx.close()
    assert problems == [], "\n".join(problems)


@pytest.mark.browser
def test_an_empty_list_fills_by_itself(
    server: str, browser: Any, seeded_sqlite: Seeded, tmp_path: Path
) -> None:
    """A search that finds nothing yet (the first run's list before the demo) shows the first call that matches."""
    from tests.web.test_pages_browser import Watched

    w = Watched(browser, 390)
    w.login(server, "admin")
    w.visit(f"{server}/calls?number=0399990000", "calls-live-empty")
    assert w.page.is_visible("#calls-empty") and not w.page.is_visible("#calls")
    cid = _new_call(seeded_sqlite, tmp_path, minutes=0)
    w.page.wait_for_selector(f'#calls tbody tr[data-call="{cid}"]', timeout=30_000)
    assert not w.page.is_visible("#calls-empty")
    problems = w.problems + [f"CSP: {v}" for v in w.page.evaluate("window.__csp || []")]
    w.ctx.close()
    assert problems == [], "\n".join(problems)


@pytest.mark.browser
def test_another_order_offers_a_refresh(
    server: str, browser: Any, seeded_sqlite: Seeded, tmp_path: Path
) -> None:
    """Sorted by caller, rows do not move under the reader: the page says that calls came in, and offers a refresh."""
    from playwright.sync_api import expect

    from tests.web.test_pages_browser import Watched

    w = Watched(browser, 1280)
    w.login(server, "admin")
    w.visit(f"{server}/calls?order=caller", "calls-live-sorted")
    w.page.wait_for_function("document.getElementById('calls').dataset.after !== ''")  # counting from now
    before = w.page.locator("#calls tbody tr").count()
    _new_call(seeded_sqlite, tmp_path, minutes=0)
    expect(w.page.locator("#calls-new")).to_be_visible(timeout=30_000)
    assert w.page.text_content("#calls-new-text") == "新しい通話が 1 件あります。"
    assert w.page.locator("#calls tbody tr").count() == before
    assert w.page.get_attribute("#calls-new a", "href") == "/calls?order=caller&page=1"
    problems = w.problems + [f"CSP: {v}" for v in w.page.evaluate("window.__csp || []")]
    w.ctx.close()
    assert problems == [], "\n".join(problems)


def _count(seeded: Seeded) -> int:
    with session_scope(seeded.ak.engine) as s:
        return int(s.scalar(select(func.count(Call.id))) or 0)
