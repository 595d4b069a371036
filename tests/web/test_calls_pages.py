"""The call list and call page as people read them (issue 11 items 7 and 10).

Transcription state that refreshes itself, "no flags" told from "not analysed", play and download from the
list, a bad date as an inline error, an unknown ``?order=`` falling back, the legal hold's who, when, why.
"""

from __future__ import annotations

import html

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from akashi.db.base import session_scope
from akashi.db.models import AuditEntry, Call
from akashi.jobs.queue import JobQueue, enqueue
from akashi.web.app import create_app
from tests.web.conftest import Seeded, api_login


def _row(page: str, call_id: int) -> str:
    return page.split(f'<tr data-call="{call_id}">', 1)[1].split("</tr>", 1)[0]


def test_list_tells_no_flags_from_not_analysed_and_queued(client: TestClient, seeded_sqlite: Seeded) -> None:
    ak, ids = seeded_sqlite.ak, seeded_sqlite.calls
    with session_scope(ak.engine) as s:
        done = s.get(Call, ids["suzuki_call"])
        assert done is not None
        done.analysis_state = "done"
        queued = s.get(Call, ids["osaka_call"])
        assert queued is not None
        queued.analysis_state = "pending"
        enqueue(s, "transcribe", {"call_id": queued.id}, dedupe_key=f"transcribe:{queued.id}")
    api_login(client, "admin")
    page = client.get("/calls").text
    assert "フラグなし" in _row(page, ids["suzuki_call"])
    assert "文字起こし待ち" in _row(page, ids["osaka_call"]) and "フラグなし" not in _row(
        page, ids["osaka_call"]
    )
    assert "暴言" in _row(page, ids["tanaka_call"])
    client.get("/lang/en")
    page = client.get("/calls").text
    assert "No flags" in _row(page, ids["suzuki_call"]) and "Waiting to be transcribed" in page


def test_call_page_follows_its_transcription(client: TestClient, seeded_sqlite: Seeded) -> None:
    ak, cid = seeded_sqlite.ak, seeded_sqlite.calls["osaka_call"]
    with session_scope(ak.engine) as s:
        call = s.get(Call, cid)
        assert call is not None
        call.analysis_state = "pending"
        enqueue(s, "transcribe", {"call_id": cid}, dedupe_key=f"transcribe:{cid}")
        earlier = s.get(Call, seeded_sqlite.calls["tanaka_call"])
        assert earlier is not None  # an earlier call tells how fast the recogniser runs here
        earlier.analysis_state = "done"
        earlier.extra = {**earlier.extra, "analysis": {"audio_s": 100.0, "processing_s": 50.0}}
    api_login(client, "admin")
    page = client.get(f"/calls/{cid}").text
    assert 'data-state="queued"' in page and 'data-poll="1"' in page and "文字起こし待ち" in page
    assert '<script src="/static/analysis.js" defer></script>' in page
    r = client.get(f"/calls/{cid}/analysis")
    assert r.status_code == 200 and r.json()["state"] == "queued" and r.json()["label"] == "文字起こし待ち"
    claimed = JobQueue(ak.engine).claim("test-worker", ["transcribe"])
    assert claimed is not None
    info = client.get(f"/calls/{cid}/analysis").json()
    assert info["state"] == "transcribing" and info["settled"] is False
    assert isinstance(info["progress"], int) and 1 <= info["progress"] <= 95
    with session_scope(ak.engine) as s:
        call = s.get(Call, cid)
        assert call is not None
        call.analysis_state = "done"
    JobQueue(ak.engine).complete(claimed.id, "test-worker")
    info = client.get(f"/calls/{cid}/analysis").json()
    assert info["state"] == "done" and info["settled"] is True and info["progress"] is None
    page = client.get(f"/calls/{cid}").text
    assert 'data-poll="1"' not in page and "解析済み" in page


def test_failed_transcription_is_said(client: TestClient, seeded_sqlite: Seeded) -> None:
    ak, cid = seeded_sqlite.ak, seeded_sqlite.calls["osaka_call"]
    with session_scope(ak.engine) as s:
        call = s.get(Call, cid)
        assert call is not None
        call.analysis_state = "failed"
        enqueue(s, "transcribe", {"call_id": cid}, dedupe_key=f"transcribe:{cid}")
    q = JobQueue(ak.engine)
    job = q.claim("w", ["transcribe"])
    assert job is not None
    assert q.fail(job.id, "w", "model crashed", permanent=True) == "dead"
    api_login(client, "admin")
    assert client.get(f"/calls/{cid}/analysis").json()["state"] == "failed"
    assert "文字起こし失敗" in client.get(f"/calls/{cid}").text


