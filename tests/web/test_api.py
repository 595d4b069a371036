"""The JSON API and pages through TestClient: sessions, CSRF, roles and sites, search, media, export."""

from __future__ import annotations

import io
import json
import time
import zipfile
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from akashi.db.base import session_scope, utcnow
from akashi.db.models import AuditEntry, EvidenceObject, User
from akashi.db.models_web import WebSession
from akashi.web.app import PUBLIC_PATHS, create_app
from tests.web.conftest import PASSWORD, Seeded, api_login, wav_bytes


def _denials(seeded: Seeded, user: str) -> list[AuditEntry]:
    with session_scope(seeded.ak.engine) as s:
        return list(
            s.scalars(select(AuditEntry).where(AuditEntry.user_name == user, AuditEntry.outcome == "denied"))
        )


def route_table(app: object) -> list[tuple[str, set[str]]]:
    """(path, methods) of every route, including those of included routers."""
    out: list[tuple[str, set[str]]] = []
    for route in app.routes:  # type: ignore[attr-defined]
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            out.extend((c.path, set(c.methods or ())) for c in contexts())
        else:
            out.append((getattr(route, "path", ""), set(getattr(route, "methods", None) or ())))
    return out


def test_every_route_needs_a_session(app_client: TestClient) -> None:
    """Each route not in the public list answers 401 (API) or redirects to the login page."""
    checked = 0
    for path, methods in route_table(app_client.app):
        if not methods or path in PUBLIC_PATHS or path.startswith("/static"):
            continue
        url = path.replace("{call_id}", "1").replace("{incident_id}", "1").replace("{camera_id}", "1")
        url = url.replace("{segment_id}", "1").replace("{user_id}", "1").replace("{name}", "default")
        for method in methods - {"HEAD"}:
            r = app_client.request(method, url, follow_redirects=False)
            if path.startswith("/api/"):
                assert r.status_code == 401, (method, path, r.status_code)
            else:
                assert r.status_code == 303 and r.headers["location"].startswith("/login"), (method, path)
            checked += 1
    assert checked > 30


def test_login_wrong_password_and_lockout(app_client: TestClient, seeded: Seeded) -> None:
    for _ in range(5):
        r = app_client.post("/api/v1/auth/login", json={"name": "op_tanaka", "password": "wrong-password!"})
        assert r.status_code == 401
    # locked now, even with the right password
    r = app_client.post("/api/v1/auth/login", json={"name": "op_tanaka", "password": PASSWORD})
    assert r.status_code == 401 and "lock" in r.json()["detail"]["en"]
    assert len(_denials(seeded, "op_tanaka")) == 6


