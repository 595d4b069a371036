"""Issue 10 item 14: auditors read metadata only; counsel read exactly the incidents granted to them.

Every path is tried as an attacker would, over real HTTP (uvicorn + httpx) and through the real
``akashi`` command: call page, API, search by words, dashboard, export, ``calls show``; for counsel
the granted call, another call, the same call after the grant's date and after a revocation.
"""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import update

from akashi.db.base import session_scope
from akashi.db.models import Call
from akashi.db.models_grants import IncidentGrant
from akashi.store.export import check_package
from akashi.web.i18n import JST
from tests.cli.test_end_to_end import run
from tests.security.access_helpers import add_user, audit_head, audit_rows, login
from tests.web import conftest as web_fixtures
from tests.web.conftest import Seeded

# the web tests' fixtures: a seeded SQLite installation and uvicorn serving it on a free port
seeded_sqlite = web_fixtures.seeded_sqlite
server = web_fixtures.server

SAID = ("土下座", "ふざけるな", "録音されます")


def _said(text: str) -> list[str]:
    return [w for w in SAID if w in text]


def _until(days: int = 30) -> str:
    return (datetime.now(JST) + timedelta(days=days)).date().isoformat()


def _incident(c: httpx.Client, title: str, call_id: int) -> int:
    inc = c.post("/api/v1/incidents", json={"title": title, "site": "tokyo"}).json()["id"]
    assert c.post(f"/api/v1/incidents/{inc}/items", json={"call_id": call_id}).status_code == 201
    return int(inc)


def test_auditor_gets_metadata_but_no_transcript_anywhere(server: str, seeded_sqlite: Seeded) -> None:
    cid = seeded_sqlite.calls["tanaka_call"]
    with session_scope(seeded_sqlite.ak.engine) as s:
        call = s.get(Call, cid)
        assert call is not None
        call.extra = {**call.extra, "analysis": {"keywords": ["土下座"]}}
    with login(server, "boss_tokyo") as boss:  # a manager reads the content: the test can tell
        assert _said(boss.get(f"/api/v1/calls/{cid}").text) and _said(boss.get(f"/calls/{cid}").text)
    mark = audit_head(seeded_sqlite.ak)
    with login(server, "auditor") as aud:
        api = aud.get(f"/api/v1/calls/{cid}")
        assert api.status_code == 200 and _said(api.text) == []
        body = api.json()
        assert body["call"]["caller"] == "03-1234-5678" and body["call"]["flags"] == ["暴言"]  # metadata
        assert body["transcript"] == [] and body["facts"]["keywords"] == []
        assert [f["words"] for f in body["flags"]] == [""]
        page = aud.get(f"/calls/{cid}")
        assert page.status_code == 200 and "03-1234-5678" in page.text and _said(page.text) == []
        listing = aud.get("/api/v1/calls")
        assert listing.json()["total"] == 3 and _said(listing.text) == []
        assert aud.get("/api/v1/calls", params={"q": "土下座"}).status_code == 403
        assert aud.get("/calls", params={"q": "土下座"}).status_code == 403
        dash = aud.get("/api/v1/dashboard").json()
        assert dash["top_flagged_words"] == [] and dash["top_keywords"] == []
        assert _said(aud.get("/").text) == []
        assert aud.post(f"/api/v1/calls/{cid}/export").status_code == 403
        assert aud.get(f"/api/v1/calls/{cid}/media").status_code == 403
        assert aud.get("/api/v1/admin/audit").status_code == 200  # the audit log stays theirs
    shown = run(seeded_sqlite.ak.settings.home, "calls", "show", str(cid), "--as", "auditor", "--json")
    facts = json.loads(shown.stdout)
    assert "transcript" not in facts and facts["keywords"] == [] and _said(shown.stdout) == []
    plain = run(seeded_sqlite.ak.settings.home, "calls", "show", str(cid), "--as", "auditor")
    assert _said(plain.stdout) == []
    by_words = run(
        seeded_sqlite.ak.settings.home, "calls", "search", "--text", "土下座", "--as", "auditor", check=False
    )
    assert by_words.returncode == 3 and by_words.stdout == ""
    denied = [
        (r.action, r.detail.get("reason"))
        for r in audit_rows(seeded_sqlite.ak, mark)
        if r.outcome == "denied"
    ]
    assert denied.count(("search", "role_auditor_no_content")) == 3


