"""A withheld (非通知) call reads as such where its caller is shown, and is found by the network's number."""

from __future__ import annotations

from fastapi.testclient import TestClient

from akashi.db.base import session_scope
from akashi.db.models import Call
from akashi.db.queries import national_digits
from tests.web.conftest import Seeded, api_login


def _row(page: str, call_id: int) -> str:
    return page.split(f'<tr data-call="{call_id}">', 1)[1].split("</tr>", 1)[0]


def test_withheld_call_is_marked_and_searchable(client: TestClient, seeded_sqlite: Seeded) -> None:
    """The list and the call page say 非通知 (Withheld); searching the PAI number finds the call."""
    ak, ids = seeded_sqlite.ak, seeded_sqlite.calls
    cid, other = ids["suzuki_call"], ids["tanaka_call"]
    with session_scope(ak.engine) as s:
        call = s.get(Call, cid)
        assert call is not None
        call.caller = "0120999999"  # what telephony stores from a trusted P-Asserted-Identity
        call.caller_digits = national_digits(call.caller)  # as ingest stores it
        call.extra = {**(call.extra or {}), "caller_withheld": True}
    api_login(client, "admin")
    page = client.get("/calls").text
    assert "非通知" in _row(page, cid) and "非通知" not in _row(page, other)
    found = client.get("/calls", params={"number": "0120999999"}).text
    assert f'<tr data-call="{cid}">' in found and f'<tr data-call="{other}">' not in found
    assert "非通知" in client.get(f"/calls/{cid}").text
    client.get("/lang/en")
    assert "Withheld" in _row(client.get("/calls").text, cid)
    assert client.get(f"/api/v1/calls/{cid}").json()["call"]["caller_withheld"] is True