def test_cookie_flags_and_csrf(app_client: TestClient) -> None:
    r = app_client.post("/api/v1/auth/login", json={"name": "boss_tokyo", "password": PASSWORD})
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    csrf = r.json()["csrf_token"]
    r = app_client.post("/api/v1/incidents", json={"title": "x"})
    assert r.status_code == 403 and r.json()["detail"]["code"] == "csrf"
    r = app_client.post("/api/v1/incidents", json={"title": "x"}, headers={"X-CSRF-Token": "nope"})
    assert r.status_code == 403
    r = app_client.post(
        "/api/v1/incidents", json={"title": "x", "site": "tokyo"}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 201, r.text


def test_secure_cookie_behind_tls(seeded: Seeded) -> None:
    with TestClient(create_app(seeded.ak), base_url="https://akashi.example") as c:
        r = c.post("/api/v1/auth/login", json={"name": "admin", "password": PASSWORD})
        assert "secure" in r.headers["set-cookie"].lower()


def test_idle_timeout(app_client: TestClient, seeded: Seeded) -> None:
    api_login(app_client, "boss_tokyo")
    assert app_client.get("/api/v1/me").status_code == 200
    idle = seeded.ak.settings.web.session_idle_minutes
    with session_scope(seeded.ak.engine) as s:
        s.execute(update(WebSession).values(last_seen_at=utcnow() - timedelta(minutes=idle + 1)))
    assert app_client.get("/api/v1/me").status_code == 401
    r = app_client.get("/calls", follow_redirects=False)
    assert (
        r.status_code == 303
        and r.headers["location"].startswith("/login")
        and "expired=1" in r.headers["location"]
    )


def test_totp_second_factor(app_client: TestClient, seeded: Seeded) -> None:
    secret = pyotp.random_base32()
    with session_scope(seeded.ak.engine) as s:
        s.execute(update(User).where(User.name == "admin").values(totp_secret=secret))
    r = app_client.post("/api/v1/auth/login", json={"name": "admin", "password": PASSWORD})
    assert r.status_code == 401 and r.json()["detail"]["code"] == "totp_required"
    r = app_client.post("/api/v1/auth/login", json={"name": "admin", "password": PASSWORD, "totp": "000000"})
    assert r.status_code == 401
    code = pyotp.TOTP(secret).now()
    r = app_client.post("/api/v1/auth/login", json={"name": "admin", "password": PASSWORD, "totp": code})
    assert r.status_code == 200
    # the same code never logs in twice (a code seen on the wire cannot be replayed)
    with TestClient(create_app(seeded.ak)) as again:
        r = again.post("/api/v1/auth/login", json={"name": "admin", "password": PASSWORD, "totp": code})
        assert r.status_code == 401
    next_code = pyotp.TOTP(secret).at(int(time.time()) + 30)
    # pages: password first, then the code page; nothing else until the code is given
    with TestClient(create_app(seeded.ak)) as c:
        page = c.get("/login")
        token = page.cookies.get("akashi_prelogin") or c.cookies.get("akashi_prelogin")
        r = c.post(
            "/login",
            data={"username": "admin", "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
        assert r.headers["location"] == "/login/totp"
        assert c.get("/calls", follow_redirects=False).headers["location"] == "/login/totp"
        assert c.get("/api/v1/calls").status_code == 401
        form = c.get("/login/totp").text
        csrf = form.split('name="csrf_token" value="')[1].split('"')[0]
        r = c.post("/login/totp", data={"code": next_code, "csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 303
        assert c.get("/api/v1/calls").status_code == 200


def test_wrong_totp_codes_lock_the_account(app_client: TestClient, seeded: Seeded) -> None:
    secret = pyotp.random_base32()
    with session_scope(seeded.ak.engine) as s:
        s.execute(update(User).where(User.name == "boss_osaka").values(totp_secret=secret))
    good = pyotp.TOTP(secret).now()
    wrong = "000000" if good != "000000" else "111111"
    for _ in range(5):
        r = app_client.post(
            "/api/v1/auth/login", json={"name": "boss_osaka", "password": PASSWORD, "totp": wrong}
        )
        assert r.status_code == 401
    r = app_client.post("/api/v1/auth/login", json={"name": "boss_osaka", "password": PASSWORD, "totp": good})
    assert r.status_code == 401 and "lock" in r.json()["detail"]["en"]


def test_login_form_needs_prelogin_token(app_client: TestClient) -> None:
    r = app_client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": "forged"})
    assert r.status_code == 403
    assert app_client.get("/api/v1/me").status_code == 401


@pytest.mark.parametrize("number", ["1234-56", "123456", "03-1234-5678", "+81 3 1234 5678", "0312345678"])
def test_search_partial_number(app_client: TestClient, seeded: Seeded, number: str) -> None:
    api_login(app_client, "admin")
    items = app_client.get("/api/v1/calls", params={"number": number}).json()["items"]
    assert [c["id"] for c in items] == [seeded.calls["tanaka_call"]]


def test_search_filters_sort_and_pages(app_client: TestClient, seeded: Seeded) -> None:
    api_login(app_client, "admin")

    def get(**p: str | int) -> Any:
        return app_client.get("/api/v1/calls", params=p).json()

    assert get()["total"] == 3
    assert [c["id"] for c in get(agent="suzu")["items"]] == [seeded.calls["suzuki_call"]]
    assert {c["id"] for c in get(site="osaka")["items"]} == {seeded.calls["osaka_call"]}
    assert [c["id"] for c in get(flag="暴言")["items"]] == [seeded.calls["tanaka_call"]]
    assert [c["id"] for c in get(q="土下座")["items"]] == [seeded.calls["tanaka_call"]]
    assert get(**{"from": "2000-01-01", "to": "2000-01-02"})["total"] == 0
    newest = [c["id"] for c in get()["items"]]
    oldest = [c["id"] for c in get(order="started_at")["items"]]
    assert newest == list(reversed(oldest)) and newest[0] == seeded.calls["osaka_call"]
    page2 = get(limit=2, offset=2)
    assert page2["total"] == 3 and len(page2["items"]) == 1
    assert page2["items"][0]["started_jst"].endswith("JST")
    assert app_client.get("/api/v1/calls", params={"limit": 0}).status_code == 422


def test_operator_cannot_open_another_operators_call(app_client: TestClient, seeded: Seeded) -> None:
    api_login(app_client, "op_suzuki")
    own = seeded.calls["suzuki_call"]
    other = seeded.calls["tanaka_call"]
    assert [c["id"] for c in app_client.get("/api/v1/calls").json()["items"]] == [own]
    assert app_client.get(f"/api/v1/calls/{own}").status_code == 200
    for url in (f"/api/v1/calls/{other}", f"/api/v1/calls/{other}/media", f"/calls/{other}"):
        assert app_client.get(url).status_code == 403, url
    denied = _denials(seeded, "op_suzuki")
    assert {(d.action, d.target_id) for d in denied} >= {("view", str(other)), ("play", str(other))}
    # operators may not export even their own call
    csrf = app_client.get("/api/v1/me").json()["csrf_token"]
    assert app_client.post(f"/api/v1/calls/{own}/export", headers={"X-CSRF-Token": csrf}).status_code == 403


def test_manager_sees_only_their_site(app_client: TestClient, seeded: Seeded) -> None:
    api_login(app_client, "boss_osaka")
    ids = {c["id"] for c in app_client.get("/api/v1/calls").json()["items"]}
    assert ids == {seeded.calls["osaka_call"]}
    assert app_client.get("/api/v1/calls", params={"site": "tokyo"}).json()["total"] == 0
    assert app_client.get(f"/api/v1/calls/{seeded.calls['tanaka_call']}").status_code == 403
    page = app_client.get("/calls").text
    assert "03-1234-5678" not in page and "06-5555-0101" in page
    assert ("view", str(seeded.calls["tanaka_call"])) in {
        (d.action, d.target_id) for d in _denials(seeded, "boss_osaka")
    }


def test_media_ranges(app_client: TestClient, seeded: Seeded) -> None:
    api_login(app_client, "boss_tokyo")
    url = f"/api/v1/calls/{seeded.calls['tanaka_call']}/media"
    full = app_client.get(url)
    assert full.status_code == 200 and full.headers["accept-ranges"] == "bytes"
    assert wav_bytes(full.content) == (2, 8000, 24000)
    part = app_client.get(url, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == full.content[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(full.content)}"
    tail = app_client.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == full.content[-10:]
    bad = app_client.get(url, headers={"Range": f"bytes={len(full.content)}-"})
    assert bad.status_code == 416
    with session_scope(seeded.ak.engine) as s:
        plays = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "play", AuditEntry.user_name == "boss_tokyo")
        )
        assert len(list(plays)) >= 4


def test_detail_peaks_notes_hold_and_export(app_client: TestClient, seeded: Seeded) -> None:
    from akashi.store.export import check_package

    csrf = api_login(app_client, "boss_tokyo")
    h = {"X-CSRF-Token": csrf}
    cid = seeded.calls["tanaka_call"]
    d = app_client.get(f"/api/v1/calls/{cid}").json()
    cust = next(g for g in d["transcript"] if g["channel"] == "customer")
    assert set(cust["flagged"]) == {"土下座", "ふざけるな"}
    with session_scope(seeded.ak.engine) as s:  # reading what was said is audited like playback
        views = s.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "view",
                AuditEntry.outcome == "ok",
                AuditEntry.user_name == "boss_tokyo",
                AuditEntry.target_id == str(cid),
            )
        )
        assert len(list(views)) == 1
    peaks = app_client.get(f"/api/v1/calls/{cid}/peaks").json()
    assert peaks["channels"] == 2 and abs(peaks["duration_s"] - 3.0) < 0.01
    left, right = peaks["peaks"]
    half = len(left) // 2
    assert max(left[: half - 2]) > 0.35 and max(left[half + 2 :]) == 0.0  # customer speaks first
    assert max(right[: half - 2]) == 0.0 and max(right[half + 2 :]) > 0.2
    r = app_client.post(f"/api/v1/calls/{cid}/notes", json={"text": "要注意の顧客"}, headers=h)
    assert r.status_code == 201
    r = app_client.post(f"/api/v1/calls/{cid}/hold", json={"hold": True, "reason": "訴訟準備"}, headers=h)
    assert r.status_code == 204
    with session_scope(seeded.ak.engine) as s:
        obj_id = d["call"]["id"] and d["facts"]["media_object_id"]
        obj = s.get(EvidenceObject, obj_id)
        assert obj is not None and obj.legal_hold
    d = app_client.get(f"/api/v1/calls/{cid}").json()
    assert d["legal_hold"] and d["notes"][0]["text"] == "要注意の顧客"
    r = app_client.post(f"/api/v1/calls/{cid}/export", headers=h)
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    path = seeded.ak.settings.home / "pkg.zip"
    path.write_bytes(r.content)
    report = check_package(path)
    assert report.ok, report.to_text()
    with zipfile.ZipFile(io.BytesIO(r.content)) as z:
        wavs = [n for n in z.namelist() if n.endswith(".wav")]
        assert wavs and wav_bytes(z.read(wavs[0]))[0] == 2
    assert not list(seeded.ak.settings.spool_path.glob("akashi-export-*"))  # temp package removed


def test_incident_flow_and_export(app_client: TestClient, seeded: Seeded) -> None:
    from akashi.store.export import check_package

    csrf = api_login(app_client, "boss_tokyo")
    h = {"X-CSRF-Token": csrf}
    inc = app_client.post(
        "/api/v1/incidents", json={"title": "土下座要求", "site": "tokyo"}, headers=h
    ).json()
    for key in ("tanaka_call", "suzuki_call"):
        r = app_client.post(
            f"/api/v1/incidents/{inc['id']}/items", json={"call_id": seeded.calls[key]}, headers=h
        )
        assert r.status_code == 201
    # a call of another site cannot be linked
    r = app_client.post(
        f"/api/v1/incidents/{inc['id']}/items", json={"call_id": seeded.calls["osaka_call"]}, headers=h
    )
    assert r.status_code == 403
    r = app_client.patch(
        f"/api/v1/incidents/{inc['id']}", json={"status": "closed", "legal_hold": True}, headers=h
    )
    assert r.json()["status"] == "closed" and len(r.json()["items"]) == 2 and r.json()["legal_hold"]
    for key in ("tanaka_call", "suzuki_call"):  # the hold reaches the recordings of the linked calls
        assert app_client.get(f"/api/v1/calls/{seeded.calls[key]}").json()["legal_hold"] is True
    assert app_client.get(f"/api/v1/calls/{seeded.calls['osaka_call']}").status_code == 403
    r = app_client.post(f"/api/v1/incidents/{inc['id']}/export", headers=h)
    assert r.status_code == 200
    path = seeded.ak.settings.home / "incident.zip"
    path.write_bytes(r.content)
    assert check_package(path).ok
    with zipfile.ZipFile(path) as z:
        assert len([n for n in z.namelist() if n.endswith(".wav")]) == 2
    # the Osaka manager does not see the Tokyo incident
    api_login(app_client, "boss_osaka")
    assert app_client.get("/api/v1/incidents").json() == []
    assert app_client.get(f"/api/v1/incidents/{inc['id']}").status_code == 404


def test_admin_users_and_audit(app_client: TestClient, seeded: Seeded) -> None:
    csrf = api_login(app_client, "admin")
    h = {"X-CSRF-Token": csrf}
    r = app_client.post(
        "/api/v1/admin/users",
        headers=h,
        json={
            "name": "new_op",
            "password": "long-enough-pw",
            "role": "operator",
            "sites": ["osaka"],
            "agent": "sato",
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["sites"] == ["osaka"]
    names = [u["name"] for u in app_client.get("/api/v1/admin/users").json()]
    assert "new_op" in names
    log = app_client.get("/api/v1/admin/audit", params={"action": "user_create"}).json()
    assert log["total"] == 1 and log["items"][0]["user"] == "admin"
    r = app_client.post("/api/v1/admin/verify", headers=h)
    assert r.status_code == 200 and r.json()["ok"] is True
    assert app_client.get("/api/v1/admin/config").json()["lexicon"]
    api_login(app_client, "new_op", "long-enough-pw")
    assert [c["id"] for c in app_client.get("/api/v1/calls").json()["items"]] == [seeded.calls["osaka_call"]]
    assert app_client.get("/api/v1/admin/users").status_code == 403
    assert app_client.get("/api/v1/admin/audit").status_code == 403


def test_pages_render_in_japanese_and_english(app_client: TestClient, seeded: Seeded) -> None:
    api_login(app_client, "admin")
    cid = seeded.calls["tanaka_call"]
    ja = app_client.get(f"/calls/{cid}").text
    assert "文字起こし" in ja and 'class="flagged">土下座</mark>' in ja and " JST" in ja
    app_client.cookies.set("akashi_lang", "en")
    en = app_client.get(f"/calls/{cid}").text
    assert "Transcript" in en and "文字起こし" not in en
    for path in ("/", "/calls?number=1234", "/cameras", "/incidents", "/admin", "/admin/audit"):
        r = app_client.get(path)
        assert r.status_code == 200, path
        assert "default-src 'self'" in r.headers["content-security-policy"]
    dash = app_client.get("/api/v1/dashboard").json()
    assert dash["flagged_by_category"] == [{"category": "暴言", "calls": 1}]
    assert sum(d["calls"] for d in dash["days"]) == 3
    assert dash["compliance"]["rate"] == 1.0 and dash["cameras"] == []
    assert {w["word"] for w in dash["top_flagged_words"]} == {"土下座", "ふざけるな"}


def test_auditor_reads_audit_but_cannot_play(app_client: TestClient, seeded: Seeded) -> None:
    api_login(app_client, "auditor")
    cid = seeded.calls["tanaka_call"]
    assert app_client.get(f"/api/v1/calls/{cid}").status_code == 200
    assert app_client.get(f"/api/v1/calls/{cid}/media").status_code == 403
    assert app_client.get("/api/v1/admin/audit").status_code == 200
    entries = app_client.get("/api/v1/admin/audit", params={"outcome": "denied", "user": "auditor"}).json()
    assert entries["total"] == 1 and json.dumps(entries["items"][0]["detail"])
