"""``akashi serve`` on a home without users prints a one-time setup link that works in a browser once;
``akashi setup-link`` then refuses, and a restarted serve prints no link."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from tests.cli.test_serve import wait_http
from tests.conftest import make_home
from tests.ports import free_port

PASSWORD = "correct-horse-battery"


def _serve(home: Path, port: int) -> tuple[subprocess.Popen[str], list[str], threading.Event]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKASHI_")}
    env["AKASHI_WEB__LISTEN"] = f"127.0.0.1:{port}"
    env["AKASHI_ANALYSIS__ENABLED"] = "false"
    proc = subprocess.Popen(
        [sys.executable, "-m", "akashi.cli.main", "--home", str(home), "serve"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "/setup?token=" in line:
                seen.set()

    threading.Thread(target=read, daemon=True).start()
    return proc, lines, seen


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_serve_prints_a_link_that_sets_up_once(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", "")
    port = free_port()
    proc, lines, seen = _serve(home, port)
    try:
        assert seen.wait(timeout=60), "".join(lines)
        m = re.search(r"(http://127\.0\.0\.1:\d+/setup\?token=[\w-]+)", "".join(lines))
        assert m, "".join(lines)
        wait_http(f"http://127.0.0.1:{port}/healthz", proc)  # type: ignore[arg-type]
        with httpx.Client(timeout=10) as web:
            page = web.get(m.group(1))
            assert page.status_code == 200 and 'name="password"' in page.text
            token = m.group(1).split("token=", 1)[1]
            form = {"token": token, "company": "株式会社テスト", "username": "boss", "password": PASSWORD,
                    "password2": PASSWORD, "site_name": "tokyo"}  # fmt: skip
            done = web.post(f"http://127.0.0.1:{port}/setup", data=form, follow_redirects=False)
            assert done.status_code == 303
    finally:
        _stop(proc)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKASHI_")}
    again = subprocess.run([sys.executable, "-m", "akashi.cli.main", "--home", str(home), "setup-link"],
                           check=False, env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert again.returncode != 0 and "セットアップは完了しています" in again.stderr
    port = free_port()
    proc, lines, seen = _serve(home, port)
    try:  # the link is printed before the web app starts: once it answers, there was none to print
        assert wait_http(f"http://127.0.0.1:{port}/healthz", proc) == 200  # type: ignore[arg-type]
    finally:
        _stop(proc)
    assert not seen.is_set() and "/setup?token=" not in "".join(lines)
