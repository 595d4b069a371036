"""A SIP route (and an agent) saved on the admin page applies to the next call without restarting telephony.

Telephony runs as ``akashi serve --only telephony`` does (:class:`akashi.serve.Server`, its own
installation object as in another process); the admin page is the web app on another object of the same
home. SIPp plays the carrier's caller and the operator's phone over loopback.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from akashi.context import Akashi
from akashi.db import session_scope
from akashi.db.models import User
from akashi.serve import Server
from akashi.telephony.liveconfig import LiveSettings
from akashi.telephony.service import TelephonyService
from tests.conftest import make_home, require_binary
from tests.ports import free_udp_port, free_udp_tcp_port
from tests.telephony import scenarios
from tests.telephony.conftest import notice_wav, sip_toml
from tests.telephony.peers import Sipp, rtp_peer
from tests.web.conftest import api_login, password_hash

pytestmark = [pytest.mark.sip]
__all__ = ["notice_wav"]  # the telephony tests' notice fixture, used here too

NEW_NUMBER = "0399990000"
RENAMED = "佐藤 花子（第二営業部）"


@pytest.fixture
async def running(
    tmp_path: Path, sqlite_url: str, notice_wav: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Server, TelephonyService, Akashi, Sipp]]:
    """Telephony serving a home whose only route is 0312345678, and the operator phone it rings."""
    monkeypatch.delenv("AKASHI_HOME", raising=False)
    sipp = require_binary("sipp")
    op = Sipp(sipp, tmp_path, "op", scenarios.operator(hangup="caller"))
    toml = sip_toml(free_udp_tcp_port(), [op.port], notice=notice_wav)
    home = make_home(tmp_path / "home", sqlite_url, extra_toml=toml)
    ak = Akashi.open(home)
    with session_scope(ak.engine) as s:
        s.add(User(name="admin", role="admin", password_hash=password_hash(), display_name="admin"))
    server = Server(ak, roles=frozenset({"telephony"}))
    task = asyncio.create_task(server.run())
    await asyncio.wait_for(server.started.wait(), 60)
    (live,) = [fn for fn in server.config_watch.listeners if isinstance(fn, LiveSettings)]
    await asyncio.wait_for(live.svc.ready.wait(), 60)
    try:
        yield server, live.svc, ak, op
    finally:
        op.kill()
        server.stop.set()
        await asyncio.wait_for(task, 60)
        ak.close()


async def test_route_saved_on_the_admin_page_routes_the_next_call(
    running: tuple[Server, TelephonyService, Akashi, Sipp], tmp_path: Path, notice_wav: Path
) -> None:
    server, svc, ak, op = running
    sipp = require_binary("sipp")
    target = f"127.0.0.1:{svc.sip.local[1]}"

    # Before: the new number has no route.
    refused = Sipp(sipp, tmp_path, "before", scenarios.caller(final=404))
    await refused.start(target, "-s", NEW_NUMBER, "-key", "rtpport", str(free_udp_port()), "-m", "1")
    assert await refused.wait() == 0, refused.log()

    # The admin adds a route for it on the admin page (another installation object: the web process).
    ring = f"sip:201@127.0.0.1:{op.port}"
    form: dict[str, str | list[str]] = {
        "match": ["0312345678", NEW_NUMBER],
        "ring": [ring, ring],
        "site": ["tokyo", "tokyo"],
        "announcement": ["default", "default"],
        "strategy": ["parallel", "parallel"],
        "ring_timeout_s": ["5", "5"],
    }
    notices = svc.notices
    text = await _saved(server, ak.settings.home, "/admin/routes", form)
    assert "再起動が必要です" not in text
    # ...and renames the operator of phone 201: the next call carries the new name.
    agents: dict[str, str | list[str]] = {
        "name": [RENAMED, "鈴木 一郎"],
        "sip_user": ["201", "202"],
        "site": ["tokyo", "osaka"],
        "password": ["", ""],
    }
    await _saved(server, ak.settings.home, "/admin/agents", agents)
    assert svc.route_for(NEW_NUMBER) is not None

    # The next call to the new number is answered by the operator and recorded, with no restart.
    async with rtp_peer() as cust, rtp_peer() as opr:
        await op.start("-key", "rtpport", str(opr.port), "-m", "1")
        caller = Sipp(sipp, tmp_path, "after", scenarios.caller(talk_ms=2500))
        await caller.start(target, "-s", NEW_NUMBER, "-key", "rtpport", str(cust.port), "-m", "1")
        assert await caller.wait() == 0, caller.log()
        assert await op.wait() == 0, op.log()
    call_id = await asyncio.wait_for(svc.stored.get(), 30)
    assert call_id is not None
    from akashi.db.models import Call

    with session_scope(ak.engine) as s:
        row = s.get(Call, call_id)
        assert row is not None
        assert row.dialled == NEW_NUMBER and row.status == "completed" and row.agent_name == RENAMED

    # A notice's new text reaches telephony too: its audio is made again for the next call.
    assert svc.notices is notices  # a route change alone kept the notices' audio
    form = {"mode": "automatic", "text": "この通話は品質向上と安全のため録音します。"}
    await _saved(server, ak.settings.home, "/admin/announcements/default", form)
    assert svc.notices is not notices
    assert svc.notices.settings("default") == svc.ak.settings.announcements["default"]


async def _saved(server: Server, home: Path, path: str, form: dict[str, str | list[str]]) -> str:
    """Post an admin form from a web app of its own, then wait until telephony has the new settings."""
    from akashi.web.app import create_app

    def post() -> tuple[int, str]:
        with Akashi.open(home) as web_ak, TestClient(create_app(web_ak), base_url="http://testserver") as c:
            api_login(c, "admin")
            page = c.get("/admin").text
            csrf = page.split('name="csrf_token" value="')[1].split('"', maxsplit=1)[0]
            r = c.post(path, data={"csrf_token": csrf, **form}, follow_redirects=True)
            return r.status_code, r.text

    watch = server.config_watch
    generation = watch.generation
    watch.changed.clear()
    status, text = await asyncio.to_thread(post)
    assert status == 200 and "保存しました" in text, text[-2000:]
    while watch.generation == generation:  # the telephony side notices the file (it polls every 2 s)
        await asyncio.wait_for(watch.changed.wait(), 30)
        watch.changed.clear()
    return text