def test_polling_is_not_a_view_and_refuses_other_sites(seeded_sqlite: Seeded) -> None:
    """An operator of Tokyo asks for the state of an Osaka call (curl-style, by id): refused and audited."""
    ak, osaka = seeded_sqlite.ak, seeded_sqlite.calls["osaka_call"]
    with TestClient(create_app(ak)) as c:
        api_login(c, "op_tanaka")
        r = c.get(f"/calls/{osaka}/analysis")
        assert r.status_code in (403, 404) and "state" not in r.text
        with session_scope(ak.engine) as s:
            denied = s.scalar(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.user_name == "op_tanaka", AuditEntry.outcome == "denied"))  # fmt: skip
            assert denied and denied >= 1
        api_login(c, "admin")
        with session_scope(ak.engine) as s:
            before = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "view"))
        assert c.get(f"/calls/{osaka}/analysis").status_code == 200
        with session_scope(ak.engine) as s:
            after = s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "view"))
        assert after == before  # the state says nothing of the content: polling writes no view entries


def test_bad_date_is_inline_and_unknown_order_falls_back(client: TestClient, seeded_sqlite: Seeded) -> None:
    api_login(client, "admin")
    r = client.get("/calls", params={"from": "2026-13-45", "number": "03-1234", "order": "bogus"})
    assert r.status_code == 200
    page = r.text
    assert 'id="err-from"' in page and "2026-01-31 の形" in page
    assert 'value="03-1234"' in page  # the other filters stay
    assert '<option value="-started_at" selected>' in page  # the unknown order fell back to newest
    assert client.get("/calls", params={"order": "-duration"}).status_code == 200
    assert 'id="err-from"' not in client.get("/calls", params={"from": "2026-01-31"}).text


def test_play_and_download_from_the_list(client: TestClient, seeded_sqlite: Seeded) -> None:
    cid = seeded_sqlite.calls["tanaka_call"]
    api_login(client, "admin")
    row = _row(client.get("/calls").text, cid)
    assert f'data-src="/api/v1/calls/{cid}/media"' in row
    href = f"/api/v1/calls/{cid}/media?download=true"
    assert f'href="{href}"' in row
    r = client.get(href)
    assert (
        r.status_code == 200 and r.content[:4] == b"RIFF" and "attachment" in r.headers["content-disposition"]
    )
    with TestClient(create_app(seeded_sqlite.ak)) as auditor:
        api_login(auditor, "auditor")
        row = _row(auditor.get("/calls").text, cid)
        assert "data-src" not in row and "download=true" not in row  # roles without media get no buttons


def test_hold_shows_who_when_and_why(client: TestClient, seeded_sqlite: Seeded) -> None:
    cid = seeded_sqlite.calls["tanaka_call"]
    csrf = api_login(client, "admin")
    r = client.post(f"/calls/{cid}/hold", data={"hold": "on", "reason": "訴訟予告あり <b>", "csrf_token": csrf},
                    follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    page = client.get(f"/calls/{cid}").text
    facts = page.split('class="facts hold-facts"', 1)[1].split("</dl>", 1)[0]
    assert "admin" in facts and "JST" in facts and "訴訟予告あり &lt;b&gt;" in facts
    assert "訴訟予告あり" in html.unescape(facts)


def test_list_rows_in_progress_follow_their_state(client: TestClient, seeded_sqlite: Seeded) -> None:
    ak, cid = seeded_sqlite.ak, seeded_sqlite.calls["osaka_call"]
    with session_scope(ak.engine) as s:
        call = s.get(Call, cid)
        assert call is not None
        call.analysis_state = "pending"
        enqueue(s, "transcribe", {"call_id": cid}, dedupe_key=f"transcribe:{cid}")
    api_login(client, "admin")
    page = client.get("/calls").text
    assert f'data-follow="/calls/{cid}/analysis"' in _row(page, cid)
    assert "data-follow" not in _row(page, seeded_sqlite.calls["suzuki_call"])  # nothing to follow
    assert '<script src="/static/calls.js" defer></script>' in page
