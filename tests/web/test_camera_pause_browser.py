"""A 総務 manager's two fixes in real Chromium at 1280 and 390 px: the admin pauses a camera with its
一時停止 button and resumes it; the cameras page says it was paused; the call list shows the talk time.
No console error, no CSP violation, nothing wider than the screen."""

from __future__ import annotations

from typing import Any

import pytest

from akashi.cameras import records
from akashi.db.base import session_scope
from akashi.db.models import Call
from tests.web.conftest import Seeded
from tests.web.test_pages_browser import SHOTS, WIDTHS, Watched

pytestmark = pytest.mark.browser


def test_pause_resume_and_talk_time_in_the_browser(server: str, browser: Any, seeded_sqlite: Seeded) -> None:
    ak = seeded_sqlite.ak
    records.add_camera(
        ak.settings, ak.engine, name="entrance", url="rtsp://u:p@192.0.2.1/s", site="tokyo", seconds=4
    )
    cid = seeded_sqlite.calls["suzuki_call"]
    with session_scope(ak.engine) as s:
        call = s.get(Call, cid)
        assert call is not None
        call.duration_s = 95.0
        call.extra = {**(call.extra or {}), "audio_started_at": 1_700_000_000.0, "answer_at_s": 20.0}
    for width in WIDTHS:
        w = Watched(browser, width)
        w.login(server, "admin")
        w.visit(f"{server}/admin#cameras", "camera_pause_admin")
        w.page.click("#cameras button.camera-pause")
        w.page.wait_for_selector("#cameras button.camera-resume")
        assert "停止中（管理者が一時停止）" in w.page.inner_text("#cameras")
        w.visit(f"{server}/admin#cameras", "camera_paused_admin")
        w.page.locator("#cameras").screenshot(path=str(SHOTS / f"camera_paused_section-{width}.png"))
        w.visit(f"{server}/cameras", "camera_paused_tiles")
        assert "停止中（管理者が一時停止）" in w.page.inner_text("main")
        w.visit(f"{server}/admin#cameras", "camera_paused_admin")
        w.page.click("#cameras button.camera-resume")
        w.page.wait_for_selector("#cameras button.camera-pause")
        w.visit(f"{server}/calls", "calls_talk_time")
        assert w.page.inner_text(f'tr[data-call="{cid}"] td.num') == "1:15"
        assert w.problems == [], w.problems
        w.ctx.close()
