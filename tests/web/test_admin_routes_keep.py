"""Saving routes from the admin page or the API keeps every ``RouteSettings`` field (issue 13).

The admin's table edits six columns; a route's unavailable notice, live protection and long-call
guard used to be dropped by any save. ``RouteIn`` is now built from ``RouteSettings``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from akashi.config import load_settings, writer
from akashi.config.telephony import RouteSettings
from akashi.web.app import create_app
from tests.web.conftest import Seeded, api_login, csrf_token

# A value unlike the default for every field of a route, so that any field a save drops shows.
EVERY_FIELD: dict[str, Any] = {
    "match": "0312345678",
    "ring": ["sip:a@192.0.2.1", "sip:b@192.0.2.2"],
    "strategy": "sequential",
    "ring_timeout_s": 45,
    "srtp": "sdes",
    "announcement": "night",
    "unavailable_announcement": "closed",
    "site": "tokyo",
    "ring_username": "akashi-pbx",
    "ring_password": "pbx-Secret-8821",
    "ring_realm": "pbx.example",
    "live": True,
    "warning": "auto",
    "warning_text": "警告です。",
    "warning_audio": "warning.wav",
    "protection_key": "*7",
    "protection_window_s": 20.0,
    "protection_second": "transfer",
    "supervisor": "sip:boss@192.0.2.5",
    "final_text": "終了します。",
    "final_audio": "final.wav",
    "auto_warning_flags": 3,
    "auto_warning_window_s": 90.0,
    "long_call_alert_min": 20.0,
    "long_call_warn_min": 30.0,
    "long_call_end_after_min": 5.0,
    "long_call_text": "{minutes} 分後に終了します。",
    "long_call_audio": "long.wav",
}


def test_the_fixture_sets_every_field_away_from_its_default() -> None:
    """A field added to RouteSettings must be added here too, or the keeping below proves nothing for it."""
    assert set(EVERY_FIELD) == set(RouteSettings.model_fields)
    defaults = RouteSettings(match="x", ring=["sip:x@192.0.2.9"])
    same = [k for k, v in EVERY_FIELD.items() if k not in ("match", "ring") and getattr(defaults, k) == v]
    assert not same


@pytest.fixture
def client(seeded_sqlite: Seeded) -> Iterator[TestClient]:
    ak = seeded_sqlite.ak
    home = ak.settings.home
    for name in ("night", "closed"):
        writer.set_announcement(home, name, mode="automatic", text=f"{name} の告知です。")
    writer.set_routes(home, [EVERY_FIELD])
    ak.settings = load_settings(home)
    assert ak.settings.sip.routes[0].model_dump() == RouteSettings(**EVERY_FIELD).model_dump()
    with TestClient(create_app(ak)) as c:
        yield c


def test_saving_the_route_table_keeps_what_the_table_does_not_show(
    client: TestClient, seeded_sqlite: Seeded
) -> None:
    api_login(client, "admin")
    page = client.get("/admin").text
    assert re.findall(r'name="route_row" value="(\d*)"', page) == ["0", ""]  # the saved route, the blank row
    form = {
        "route_row": ["0", ""],
        "match": ["0312349999", ""],  # the number itself changed: the row still knows its route
        "ring": ["sip:a@192.0.2.1, sip:b@192.0.2.2", ""],
        "site": ["tokyo", ""],
        "announcement": ["night", "default"],
        "strategy": ["parallel", "parallel"],
        "ring_timeout_s": ["60", "30"],
        "csrf_token": csrf_token(page),
    }
    r = client.post("/admin/routes", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    saved = load_settings(seeded_sqlite.ak.settings.home).sip.routes
    assert len(saved) == 1
    want = EVERY_FIELD | {"match": "0312349999", "strategy": "parallel", "ring_timeout_s": 60}
    assert saved[0].model_dump() == RouteSettings(**want).model_dump()


def test_a_form_without_row_positions_is_matched_on_the_number(
    client: TestClient, seeded_sqlite: Seeded
) -> None:
    api_login(client, "admin")
    csrf = csrf_token(client.get("/admin").text)
    form = {"match": ["0312345678"], "ring": ["sip:c@192.0.2.3"], "site": ["tokyo"], "announcement": ["night"],
            "strategy": ["sequential"], "ring_timeout_s": ["45"], "csrf_token": csrf}  # fmt: skip
    assert client.post("/admin/routes", data=form, follow_redirects=False).status_code == 303
    saved = load_settings(seeded_sqlite.ak.settings.home).sip.routes
    assert (
        saved[0].model_dump() == RouteSettings(**(EVERY_FIELD | {"ring": ["sip:c@192.0.2.3"]})).model_dump()
    )


def test_the_api_takes_and_writes_every_route_field(client: TestClient, seeded_sqlite: Seeded) -> None:
    csrf = api_login(client, "admin")
    route = EVERY_FIELD | {"unavailable_announcement": "", "long_call_end_after_min": 2.5}
    r = client.put("/api/v1/admin/routes", json={"routes": [route]}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 204, r.text
    saved = load_settings(seeded_sqlite.ak.settings.home).sip.routes
    assert saved[0].model_dump() == RouteSettings(**route).model_dump()


def test_ring_password_kept_on_a_blank_save_and_never_shown(
    client: TestClient, seeded_sqlite: Seeded
) -> None:
    """Like agents' secrets: the page and the config API never carry it; a blank one keeps the saved one."""
    csrf = api_login(client, "admin")
    assert "pbx-Secret-8821" not in client.get("/admin").text
    cfg = client.get("/api/v1/admin/config")
    assert cfg.status_code == 200 and "pbx-Secret-8821" not in cfg.text and "ring_password" not in cfg.text
    route = {k: v for k, v in EVERY_FIELD.items() if k != "ring_password"}
    r = client.put("/api/v1/admin/routes", json={"routes": [route]}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 204, r.text
    saved = load_settings(seeded_sqlite.ak.settings.home).sip.routes
    assert saved[0].ring_password.get_secret_value() == "pbx-Secret-8821"