def test_counsel_reads_exactly_the_granted_incident_until_the_date(
    server: str, seeded_sqlite: Seeded, tmp_path: Path
) -> None:
    ak = seeded_sqlite.ak
    add_user(ak, "bengoshi", "counsel")
    mine, other, osaka = (seeded_sqlite.calls[k] for k in ("tanaka_call", "suzuki_call", "osaka_call"))
    with login(server, "boss_tokyo") as boss:
        inc = _incident(boss, "田中様の件", mine)
        second = _incident(boss, "鈴木様の件", other)
        assert (
            boss.post(
                f"/api/v1/incidents/{inc}/grants", json={"user": "op_suzuki", "until": _until()}
            ).status_code
            == 400
        )
    mark = audit_head(ak)
    with login(server, "op_tanaka") as op:
        assert (
            op.post(
                f"/api/v1/incidents/{inc}/grants", json={"user": "bengoshi", "until": _until()}
            ).status_code
            == 403
        )
    with login(server, "boss_osaka") as osaka_boss:
        r = osaka_boss.post(f"/api/v1/incidents/{inc}/grants", json={"user": "bengoshi", "until": _until()})
        assert r.status_code == 403
    with login(server, "bengoshi") as counsel:  # nothing granted yet: nothing visible
        assert counsel.get("/api/v1/calls").json()["total"] == 0
        assert counsel.get(f"/api/v1/calls/{mine}/media").status_code == 403
    with login(server, "boss_tokyo") as boss:
        r = boss.post(f"/api/v1/incidents/{inc}/grants", json={"user": "bengoshi", "until": _until()})
        assert r.status_code == 201 and [g["user"] for g in r.json()] == ["bengoshi"]
    with login(server, "bengoshi") as counsel:
        assert [c["id"] for c in counsel.get("/api/v1/calls").json()["items"]] == [mine]
        assert [i["id"] for i in counsel.get("/api/v1/incidents").json()] == [inc]
        assert counsel.get(f"/incidents/{inc}").status_code == 200
        detail = counsel.get(f"/api/v1/calls/{mine}")
        assert detail.status_code == 200 and _said(detail.text)  # counsel read what was said
        media = counsel.get(f"/api/v1/calls/{mine}/media")
        assert media.status_code == 200 and media.content[:4] == b"RIFF"
        pkg = tmp_path / "call.zip"
        pkg.write_bytes(counsel.post(f"/api/v1/calls/{mine}/export").content)
        assert check_package(pkg).ok
        whole = tmp_path / "incident.zip"
        whole.write_bytes(counsel.post(f"/api/v1/incidents/{inc}/export").content)
        assert check_package(whole).ok
        with zipfile.ZipFile(whole) as z:
            wavs = [n for n in z.namelist() if n.endswith(".wav")]
        assert len(wavs) == 1 and f"call-{mine}-" in wavs[0]  # the granted incident's one call
        # everything else: refused, and audited
        for cid in (other, osaka):
            assert counsel.get(f"/api/v1/calls/{cid}").status_code == 403
            assert counsel.get(f"/api/v1/calls/{cid}/media").status_code == 403
            assert counsel.post(f"/api/v1/calls/{cid}/export").status_code == 403
        assert counsel.get(f"/api/v1/incidents/{second}").status_code == 404
        assert counsel.post(f"/api/v1/incidents/{second}/export").status_code == 404
        assert counsel.post(f"/api/v1/calls/{mine}/notes", json={"text": "メモ"}).status_code == 403
        assert (
            counsel.post(f"/api/v1/calls/{mine}/hold", json={"hold": False, "reason": "x"}).status_code == 403
        )
        assert counsel.get("/api/v1/cameras").json() == []
        assert counsel.get("/api/v1/admin/audit").status_code == 403
    # the grant's date passes
    with session_scope(ak.engine) as s:
        s.execute(update(IncidentGrant).values(until=datetime.now(UTC) - timedelta(seconds=1)))
    with login(server, "bengoshi") as counsel:
        assert counsel.get(f"/api/v1/calls/{mine}/media").status_code == 403
        assert counsel.get(f"/api/v1/incidents/{inc}").status_code == 404
        assert counsel.get("/api/v1/calls").json()["total"] == 0
    rows = [r for r in audit_rows(ak, mark)]
    by_counsel = [(r.action, r.target_type, r.target_id, r.outcome) for r in rows if r.user == "bengoshi"]
    for action in ("view", "play", "export"):
        assert (action, "call", str(mine), "ok") in by_counsel
        assert (action, "call", str(other), "denied") in by_counsel
        assert (action, "call", str(osaka), "denied") in by_counsel
    assert ("export", "incident", str(inc), "ok") in by_counsel
    assert ("view", "incident", str(second), "denied") in by_counsel
    after_date = by_counsel[len(by_counsel) - by_counsel[::-1].index(("login", "", "", "ok")) :]
    assert after_date == [  # a search's entry is committed before its response: in request order
        ("play", "call", str(mine), "denied"),
        ("view", "incident", str(inc), "denied"),
        ("search", "calls", "", "ok"),
    ]
    grants = [
        (r.user, r.action, r.outcome, r.detail.get("reason")) for r in rows if r.action == "incident_grant"
    ]
    assert grants == [
        ("op_tanaka", "incident_grant", "denied", "role_operator_no_grant"),
        ("boss_osaka", "incident_grant", "denied", "out_of_scope"),
        ("boss_tokyo", "incident_grant", "ok", None),
    ]


