"""A call whose recording keeps early media before the answer shows its talk time in the list, on its
page and in the API, all from one function (recording length less ``answer_at_s``)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from akashi.callfacts import CallFacts
from akashi.db.base import session_scope
from akashi.db.models import Call
from tests.web.conftest import Seeded, api_login


def _row(page: str, call_id: int) -> str:
    return page.split(f'<tr data-call="{call_id}">', 1)[1].split("</tr>", 1)[0]


def test_talk_time_is_the_recording_less_its_early_media() -> None:
    assert CallFacts(answer_at_s=20.0).talk_s(95.0) == 75.0
    assert CallFacts().talk_s(95.0) == 95.0  # the audio starts at the answer
    assert CallFacts(answer_at_s=5.0).talk_s(3.0) == 0.0  # never negative


def test_list_page_and_api_show_the_talk_time(client: TestClient, seeded_sqlite: Seeded) -> None:
    """95 s of audio answered at 20 s: 1:15 in the row and on the page; the API gives both lengths."""
    ak, ids = seeded_sqlite.ak, seeded_sqlite.calls
    cid, other = ids["suzuki_call"], ids["tanaka_call"]
    with session_scope(ak.engine) as s:
        call = s.get(Call, cid)
        assert call is not None
        call.duration_s = 95.0
        call.extra = {**(call.extra or {}), "audio_started_at": 1_700_000_000.0, "answer_at_s": 20.0}
        plain = s.get(Call, other)
        assert plain is not None
        plain.duration_s = 95.0
    api_login(client, "admin")
    page = client.get("/calls").text
    assert ">1:15</td>" in _row(page, cid) and ">1:35</td>" in _row(page, other)
    fresh = client.get("/calls/rows", params={"after": cid - 1, "insert": "true"}).json()["rows"]
    assert ">1:15</td>" in _row(next(r["html"] for r in fresh if r["id"] == cid), cid)  # rows calls.js adds
    detail = client.get(f"/calls/{cid}").text
    assert "1:15" in detail and 'id="early-media"' in detail
    items = {c["id"]: c for c in client.get("/api/v1/calls").json()["items"]}
    assert items[cid]["talk_s"] == 75.0 and items[cid]["duration_s"] == 95.0
    assert items[other]["talk_s"] == items[other]["duration_s"] == 95.0
    assert client.get(f"/api/v1/calls/{cid}").json()["call"]["talk_s"] == 75.0
