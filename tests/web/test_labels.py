"""Everything a person reads is Japanese (English when toggled), times JST with the zone, sites by label.

Issue 11 item 8: roles, statuses, sort orders, audit actions, ``parallel/sequential``, ``disabled`` were raw
codes; audit details showed ``\\uXXXX`` escapes; the verify time was UTC; lists showed site slugs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from akashi.db.base import session_scope
from akashi.db.models import Site
from akashi.web.app import create_app
from tests.web.conftest import Seeded, api_login, csrf_token


@pytest.fixture
def client(seeded_sqlite: Seeded) -> Iterator[TestClient]:
    with session_scope(seeded_sqlite.ak.engine) as s:
        for site in s.scalars(select(Site)):
            site.label = {"tokyo": "東京本社", "osaka": "大阪支店"}.get(site.name, site.label)
    with TestClient(create_app(seeded_sqlite.ak)) as c:
        yield c


def _cells(page: str) -> list[str]:
    """The text of every table cell and option (what a person reads as a value)."""
    return [
        re.sub(r"<[^>]+>", "", x).strip()
        for x in re.findall(r"<(?:td|option)[^>]*>(.*?)</(?:td|option)>", page, re.S)
    ]


RAW = {"completed", "in", "out", "manager", "operator", "auditor", "counsel", "parallel", "sequential",
       "disabled", "config_change", "user_create", "ok", "denied", "-started_at", "severity", "open", "closed"}  # fmt: skip


def test_codes_are_labels_in_japanese_and_english(client: TestClient, seeded_sqlite: Seeded) -> None:
    api_login(client, "admin")
    csrf = csrf_token(client.get("/admin").text)
    r = client.post("/admin/announcements/default", data={"mode": "automatic", "csrf_token": csrf,
                    "text": "お電話ありがとうございます。品質向上のため、この通話は録音されます。"}, follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    client.post("/admin/verify", data={"csrf_token": csrf})
    client.post("/incidents", data={"title": "暴言の件", "site": "tokyo", "csrf_token": csrf})
    for url in ("/calls", "/admin", "/admin/audit", "/incidents", "/"):
        page = client.get(url).text
        raw = RAW & set(_cells(page))
        assert not raw, (url, raw)
        assert "(admin)" not in page and "(管理者)" in page  # the user named admin, role shown as a label
    calls = client.get("/calls").text
    assert "東京本社" in calls and "完了" in calls and "着信" in calls and "新しい順" in calls
    assert ">tokyo<" not in calls
    admin = client.get("/admin").text
    assert "一斉呼出" in admin and "順番に呼出" in admin and "管理職" in admin and "無効にする" in admin
    audit = client.get("/admin/audit").text
    assert "設定変更" in audit and "\\u" not in audit
    assert "品質向上のため" in audit  # the detail as written
    assert re.search(r'id="verify-at">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d JST<', audit)
    assert "東京本社" in client.get("/incidents").text
    client.get("/lang/en")
    audit = client.get("/admin/audit").text
    assert "settings changed" in audit and "設定変更" not in audit
    calls = client.get("/calls").text
    assert "Newest first" in calls and "completed" in calls


def test_unknown_codes_show_themselves_not_a_blank(client: TestClient) -> None:
    from akashi.web.i18n import label

    assert label("act_", "some_future_action", "ja") == "some_future_action"
    assert label("act_", "config_change", "ja") == "設定変更"
    assert label("cam_", "recording", "en") == "recording"
