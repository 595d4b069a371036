"""End to end in real headless Chromium (Debian's /usr/bin/chromium driven by Playwright).

Log in, search a call by partial number, play it, see the flagged word highlighted, export and check
the package; an operator cannot open another operator's call; a manager of one site cannot see
another site. Screenshots of the main pages go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from akashi.db.base import session_scope
from akashi.db.models import AuditEntry
from tests.web.conftest import PASSWORD, Seeded

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


def _login(page: object, base: str, name: str) -> None:
    page.goto(f"{base}/login")  # type: ignore[attr-defined]
    page.fill("input[name=username]", name)  # type: ignore[attr-defined]
    page.fill("input[name=password]", PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(f"{base}/")  # type: ignore[attr-defined]


def _shot(page: object, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_search_play_highlight_export(
    server: str, browser: Any, seeded_sqlite: Seeded, tmp_path: Path
) -> None:
    from akashi.store.export import check_package

    ctx = browser.new_context(
        accept_downloads=True,
        viewport={"width": 1360, "height": 900},
        locale="ja-JP",
        timezone_id="Asia/Tokyo",
    )
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    _login(page, server, "boss_tokyo")
    assert "ダッシュボード" in page.content()
    _shot(page, "dashboard")

    page.click("text=通話")
    page.fill("input[name=number]", "1234-56")
    page.click("#search button[type=submit]")
    page.wait_for_selector("#calls tbody tr")
    rows = page.locator("#calls tbody tr")
    assert rows.count() == 1 and "03-1234-5678" in rows.first.inner_text()
    _shot(page, "calls")

    rows.first.locator("a").first.click()
    page.wait_for_selector("#audio")
    mark = page.locator("mark.flagged", has_text="土下座")
    assert mark.count() == 1 and mark.first.is_visible()
    page.evaluate("""() => new Promise((resolve, reject) => {
        const a = document.getElementById('audio');
        a.addEventListener('playing', () => resolve(true), {once: true});
        a.addEventListener('error', () => reject(new Error('media error ' + (a.error && a.error.code))), {once: true});
        a.play().catch(reject);
    })""")
    page.wait_for_function("() => document.getElementById('audio').currentTime > 0.3")
    page.check("#mute-0")  # the customer channel can be muted while playing
    assert page.evaluate("() => document.getElementById('audio').paused") is False
    page.wait_for_selector("#transcript .seg.active")
    _shot(page, "call")

    with page.expect_download() as dl:
        page.click("#export")
    pkg = tmp_path / "package.zip"
    dl.value.save_as(str(pkg))
    report = check_package(pkg)
    assert report.ok, report.to_text()
    assert not errors, errors

    with session_scope(seeded_sqlite.ak.engine) as s:
        actions = {
            a for (a,) in s.execute(select(AuditEntry.action).where(AuditEntry.user_name == "boss_tokyo"))
        }
    assert {"login", "play", "export"} <= actions

    # English switch keeps the page and shows JST times
    page.click("a.lang")
    page.wait_for_selector("text=Transcript")
    assert "JST" in page.content()
    ctx.close()


def test_operator_and_site_scopes(server: str, browser: Any, seeded_sqlite: Seeded) -> None:
    other = seeded_sqlite.calls["tanaka_call"]
    ctx = browser.new_context()
    page = ctx.new_page()
    _login(page, server, "op_suzuki")
    resp = page.goto(f"{server}/calls/{other}")
    assert resp is not None and resp.status == 403
    assert "権限" in page.content()
    with session_scope(seeded_sqlite.ak.engine) as s:
        denied = s.scalars(
            select(AuditEntry).where(AuditEntry.user_name == "op_suzuki", AuditEntry.outcome == "denied")
        ).all()
    assert [(d.action, d.target_id) for d in denied] == [("view", str(other))]
    page.goto(f"{server}/calls")
    assert page.locator("#calls tbody tr").count() == 1
    ctx.close()

    ctx = browser.new_context()
    page = ctx.new_page()
    _login(page, server, "boss_osaka")
    page.goto(f"{server}/calls")
    text = page.locator("#calls").inner_text()
    assert "06-5555-0101" in text and "03-1234-5678" not in text and "090-8765-4321" not in text
    resp = page.goto(f"{server}/calls/{other}")
    assert resp is not None and resp.status == 403
    ctx.close()


def test_admin_pages_screenshots(server: str, browser: Any) -> None:
    ctx = browser.new_context(
        viewport={"width": 1360, "height": 900}, locale="ja-JP", timezone_id="Asia/Tokyo"
    )
    page = ctx.new_page()
    _login(page, server, "admin")
    for path, name in (
        ("/cameras", "cameras"),
        ("/incidents", "incidents"),
        ("/admin", "admin"),
        ("/admin/audit", "audit"),
    ):
        resp = page.goto(server + path)
        assert resp is not None and resp.status == 200, path
        _shot(page, name)
    page.goto(server + "/admin")
    page.fill("#new-user input[name=name]", "yamada")
    page.fill("#new-user input[name=password]", "yamada-password-1")
    page.fill("#new-user input[name=sites]", "tokyo,nowhere")  # an unknown site: refused beside the field
    page.click("#new-user button.primary")
    page.wait_for_selector("#err-users-sites")
    assert page.input_value("#new-user input[name=name]") == "yamada"  # what was typed is kept
    _shot(page, "admin_refused")
    page.fill("#new-user input[name=password]", "yamada-password-1")
    page.fill("#new-user input[name=sites]", "tokyo")
    page.click("#new-user button.primary")
    page.wait_for_selector("#users .saved")
    page.wait_for_selector("text=yamada")
    notice = "応対内容の確認のため、この通話は録音させていただきます。"
    page.fill("#notices form textarea[name=text]", notice)
    with page.expect_navigation():
        page.click("#notices form button")
    assert page.input_value("#notices form textarea[name=text]") == notice
    page.fill("#retention input[name=calls_days]", "730")
    with page.expect_navigation():
        page.click("#retention button")
    assert page.input_value("#retention input[name=calls_days]") == "730"
    page.goto(server + "/incidents")
    page.fill("input[name=title]", "テスト案件")
    page.click("button.primary")
    page.wait_for_selector("h1:has-text('テスト案件')")
    _shot(page, "incident")
    ctx.close()