def test_grant_and_revoke_from_the_cli_are_audited(server: str, seeded_sqlite: Seeded) -> None:
    ak = seeded_sqlite.ak
    home = ak.settings.home
    add_user(ak, "bengoshi", "counsel")
    mine, other = seeded_sqlite.calls["tanaka_call"], seeded_sqlite.calls["suzuki_call"]
    with login(server, "boss_tokyo") as boss:
        inc = _incident(boss, "田中様の件", mine)
    mark = audit_head(ak)
    refused = run(
        home,
        "incident",
        "grant",
        str(inc),
        "bengoshi",
        "--until",
        _until(),
        "--as",
        "boss_osaka",
        check=False,
    )
    assert refused.returncode == 3
    run(home, "incident", "grant", str(inc), "bengoshi", "--until", _until(), "--as", "boss_tokyo")
    shown = json.loads(run(home, "calls", "show", str(mine), "--as", "bengoshi", "--json").stdout)
    assert shown["id"] == mine and shown["transcript"]
    assert run(home, "calls", "show", str(other), "--as", "bengoshi", check=False).returncode == 3
    with login(server, "bengoshi") as counsel:
        assert counsel.get(f"/api/v1/calls/{mine}/media").status_code == 200
    run(home, "incident", "revoke", str(inc), "bengoshi", "--as", "boss_tokyo")
    assert run(home, "calls", "show", str(mine), "--as", "bengoshi", check=False).returncode == 3
    with login(server, "bengoshi") as counsel:
        assert counsel.get(f"/api/v1/calls/{mine}/media").status_code == 403
    listed = json.loads(run(home, "incident", "grants", str(inc), "--json").stdout)
    assert [(g["user"], g["active"]) for g in listed] == [("bengoshi", False)]
    rows = [(r.user, r.action, r.outcome) for r in audit_rows(ak, mark) if r.target_type == "incident"]
    assert rows == [
        ("boss_osaka", "incident_grant", "denied"),
        ("boss_tokyo", "incident_grant", "ok"),
        ("boss_tokyo", "incident_revoke", "ok"),
    ]


