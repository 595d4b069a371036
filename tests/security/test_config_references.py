"""Admin edits that point a route at a notice or a site that does not exist, over real HTTP.

An admin session (stolen, or an admin in a hurry) that saves a route naming a misspelt notice would
answer callers without the recording notice; one naming a misspelt site files the calls under a new
site nobody may see. Both are refused when the whole ``akashi.toml`` is checked before writing: a
clear refusal naming the key, the file byte for byte unchanged and the settings in force unchanged.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.security.access_helpers import login
from tests.web import conftest as web_fixtures
from tests.web.conftest import Seeded

seeded_sqlite = web_fixtures.seeded_sqlite
server = web_fixtures.server

SITES = '\n[[sites]]\nname = "tokyo"\nlabel = "東京"\n\n[[sites]]\nname = "osaka"\n'
ROUTE = {"match": "0120000111", "ring": ["sip:op1@127.0.0.1:5070"]}


def _declare_sites(seeded: Seeded) -> Path:
    path = seeded.ak.settings.home / "akashi.toml"
    path.write_text(path.read_text(encoding="utf-8") + SITES, encoding="utf-8")
    return path


def test_a_route_to_an_undeclared_site_is_refused_over_http(server: str, seeded_sqlite: Seeded) -> None:
    """PUT /api/v1/admin/routes with a site outside [[sites]]: 400 naming the key, nothing written."""
    path = _declare_sites(seeded_sqlite)
    before = path.read_bytes()
    routes_before = list(seeded_sqlite.ak.settings.sip.routes)
    c: httpx.Client
    with login(server, "admin") as c:
        r = c.put("/api/v1/admin/routes", json={"routes": [{**ROUTE, "site": "tokyo2"}]})
        assert r.status_code == 400, r.text
        detail = r.json()["detail"]
        assert "sip.routes.0.site" in detail["en"] and "'tokyo2'" in detail["en"]
        assert "拠点" in detail["ja"]
        assert path.read_bytes() == before
        assert seeded_sqlite.ak.settings.sip.routes == routes_before
        # the declared site is accepted: the refusal is about the name, not about routes
        assert c.put("/api/v1/admin/routes", json={"routes": [{**ROUTE, "site": "tokyo"}]}).status_code == 204
    assert [x.site for x in seeded_sqlite.ak.settings.sip.routes] == ["tokyo"]


def test_the_admin_page_shows_the_refusal_inline(server: str, seeded_sqlite: Seeded) -> None:
    """The form post of the admin page: the page again (400) with the reason, the file unchanged."""
    path = _declare_sites(seeded_sqlite)
    before = path.read_bytes()
    c: httpx.Client
    with login(server, "admin") as c:
        page = c.get("/admin").text
        csrf = page.split('name="csrf_token" value="')[1].split('"', maxsplit=1)[0]
        form = {
            "match": ["0120000111"],
            "ring": ["sip:op1@127.0.0.1:5070"],
            "site": ["osaka-2"],
            "announcement": ["default"],
            "strategy": ["parallel"],
            "ring_timeout_s": ["30"],
            "csrf_token": csrf,
        }
        r = c.post("/admin/routes", data=form, follow_redirects=False)
        assert r.status_code == 400
        assert "osaka-2" in r.text and "sip.routes.0.site" in r.text
        assert path.read_bytes() == before


def test_a_route_to_a_missing_notice_is_refused_over_http(server: str, seeded_sqlite: Seeded) -> None:
    """A route whose notice is not defined: refused, the file unchanged."""
    path = seeded_sqlite.ak.settings.home / "akashi.toml"
    before = path.read_bytes()
    c: httpx.Client
    with login(server, "admin") as c:
        r = c.put("/api/v1/admin/routes", json={"routes": [{**ROUTE, "announcement": "defualt"}]})
        assert r.status_code == 400 and "defualt" in r.json()["detail"]["en"]
    assert path.read_bytes() == before
