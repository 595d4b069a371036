"""In real Chromium: the call page and the call list follow a transcription by themselves (issue 11 item 7).

The state is read by static JS (the CSP forbids inline scripts) from ``/calls/{id}/analysis``; the test moves
the job through the real queue (queued → claimed → done) and waits, with a deadline, for the page to say so.
"""

from __future__ import annotations

from typing import Any

import pytest

from akashi.db.base import session_scope
from akashi.db.models import Call
from akashi.jobs.queue import JobQueue, enqueue
from tests.web.conftest import Seeded
from tests.web.test_pages_browser import Watched

pytestmark = pytest.mark.browser
DEADLINE_MS = 20_000


def test_call_page_and_list_follow_the_transcription(
    server: str, browser: Any, seeded_sqlite: Seeded
) -> None:
    from playwright.sync_api import expect  # installed with the browser fixture's peer

    ak, cid = seeded_sqlite.ak, seeded_sqlite.calls["osaka_call"]
    with session_scope(ak.engine) as s:
        call = s.get(Call, cid)
        assert call is not None
        call.analysis_state = "pending"
        enqueue(s, "transcribe", {"call_id": cid}, dedupe_key=f"transcribe:{cid}")
    w = Watched(browser, 390)
    w.login(server, "admin")
    w.visit(f"{server}/calls/{cid}", "analysis_queued")
    label = w.page.locator("#analysis-label")
    assert label.inner_text() == "文字起こし待ち"
    queue = JobQueue(ak.engine)
    job = queue.claim("browser-test", ["transcribe"])
    assert job is not None
    expect(label).to_have_text("文字起こし中", timeout=DEADLINE_MS)
    list_page = w.ctx.new_page()
    list_page.goto(f"{server}/calls")
    row_state = list_page.locator(f'tr[data-call="{cid}"] td.flags-cell span.state')
    assert row_state.inner_text() == "文字起こし中"
    with session_scope(ak.engine) as s:
        call = s.get(Call, cid)
        assert call is not None
        call.analysis_state = "done"
    queue.complete(job.id, "browser-test")
    expect(w.page.locator("#analysis-label")).to_have_text(
        "解析済み", timeout=DEADLINE_MS
    )  # after its reload
    # the settled row is shown again as a fresh list shows it: analysed, nothing found (calls.js, /calls/rows)
    flags_cell = list_page.locator(f'tr[data-call="{cid}"] td.flags-cell')
    expect(flags_cell).to_have_text("フラグなし", timeout=DEADLINE_MS)
    assert w.page.evaluate("window.__csp || []") == []
    w.ctx.close()
    assert w.problems == []
