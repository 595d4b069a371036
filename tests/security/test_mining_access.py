"""Attacks on the mining page and its CSV exports, over real HTTP (uvicorn + httpx) as curl would send
them: another site's manager fishing for the other site's figures, roles that may not see aggregates
(operator, counsel, auditor asking for words), no session at all, odd table names and periods, and a
forged recorder export whose caller numbers are spreadsheet formulas (CSV injection)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from akashi.web.i18n import JST
from tests.cli.test_bulk_import import tone, write_wav
from tests.cli.test_end_to_end import run
from tests.security.access_helpers import add_user, audit_head, audit_rows, login
from tests.web import conftest as web_fixtures
from tests.web.conftest import Seeded
from tests.web.mining_data import FORMULA_CALLER, OSAKA_REPEAT, TOKYO_REPEAT, add_mining_calls

seeded_sqlite = web_fixtures.seeded_sqlite
server = web_fixtures.server

TABLES = ("terms", "repeat", "category", "hour", "weekday", "long")


def _rows(r: httpx.Response) -> list[list[str]]:
    assert r.status_code == 200, r.text
    return list(csv.reader(io.StringIO(r.content.decode("utf-8").lstrip("\ufeff"))))


def test_another_sites_manager_never_counts_the_other_site(server: str, seeded_sqlite: Seeded) -> None:
    add_mining_calls(seeded_sqlite.ak)
    with login(server, "boss_osaka") as c:
        # parameters the route does not take (site, sites, scope) change nothing; the period is all it reads
        for params in ({}, {"site": "tokyo"}, {"sites": "1,2"}, {"scope": "all"}, {"until": "2099-12-31"}):
            page = c.get("/mining", params=params)
            assert page.status_code == 200
            for tokyo in ("解約", TOKYO_REPEAT, "暴言", "yamada", "HYPERLINK"):
                assert tokyo not in page.text, (params, tokyo)
            for table in TABLES:
                body = c.get(f"/mining/{table}.csv", params=params).content.decode("utf-8")
                for tokyo in ("解約", TOKYO_REPEAT, "暴言", "yamada", "HYPERLINK"):
                    assert tokyo not in body, (params, table, tokyo)
        here = c.get("/mining")
        assert "雨漏り" in here.text and OSAKA_REPEAT in here.text


@pytest.mark.parametrize("role", ["operator", "counsel"])
def test_roles_without_aggregates_are_refused_and_audited(
    server: str, seeded_sqlite: Seeded, role: str
) -> None:
    ak = seeded_sqlite.ak
    add_mining_calls(ak)
    name = "op_tanaka" if role == "operator" else "counsel_x"
    if role == "counsel":
        add_user(ak, name, "counsel")
    before = audit_head(ak)
    with login(server, name) as c:
        page = c.get("/mining")
        assert page.status_code == 403 and "管理者・管理職・監査担当者" in page.text
        for table in TABLES:
            r = c.get(f"/mining/{table}.csv")
            assert r.status_code == 403 and not r.headers["content-type"].startswith("text/csv")
            assert "解約" not in r.text and TOKYO_REPEAT not in r.text
    rows = [r for r in audit_rows(ak, before) if r.action != "login"]
    assert [(r.user, r.action, r.target_id, r.outcome) for r in rows] == [
        (name, "mining", t, "denied") for t in ("page", *TABLES)
    ]
    assert all(r.detail["reason"] == f"role_{role}" for r in rows)


def test_auditor_cannot_read_words_through_any_door(server: str, seeded_sqlite: Seeded) -> None:
    ak = seeded_sqlite.ak
    add_mining_calls(ak)
    with login(server, "auditor") as c:
        for url in ("/mining/terms.csv", "/mining/terms.csv?until=2026-01-01", "/mining/TERMS.csv"):
            r = c.get(url)
            assert r.status_code in (403, 422) and "解約" not in r.text and "雨漏り" not in r.text
        assert "解約" not in c.get("/mining").text


def test_no_session_gets_nothing(server: str, seeded_sqlite: Seeded) -> None:
    ak = seeded_sqlite.ak
    add_mining_calls(ak)
    before = audit_head(ak)
    with httpx.Client(base_url=server, timeout=30) as c:
        for url in ("/mining", *(f"/mining/{t}.csv" for t in TABLES)):
            r = c.get(url)
            assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
            assert "解約" not in r.text
    with httpx.Client(base_url=server, timeout=30, cookies={"akashi_session": "forged-token"}) as c:
        assert c.get("/mining/terms.csv").status_code == 303
    assert [r for r in audit_rows(ak, before) if r.action == "export_aggregates"] == []


def test_odd_tables_and_periods_are_refused_without_data(server: str, seeded_sqlite: Seeded) -> None:
    ak = seeded_sqlite.ak
    add_mining_calls(ak)
    before = audit_head(ak)
    with login(server, "admin") as c:
        for url in (
            "/mining/users.csv",
            "/mining/..%2F..%2Fetc%2Fpasswd.csv",
            "/mining/terms.csv?until=" + "9" * 11,
            "/mining/terms.csv?until=2026-02-30",
            "/mining/terms.csv?until=';DROP TABLE calls;--",
        ):
            r = c.get(url)
            assert r.status_code in (403, 404, 422), (url, r.status_code)
            assert "解約" not in r.text and not r.headers["content-type"].startswith("text/csv")
    rows = audit_rows(ak, before)
    assert [r for r in rows if r.action == "export_aggregates"] == []
    assert {r.detail.get("reason") for r in rows if r.outcome == "denied"} <= {"bad_until"}


def test_formula_caller_numbers_from_a_forged_recorder_export_stay_text(
    server: str, seeded_sqlite: Seeded, sqlite_home: Path, tmp_path: Path
) -> None:
    """A recorder export whose caller column holds spreadsheet formulas, imported with akashi import
    calls: the mining CSV carries them as text (leading quote), never as a formula a spreadsheet runs."""
    folder = tmp_path / "drop"
    folder.mkdir()
    mapping = tmp_path / "map.csv"
    today = datetime.now(JST).replace(microsecond=0, tzinfo=None)
    formulas = [
        FORMULA_CALLER + " 0312340000",
        "@SUM(A:A) 0312340000",
        "=cmd|' /C calc'!Z 0312340000",
        "+0312340000",  # a plus is also where a spreadsheet starts a formula
    ]
    with mapping.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["file", "caller", "site", "started", "direction", "notice"])
        for i, caller in enumerate(formulas):
            write_wav(folder / f"{i}.wav", tone(0.5, 300 + 10 * i))
            started = (today - timedelta(hours=i + 1)).isoformat()
            w.writerow([f"{i}.wav", caller, "tokyo", started, "in", "none"])
    proc = run(sqlite_home, "import", "calls", str(folder), "--map", str(mapping), "--json", check=False)
    imported = json.loads(proc.stdout)
    assert len(imported["imported"]) + len(imported["failed"]) == len(formulas), imported
    with login(server, "admin") as c:
        rows = _rows(c.get("/mining/repeat.csv"))[1:]
    callers = {r[0] for r in rows}
    for cell in callers:
        assert cell[:1] not in ("=", "+", "-", "@"), cell
    if len(imported["imported"]) == len(formulas):  # the same digits: one repeat caller, shown by a number
        assert len(callers) == 1 and next(iter(callers)).startswith(("'=", "'@")), callers
    else:  # the import refused some itself: what reached the table is still text
        assert all(cell[:1] not in "=+-@" for cell in callers)
