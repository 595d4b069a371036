"""Day one in real Chromium, as a new user has it: ``akashi init``, ``akashi serve``, the setup link it
prints, the setup page, the first admin, the checklist, the 「デモ通話を流す」 button, and demo calls in
the list with the recording notice, a transcript and flags.

One real ``akashi serve`` (a subprocess on a fresh home and free ports, as ``make run`` starts it) serves
the pages and transcribes; the button starts ``akashi demo`` as its child, whose callers dial real SIP
over loopback. Every page on the way is checked at 1280 and 390 px for console errors, CSP violations
and horizontal overflow. Screenshots (and the demo's timings) are kept for CI in
``test-artifacts/screenshots/first-run/``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

from akashi.demo.lock import running
from tests.cli.test_demo import need_asr, need_tts
from tests.cli.test_serve import wait_http
from tests.ports import free_port
from tests.web.conftest import PASSWORD
from tests.web.test_pages_browser import CSP_HOOK, OVERFLOW

pytestmark = [pytest.mark.browser, pytest.mark.tts, pytest.mark.asr, pytest.mark.slow]

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots" / "first-run"
AKASHI = [sys.executable, "-m", "akashi.cli.main"]
#: the demo the test asks for: four calls over 20 s (abusive, normal, the repeat caller's threat, and
#: the operator who forgets the notice on a route where the operator gives it)
DEMO_CALLS, DEMO_SECONDS = 4, 20
FORGOT_NOTICE_CALLER = "0455556666"
#: from the button to every demo call transcribed and checked. Measured on the shared 2-core box
#: (four calls over 20 s, with other work running): 45-90 s, typically 60; the deadline is about 4x that.
DEMO_DEADLINE_S = 240
SETUP_LINK = re.compile(r"https?://\S+/setup\?token=[\w-]+")


@dataclass
class Served:
    """A running ``akashi serve``: its base URL, its home and what it printed so far."""

    proc: subprocess.Popen[str]
    home: Path
    base: str
    lines: list[str] = field(default_factory=list)
    link_seen: threading.Event = field(default_factory=threading.Event)

    def read(self, out: IO[str]) -> None:
        """Keep what the server prints (as a user's terminal would), noting the setup link."""
        for line in out:
            self.lines.append(line.rstrip("\n"))
            if SETUP_LINK.search(line):
                self.link_seen.set()

    def setup_link(self) -> str:
        """The one-time setup link, as the user reads it from the terminal."""
        assert self.link_seen.wait(60), "\n".join(self.lines)
        found = [m.group(0) for line in self.lines if (m := SETUP_LINK.search(line))]
        return found[0]


def _env(port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKASHI_")}
    env["AKASHI_WEB__LISTEN"] = f"127.0.0.1:{port}"
    env["AKASHI_JOBS__POLL_SECONDS"] = "0.2"
    return env


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """``akashi init`` on an empty folder, then ``akashi serve`` on it (web, jobs, transcriber)."""
    need_tts()
    need_asr()
    home = tmp_path / "home"
    port = free_port()
    init = subprocess.run([*AKASHI, "--home", str(home), "init"], capture_output=True, text=True,
                          env=_env(port), timeout=120, check=False)  # fmt: skip
    assert init.returncode == 0, init.stdout + init.stderr
    assert "akashi serve" in init.stdout  # init tells the next step
    proc = subprocess.Popen([*AKASHI, "--home", str(home), "serve"], env=_env(port), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    srv = Served(proc, home, f"http://127.0.0.1:{port}")
    assert proc.stdout is not None
    reader = threading.Thread(target=srv.read, args=(proc.stdout,), daemon=True)
    reader.start()
    try:
        wait_http(f"{srv.base}/healthz", proc)  # type: ignore[arg-type]
        yield srv
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, "\n".join(srv.lines[-40:])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
        demo = running(home)  # a demo the button started outlives the server; not past a failed test
        if demo is not None:
            os.kill(demo, signal.SIGTERM)
    printed = "\n".join(srv.lines)
    SHOTS.mkdir(parents=True, exist_ok=True)  # what the terminal showed, and the demo's own log, for CI
    (SHOTS / "serve.log").write_text(printed + "\n", encoding="utf-8")
    if (home / "demo.log").exists():
        (SHOTS / "demo.log").write_bytes((home / "demo.log").read_bytes())
    assert "Traceback" not in printed, printed


class Tab:
    """A Playwright page at one width whose console errors, page errors and CSP violations are kept."""

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
        if msg.type == "error" or "Content Security Policy" in msg.text:
            where = str((msg.location or {}).get("url", ""))
            self.problems.append(f"{self.page.url} console {msg.type}: {msg.text} ({where})")

    def check(self, shot: str) -> None:
        """The page now shown: CSP violations, overflow past the screen's edge, a full-page screenshot."""
        self.page.wait_for_load_state("networkidle")
        url = self.page.url
        self.problems.extend(f"{url} CSP: {v}" for v in self.page.evaluate("window.__csp || []"))
        self.problems.extend(f"{url} at {self.width} px: {v}" for v in self.page.evaluate(OVERFLOW))
        wide = self.page.evaluate("document.scrollingElement.scrollWidth > window.innerWidth")
        if wide:
            self.problems.append(f"{url} at {self.width} px: scrolls sideways")
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{shot}-{self.width}.png"), full_page=True)

    def visit(self, url: str, shot: str) -> None:
        """Open ``url`` (it must answer 200) and :meth:`check` it."""
        resp = self.page.goto(url)
        assert resp is not None and resp.status == 200, (url, resp and resp.status)
        self.check(shot)

    def login(self, base: str, name: str) -> None:
        """Log in through the login page."""
        self.visit(f"{base}/login", "login")
        self.page.fill("input[name=username]", name)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(f"{base}/")


def _demo_rows(tab: Tab) -> list[dict[str, Any]]:
    """The call list's rows as the page shows them: id, flag chips, analysis state, site."""
    rows: list[dict[str, Any]] = tab.page.evaluate("""() => Array.from(
        document.querySelectorAll('#calls tbody tr')).map(tr => ({
          id: Number(tr.dataset.call),
          text: tr.innerText,
          chips: Array.from(tr.querySelectorAll('.flags-cell .chip')).map(c => c.textContent.trim()),
          analysis: tr.querySelector('.flags-cell').dataset.analysis,
          demo: tr.querySelector('.chip.demo') !== null,
        }))""")
    return rows


def test_first_run_to_demo_calls_in_the_browser(served: Served, browser: Any) -> None:
    base = served.base
    timings: dict[str, float] = {}
    wide, phone = Tab(browser, 1280), Tab(browser, 390)
    tabs = (wide, phone)

    # Empty home, at the address serve prints first: the login page says nobody can log in yet and
    # points at setup; setup without the token only says how to get the link.
    link = served.setup_link()  # (read below, when the page has said where to find it)
    assert any(line.endswith(base) for line in served.lines), served.lines
    for tab in tabs:
        tab.visit(f"{base}/", "login_empty")
        assert tab.page.url.startswith(f"{base}/login")
        tab.page.click("#needs-setup a")
        tab.page.wait_for_url(f"{base}/setup")
        tab.check("setup_locked")
        assert "setup-link" in tab.page.inner_text("#how-to-get + pre.cmd")
    assert link.startswith(base + "/setup?token=")
    phone.visit(link, "setup_form")  # only looking: the token is used by the form's post

    # The setup page, at desktop width: company, first admin (no TOTP), first site.
    wide.visit(link, "setup_form")
    wide.page.fill("input[name=company]", "株式会社あかし商事")
    wide.page.fill("input[name=username]", "somu")
    wide.page.fill("input[name=display_name]", "総務 山本")
    wide.page.fill("input[name=password]", PASSWORD)
    wide.page.fill("input[name=password2]", PASSWORD)
    assert not wide.page.is_checked("input[name=totp_on]")  # TOTP is optional: skipped
    wide.page.fill("input[name=site_name]", "tokyo")
    wide.page.fill("input[name=site_label]", "東京本社")
    wide.page.click("#setup button[type=submit]")
    wide.page.wait_for_selector("#checklist")
    assert wide.page.locator("#setup-finished").is_visible()
    wide.check("checklist")
    phone.login(base, "somu")
    phone.check("checklist")
    for tab in tabs:  # the link is spent: setup now only says it is done
        tab.visit(link, "setup_done")
        assert tab.page.locator("#setup-done").is_visible()
    wide.page.goto(f"{base}/")

    # The demo button on the checklist, with a small demo so that the walk stays short.
    wide.page.fill("#demo-form input[name=calls]", str(DEMO_CALLS))
    wide.page.fill("#demo-form input[name=duration]", str(DEMO_SECONDS))
    pressed = time.monotonic()
    wide.page.click("#demo-start")
    wide.page.wait_for_url(f"{base}/calls")
    wide.check("calls_demo_started")
    assert wide.page.locator("#demo-running").is_visible()  # the list says the demo runs
    phone.visit(f"{base}/", "checklist_demo_running")
    assert phone.page.locator("#demo-running").is_visible()
    assert not phone.page.locator("#demo-start").count()  # no second demo while one runs

    # Poll the list as a person would (reload) until every demo call is stored and analysed.
    rows: list[dict[str, Any]] = []
    deadline = pressed + DEMO_DEADLINE_S
    while time.monotonic() < deadline:
        wide.page.reload()
        wide.page.wait_for_load_state("domcontentloaded")
        rows = _demo_rows(wide)
        if rows and "first_call_listed_s" not in timings:
            timings["first_call_listed_s"] = time.monotonic() - pressed
        if len(rows) == DEMO_CALLS and all(r["analysis"] == "done" for r in rows):
            break
        wide.page.wait_for_timeout(2000)
    timings["all_analysed_s"] = time.monotonic() - pressed
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "timings.json").write_text(json.dumps(timings, indent=1))
    demo_log = (
        (served.home / "demo.log").read_text(errors="replace") if (served.home / "demo.log").exists() else ""
    )
    assert len(rows) == DEMO_CALLS and all(r["analysis"] == "done" for r in rows), (rows, demo_log)
    assert any(r["chips"] for r in rows), rows  # the abusive calls are flagged
    assert all(r["demo"] and "デモ" in r["text"] for r in rows), rows  # demo data says so (badge, site)
    # the forgotten notice is flagged in Japanese; the calls where Akashi played it are not
    for r in rows:
        missing = [c for c in r["chips"] if "告知" in c]
        assert bool(missing) == (FORGOT_NOTICE_CALLER in r["text"]), r
    for tab in tabs:
        tab.visit(f"{base}/calls", "calls_demo")

    # One flagged call: the notice Akashi played, the two sides' transcript, the flags.
    flagged = next(r for r in rows if r["chips"] and FORGOT_NOTICE_CALLER not in r["text"])
    for tab in tabs:
        tab.visit(f"{base}/calls/{flagged['id']}", "call_demo")
        assert tab.page.locator(".notice-check.given, .notice-check.given_without_purpose").count() == 1
        assert tab.page.locator("#transcript").count() == 1
        assert tab.page.locator("ul.flags li").count() >= 1

    # Back on the checklist: once the demo has ended (its camera runs to the end of its time), what it
    # printed is there, and its data can be removed in one click.
    wide.page.goto(f"{base}/")
    while wide.page.locator("#demo-running").count() and time.monotonic() < deadline:
        wide.page.wait_for_timeout(1000)
        wide.page.reload()
    for tab in tabs:
        tab.visit(f"{base}/", "checklist_demo_done")
        assert tab.page.locator("#demo-data").is_visible(), tab.page.inner_text("#checklist")
    wide.page.click("#demo-log summary")
    printed = wide.page.inner_text("#demo-log pre")
    # SIP is off in a fresh home: the demo said it opened a loopback listener of its own
    assert "SIP が無効" in printed and "デモが終わりました" in printed, printed
    (SHOTS / "demo.log").write_bytes((served.home / "demo.log").read_bytes())  # removing the data removes it
    wide.page.click("#demo-clear")
    wide.page.wait_for_url(f"{base}/?demo=cleared#checklist")
    wide.check("checklist_demo_cleared")
    assert wide.page.locator("#demo-cleared").is_visible()  # it says what happened
    assert not wide.page.locator("#demo-data").count() and not wide.page.locator("#demo-log").count()
    wide.visit(f"{base}/calls", "calls_after_clear")
    assert not _demo_rows(wide)
    # what the button deleted is in the ledger, and the store still matches it
    verify = subprocess.run([*AKASHI, "--home", str(served.home), "verify", "--json"], capture_output=True,
                            text=True, env=_env(free_port()), timeout=120, check=False)  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert json.loads(verify.stdout)["tombstones"] >= DEMO_CALLS

    problems = wide.problems + phone.problems
    for tab in tabs:
        tab.ctx.close()
    assert problems == [], "\n".join(problems)
