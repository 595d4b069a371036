"""Every page in real Chromium, as an admin, at 1280 and 390 px: no CSP violation, no console error.

The app's CSP (``style-src 'self'``) blocks inline ``style=`` attributes, so a page that uses one loses
its layout silently except for a console error; this test fails on that. It also walks the first run
from an empty home: the setup link, the setup page, the first admin, the checklist on the dashboard.
Screenshots go to ``test-artifacts/screenshots/pages/``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from akashi import firstrun
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import Camera, Incident, IncidentItem, Site, User
from tests.conftest import make_home
from tests.ports import free_port
from tests.web.conftest import PASSWORD, Seeded

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots" / "pages"
TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "akashi" / "web" / "templates"
WIDTHS = (1280, 390)
# GET routes that are not pages a person reads (redirects, downloads, health), and why
NOT_PAGES = {
    "/healthz": "plain text probe",
    "/lang/{lang}": "redirect",
    "/login/totp": "needs a half-open TOTP session; covered by the login tests",
    "/setup/signs/{kind}.pdf": "PDF download",
    "/favicon.ico": "the tab icon (test_favicon_is_served)",
    "/calls/{call_id}/analysis": "JSON the call page polls (tests/web/test_calls_pages.py)",
    "/calls/rows": "JSON the call list polls (tests/web/test_calls_live_refresh.py)",
    "/mining/{table}.csv": "CSV download (tests/web/test_mining.py)",
    "/live/stream": "server-sent events of the live board (tests/web/test_live_board.py)",
    "/live/listen": "a call's audio as it is recorded (tests/access/test_live_sip.py)",
}
# Collects what Chromium reports as a CSP violation (the console also says so, this is exact).
CSP_HOOK = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(
  e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + (e.sourceFile || '') + ':' + e.lineNumber));
"""


# What sticks out past the right edge of the screen: the document itself, then the widest offenders by name.
OVERFLOW = """
(() => {
  const vw = document.documentElement.clientWidth;
  const out = [];
  const doc = Math.max(document.documentElement.scrollWidth, document.body.scrollWidth);
  if (doc > vw) out.push(`document is ${doc} px wide for a ${vw} px screen`);
  if (out.length) {
    for (const el of document.querySelectorAll('body *')) {
      const r = el.getBoundingClientRect();
      if (r.right > vw + 1 && r.width > 0 && getComputedStyle(el).position !== 'fixed') {
        out.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : ''} ends at ${Math.round(r.right)} px`);
        if (out.length > 6) break;
      }
    }
  }
  return out;
})()
"""


def test_no_template_has_inline_styles() -> None:
    offenders = [
        f"{p.name}:{n}"
        for p in sorted(TEMPLATES.glob("*.html"))
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\sstyle\s*=", line) or "<style" in line
    ]
    assert offenders == []


@contextmanager
def _serve(ak: Akashi) -> Iterator[str]:
    import uvicorn

    from akashi.web.app import create_app

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(ak), host="127.0.0.1", port=port, log_level="warning",
                                        lifespan="off"))  # fmt: skip
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)


class Watched:
    """A Playwright page whose console errors, page errors and CSP violations are collected."""

    def __init__(self, browser: Any, width: int) -> None:
        self.ctx = browser.new_context(viewport={"width": width, "height": 900 if width > 600 else 844},
                                       locale="ja-JP", timezone_id="Asia/Tokyo")  # fmt: skip
        self.ctx.add_init_script(CSP_HOOK)
        self.page = self.ctx.new_page()
        self.width = width
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.problems.append(f"{self.page.url} pageerror: {e}"))

    def _console(self, msg: Any) -> None:
        source = str((msg.location or {}).get("url", ""))
        if msg.type == "error" or "Content Security Policy" in msg.text:
            self.problems.append(f"{self.page.url} console {msg.type}: {msg.text} ({source})")

    def visit(self, url: str, shot: str) -> None:
        """Open ``url``, wait for it to settle, collect CSP violations, keep a full-page screenshot."""
        resp = self.page.goto(url)
        assert resp is not None and resp.status == 200, (url, resp and resp.status)
        self.page.wait_for_load_state("networkidle")
        self.problems.extend(f"{url} CSP: {v}" for v in self.page.evaluate("window.__csp || []"))
        self.problems.extend(f"{url} at {self.width} px: {v}" for v in self.page.evaluate(OVERFLOW))
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{shot}-{self.width}.png"), full_page=True)

    def login(self, base: str, name: str) -> None:
        self.page.goto(f"{base}/login")
        self.page.fill("input[name=username]", name)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(f"{base}/")


def _extra_objects(ak: Akashi, call_id: int) -> tuple[int, int]:
    """A camera and an incident (linking a call) so that their pages have something to show."""
    with session_scope(ak.engine) as s:
        tokyo = s.scalar(select(Site).where(Site.name == "tokyo"))
        assert tokyo is not None
        # not recording, with the reason and since when on its tile and page (a long FFmpeg message too)
        why = "接続できません / cannot connect: [Errno 111] Connection refused rtsp://192.0.2.10/" + "x" * 80
        since = {"state_since": "2026-12-01T03:00:00+00:00", "state_detail": why}
        cam = Camera(name="entrance", site_id=tokyo.id, state="unreachable", extra=since)
        inc = Incident(title="暴言の件", site_id=tokyo.id, created_by="admin", notes="確認中")
        s.add_all([cam, inc])
        s.flush()
        s.add(IncidentItem(incident_id=inc.id, call_id=call_id))
        return cam.id, inc.id