def test_counsel_plays_only_the_granted_camera_range(
    server: str, seeded_sqlite: Seeded, tmp_path: Path
) -> None:
    from tests.web.test_cameras import add_camera

    ak = seeded_sqlite.ak
    cam = add_camera(seeded_sqlite, tmp_path)  # segments at 12:00:00 and 12:00:24 JST today
    add_user(ak, "bengoshi", "counsel")
    day = datetime.now(JST).date().isoformat()
    with login(server, "boss_tokyo") as boss:
        inc = boss.post("/api/v1/incidents", json={"title": "入口", "site": "tokyo"}).json()["id"]
        item = {"camera_id": cam, "started_at": f"{day}T12:00:01+09:00", "ended_at": f"{day}T12:00:03+09:00"}
        assert boss.post(f"/api/v1/incidents/{inc}/items", json=item).status_code == 201
        segs = [
            g["id"]
            for g in boss.get(f"/api/v1/cameras/{cam}/timeline", params={"day": day}).json()["segments"]
        ]
        assert (
            boss.post(
                f"/api/v1/incidents/{inc}/grants", json={"user": "bengoshi", "until": _until(7)}
            ).status_code
            == 201
        )
    mark = audit_head(ak)
    with login(server, "bengoshi") as counsel:
        page = counsel.get(f"/incidents/{inc}")
        assert page.status_code == 200 and f"/api/v1/camera-segments/{segs[0]}/media" in page.text
        assert f"/api/v1/camera-segments/{segs[1]}/media" not in page.text
        clip = counsel.get(f"/api/v1/camera-segments/{segs[0]}/media")
        assert clip.status_code == 200 and clip.headers["content-type"] == "video/mp4"
        assert counsel.get(f"/api/v1/camera-segments/{segs[1]}/media").status_code == 403
        assert counsel.get(f"/api/v1/cameras/{cam}/timeline").status_code == 404
        assert counsel.get(f"/api/v1/cameras/{cam}/thumbnail").status_code == 404
        pkg = tmp_path / "inc.zip"
        pkg.write_bytes(counsel.post(f"/api/v1/incidents/{inc}/export").content)
    assert check_package(pkg).ok
    with zipfile.ZipFile(pkg) as z:
        assert len([n for n in z.namelist() if n.endswith(".mp4")]) == 1
    rows = [
        (r.action, r.target_type, r.target_id, r.outcome)
        for r in audit_rows(ak, mark)
        if r.user == "bengoshi"
    ]
    assert ("play", "camera_segment", str(segs[0]), "ok") in rows
    assert ("play", "camera_segment", str(segs[1]), "denied") in rows
    assert ("view", "camera", str(cam), "denied") in rows
    assert ("export", "incident", str(inc), "ok") in rows


def test_grant_and_revoke_from_the_incident_page(server: str, seeded_sqlite: Seeded) -> None:
    ak = seeded_sqlite.ak
    add_user(ak, "bengoshi", "counsel")
    mine = seeded_sqlite.calls["tanaka_call"]
    with login(server, "boss_tokyo") as boss:
        inc = _incident(boss, "田中様の件", mine)
        form = {"user": "bengoshi", "until": _until(), "csrf_token": boss.headers["X-CSRF-Token"]}
        assert boss.post(f"/incidents/{inc}/grants", data=form).status_code == 303
        page = boss.get(f"/incidents/{inc}").text
        assert "bengoshi" in page and f"/incidents/{inc}/grants/revoke" in page
    with login(server, "bengoshi") as counsel:
        assert counsel.get(f"/calls/{mine}").status_code == 200
        assert f"/incidents/{inc}/grants" not in counsel.get(f"/incidents/{inc}").text  # grantors only
        forged = {"user": "bengoshi", "until": _until(365), "csrf_token": counsel.headers["X-CSRF-Token"]}
        assert counsel.post(f"/incidents/{inc}/grants", data=forged).status_code == 403  # no self-extension
    with login(server, "boss_tokyo") as boss:
        revoke = {"user": "bengoshi", "csrf_token": boss.headers["X-CSRF-Token"]}
        assert boss.post(f"/incidents/{inc}/grants/revoke", data=revoke).status_code == 303
    with login(server, "bengoshi") as counsel:
        assert counsel.get(f"/calls/{mine}").status_code == 403
    rows = [(r.user, r.action, r.outcome) for r in audit_rows(ak) if r.target_type == "incident"]
    assert [r for r in rows if r[1] in ("incident_grant", "incident_revoke")] == [
        ("boss_tokyo", "incident_grant", "ok"),
        ("bengoshi", "incident_grant", "denied"),
        ("boss_tokyo", "incident_revoke", "ok"),
    ]