def _page_urls(app_routes: list[str], ids: dict[str, int]) -> dict[str, str]:
    """Every GET page route with its ids filled in (fails on a page this test does not know)."""
    out: dict[str, str] = {}
    for path in app_routes:
        if path in NOT_PAGES:
            continue
        url = path
        for key, value in ids.items():
            url = url.replace("{" + key + "}", str(value))
        assert "{" not in url, f"new page {path}: give this test an id for it"
        out[path] = url
    return out


def test_every_page_as_admin_without_csp_violations(server: str, browser: Any, seeded_sqlite: Seeded) -> None:
    from akashi.web.app import create_app
    from tests.web.test_api import route_table

    ak = seeded_sqlite.ak
    camera_id, incident_id = _extra_objects(ak, seeded_sqlite.calls["tanaka_call"])
    routes = sorted(
        {p for p, m in route_table(create_app(ak)) if "GET" in m and not p.startswith(("/api", "/static"))}
    )
    urls = _page_urls(routes, {"call_id": seeded_sqlite.calls["tanaka_call"], "camera_id": camera_id,
                               "incident_id": incident_id})  # fmt: skip
    problems: list[str] = []
    for width in WIDTHS:
        w = Watched(browser, width)
        for public in ("/login", "/setup"):  # logged out (setup: the "setup is done" state)
            w.visit(f"{server}{public}", public.strip("/"))
        w.login(server, "admin")
        for path, url in urls.items():
            if path in ("/login", "/setup"):
                continue
            name = re.sub(r"[^\w]+", "_", path.strip("/")) or "dashboard"
            w.visit(f"{server}{url}", name)
        problems += w.problems
        w.ctx.close()
    assert problems == [], "\n".join(problems)


def test_other_roles_and_english_fit_a_phone(server: str, browser: Any, seeded_sqlite: Seeded) -> None:
    """A manager, an operator and an English-reading admin at 390 px: no overflow, no console error."""
    call = seeded_sqlite.calls["tanaka_call"]
    pages = ["/", "/calls", f"/calls/{call}", "/incidents", "/cameras", "/account"]
    problems: list[str] = []
    for user, lang in (("boss_tokyo", "ja"), ("op_tanaka", "ja"), ("admin", "en")):
        w = Watched(browser, 390)
        w.login(server, user)
        if lang == "en":
            w.page.goto(f"{server}/lang/en")
        for url in pages + (["/admin", "/admin/audit"] if user == "admin" else []):
            if user == "op_tanaka" and url in ("/incidents", "/cameras"):
                continue  # operators have neither
            w.visit(
                f"{server}{url}", f"{user}_{lang}_" + (re.sub(r"[^\w]+", "_", url.strip("/")) or "dashboard")
            )
        problems += w.problems
        w.ctx.close()
    assert problems == [], "\n".join(problems)


def test_favicon_is_served(server: str) -> None:
    import httpx

    r = httpx.get(f"{server}/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"] == "image/x-icon"
    assert r.content[:4] == b"\x00\x00\x01\x00"  # an ICO header


def test_first_run_in_the_browser(browser: Any, tmp_path: Path) -> None:
    """Empty home → setup link → setup page (an error kept inline, then TOTP-less admin) → checklist."""
    home = make_home(tmp_path / "fresh", "")
    with Akashi.open(home) as ak, _serve(ak) as base:
        token = firstrun.issue_token(ak.engine)
        problems: list[str] = []
        for width in WIDTHS:
            w = Watched(browser, width)
            w.visit(f"{base}/setup", "setup_locked")
            assert "akashi setup-link" in w.page.content()
            problems += w.problems
            w.ctx.close()
        w = Watched(browser, 390)
        w.visit(f"{base}/setup?token={token}", "setup_form")
        assert w.page.locator("img.qr").evaluate("i => i.naturalWidth > 0")
        w.page.fill("input[name=company]", "株式会社テスト")
        w.page.fill("input[name=username]", "boss")
        w.page.fill("input[name=password]", PASSWORD)
        w.page.fill("input[name=password2]", PASSWORD)
        w.page.fill("input[name=site_name]", "東京 本社")  # not a short name: refused inline
        w.page.click("button[type=submit]")
        w.page.wait_for_selector("#err-site_name")
        # The refused form comes back as 400 on purpose; Chromium notes any 4xx document as an error.
        w.problems = [
            p for p in w.problems if not p.endswith("status of 400 (Bad Request) (" + base + "/setup)")
        ]
        assert w.page.input_value("input[name=company]") == "株式会社テスト"
        SHOTS.mkdir(parents=True, exist_ok=True)
        w.page.screenshot(path=str(SHOTS / "setup_error-390.png"), full_page=True)
        w.page.fill("input[name=password]", PASSWORD)
        w.page.fill("input[name=password2]", PASSWORD)
        w.page.fill("input[name=site_name]", "tokyo")
        w.page.fill("input[name=site_label]", "東京本社")
        w.page.click("button[type=submit]")
        w.page.wait_for_selector("#checklist")
        assert w.page.locator("#setup-finished").is_visible()
        assert w.page.locator("#checklist li.todo").count() == 7
        w.page.screenshot(path=str(SHOTS / "checklist-390.png"), full_page=True)
        w.page.click("#confirm-keys")
        w.page.wait_for_selector("#step-keys.done")
        w.page.screenshot(path=str(SHOTS / "checklist_keys-390.png"), full_page=True)
        problems += w.problems
        w.ctx.close()
        with session_scope(ak.engine) as s:
            assert [u.name for u in s.scalars(select(User))] == ["boss"]
    assert problems == []
