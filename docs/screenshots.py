"""Retake the screenshots of the README and the administrator's guide (``docs/screenshots/*.png``).

First a fresh home as a new user meets it: the setup page (nobody can log in yet), then the setup form
filled in and sent, and the dashboard it leads to, with the first-steps checklist and the demo panel (that
picture is as tall as the checklist, the rest are the 1280×800 viewport). Then a throw-away demo home in a
temporary folder (an admin, a site, agents, routes, a camera and three calls spoken by the offline speech
synthesiser, transcribed and flagged) for the other pages. Each home is served with ``akashi serve`` on a
free loopback port and photographed with Playwright driving Debian's Chromium (``/usr/bin/chromium``;
never ``playwright install``). Every picture is reduced to a palette so that it stays small (<150 KB).

    .venv/bin/python docs/screenshots.py [--out docs/screenshots] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
AKASHI = Path(sys.executable).parent / "akashi"
PASSWORD = "screenshot-password-1"  # noqa: S105  (a throw-away demo home's admin)
RATE = 8000
LIMIT_BYTES = 150_000
CAMERA_WAIT_S = 60.0
#: the dashboard picture grows to show the whole checklist, up to this height
MAX_HEIGHT = 1600
#: what a new user types on the setup page
SETUP_FORM = {
    "company": "株式会社サンプル商事",
    "username": "kanri",
    "display_name": "総務 管理者",
    "password": PASSWORD,
    "password2": PASSWORD,
    "site_name": "tokyo",
    "site_label": "東京本社",
}
NO_FOOTAGE = "まだありません"
#: a camera that never answers, when the demo camera (GStreamer's RTSP server) cannot run here
DEAD_CAMERA = "rtsp://akashi:secret@127.0.0.1:9/Streaming/Channels/101"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

#: (caller, agent, operator's words, customer's words): the customer speaks after the operator
CALLS = [
    (
        "03-1234-5678",
        "佐藤 花子",
        "お電話ありがとうございます。この通話は応対品質の向上のため録音させていただきます。担当の佐藤でございます。",
        "ふざけるな。責任者を出せ。土下座しろ。お前じゃ話にならない。",
    ),
    (
        "090-1111-2222",
        "田中 一郎",
        "お電話ありがとうございます。この通話は内容確認のため録音させていただきます。田中でございます。",
        "先日注文した商品の配送日を教えていただけますか。",
    ),
    (
        "03-1234-5678",
        "佐藤 花子",
        "はい、佐藤でございます。",
        "また電話したぞ。今すぐ返金しろ。誠意を見せろ。",
    ),
]

CONFIG = """
[sip]
enabled = false
inbound_networks = ["192.168.1.10"]

[[sip.trunks]]
name = "carrier"
host = "sip.carrier.example:5060"
register = true

[[sip.routes]]
match = "0120000000"
ring = ["sip:201@192.168.1.21:5060", "sip:202@192.168.1.22:5060"]
site = "tokyo"

[[sip.routes]]
match = "*"
ring = ["sip:reception@192.168.1.10:5060"]
strategy = "sequential"

[[agents]]
name = "佐藤 花子"
sip_user = "201"
site = "tokyo"

[[agents]]
name = "田中 一郎"
sip_user = "202"
site = "tokyo"
"""


def akashi(home: Path, *args: str, stdin: str | None = None) -> str:
    """Run ``akashi --home HOME ARGS`` and return its output (fails loudly)."""
    proc = subprocess.run(
        [str(AKASHI), "--home", str(home), *args], input=stdin, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"akashi {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def speech(home: Path, text: str, work: Path, name: str) -> np.ndarray:
    """``text`` spoken by the offline synthesiser as 8 kHz int16 samples."""
    out = work / f"{name}.wav"
    akashi(home, "announce", "--text", text, "--out", str(out), "--rate", str(RATE), "--not-first")
    with wave.open(str(out), "rb") as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


def stereo_call(path: Path, operator: np.ndarray, customer: np.ndarray) -> None:
    """A stereo call like the recorder's: customer left, operator right, the customer answering after."""
    gap = RATE // 2
    n = len(operator) + gap + len(customer) + RATE
    left = np.zeros(n, dtype="<i2")
    right = np.zeros(n, dtype="<i2")
    right[: len(operator)] = operator
    left[len(operator) + gap : len(operator) + gap + len(customer)] = customer
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(np.column_stack([left, right]).tobytes())


def build_home(home: Path, work: Path, camera_url: str) -> None:
    """A demo home with everything the pictured pages show."""
    akashi(home, "init")
    with (home / "akashi.toml").open("a", encoding="utf-8") as f:
        f.write(CONFIG)
    akashi(home, "site", "add", "tokyo", "--label", "東京本社")
    for i, (caller, agent, said_by_operator, said_by_customer) in enumerate(CALLS, 1):
        wav = work / f"call-{i}.wav"
        stereo_call(
            wav,
            speech(home, said_by_operator, work, f"op{i}"),
            speech(home, said_by_customer, work, f"cu{i}"),
        )
        started = f"2026-11-0{i + 1}T1{i}:15"
        akashi(home, "import", "call", str(wav), "--caller", caller, "--dialled", "0120-000-000", "--agent", agent,
               "--site", "tokyo", "--started", started)  # fmt: skip
        akashi(home, "analyze", str(i))
    akashi(home, "cameras", "add", "受付", "--url", camera_url, "--site", "tokyo")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes], deadline_s: float = 60.0) -> None:
    """Wait until the web app answers ``/healthz``."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"akashi serve exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2):  # noqa: S310  (loopback)
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("akashi serve did not answer /healthz in time")


def shrink(path: Path) -> int:
    """Reduce a screenshot to a 96-colour palette PNG; its size in bytes."""
    from PIL import Image

    with Image.open(path) as img:
        small = img.convert("RGB").quantize(colors=96, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)
    return path.stat().st_size


def save(page: Any, target: Path) -> Path:
    """Photograph the viewport into ``target``, reduced; refuse a picture over the size limit."""
    page.screenshot(path=str(target))
    size = shrink(target)
    if size > LIMIT_BYTES:
        raise SystemExit(f"{target} is {size} bytes (limit {LIMIT_BYTES})")
    return target


def first_run(url: str, out: Path, chromium: str, home: Path) -> list[Path]:
    """A new user's first minutes: the setup page, then the dashboard that setup leads to. The files written."""
    from playwright.sync_api import sync_playwright

    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        ctx = browser.new_context(
            viewport={"width": 1280, "height": 800}, locale="ja-JP", timezone_id="Asia/Tokyo"
        )
        page = ctx.new_page()
        token = re.search(r"token=([\w-]+)", akashi(home, "setup-link"))
        assert token is not None
        page.goto(f"{url}/setup?token={token.group(1)}")
        page.wait_for_load_state("networkidle")
        written.append(save(page, out / "setup.png"))
        for field, value in SETUP_FORM.items():
            page.fill(f"input[name={field}]", value)
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/?setup=done")
        page.wait_for_load_state("networkidle")
        # as tall as the checklist with its demo panel, so that the picture shows both whole
        bottom = page.evaluate("document.getElementById('checklist').getBoundingClientRect().bottom")
        page.set_viewport_size({"width": 1280, "height": min(MAX_HEIGHT, int(bottom) + 24)})
        written.append(save(page, out / "dashboard.png"))
        browser.close()
    return written


def photograph(url: str, out: Path, chromium: str, home: Path) -> list[Path]:
    """As the demo home's admin, the pages with calls, routes, agents, notices and a camera."""
    from playwright.sync_api import sync_playwright

    shots = [
        ("call", "/calls/1", None),
        ("admin-routes", "/admin", "#routes"),
        ("admin-agents", "/admin", "#agents"),
        ("admin-notices", "/admin", "#notices"),
        ("cameras", "/cameras", None),
    ]
    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        ctx = browser.new_context(
            viewport={"width": 1280, "height": 800}, locale="ja-JP", timezone_id="Asia/Tokyo"
        )
        page = ctx.new_page()
        akashi(home, "user", "add", "kanri", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
        page.goto(f"{url}/login")
        page.fill("input[name=username]", "kanri")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/")
        for name, path, anchor in shots:
            page.goto(f"{url}{path}")
            page.wait_for_load_state("networkidle")
            deadline = time.monotonic() + CAMERA_WAIT_S
            while path == "/cameras" and NO_FOOTAGE in page.content() and time.monotonic() < deadline:
                page.wait_for_timeout(2000)  # the demo camera's first segment and thumbnail
                page.reload()
                page.wait_for_load_state("networkidle")
            if anchor:
                page.locator(anchor).scroll_into_view_if_needed()
                page.evaluate("a => document.querySelector(a).scrollIntoView({block: 'start'})", anchor)
            written.append(save(page, out / f"{name}.png"))
        browser.close()
    return written


def main() -> None:
    """Build the demo home, serve it, photograph the pages."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from akashi.demo.camera import start_source

    source = asyncio.run(start_source())
    if isinstance(source, str):
        print(f"デモカメラなし / no demo camera: {source}", file=sys.stderr)
    written: list[Path] = []
    try:
        with tempfile.TemporaryDirectory(prefix="akashi-shots-") as tmp:
            fresh = Path(tmp) / "fresh"
            akashi(fresh, "init")
            with served(fresh) as url:
                written += first_run(url, args.out, args.chromium, fresh)
            home, work = Path(tmp) / "home", Path(tmp) / "work"
            work.mkdir()
            build_home(home, work, DEAD_CAMERA if isinstance(source, str) else source.url)
            with served(home) as url:
                written += photograph(url, args.out, args.chromium, home)
    finally:
        if not isinstance(source, str):
            source.stop()
    for path in written:
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {path.stat().st_size} bytes")


@contextmanager
def served(home: Path) -> Iterator[str]:
    """``akashi serve`` of ``home`` on a free loopback port (no transcription worker); its URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKASHI_")}
    env.update(AKASHI_WEB__LISTEN=f"127.0.0.1:{port}", AKASHI_ANALYSIS__ENABLED="false")
    proc = subprocess.Popen([str(AKASHI), "--home", str(home), "serve", "--workers", "0"], env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_up(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=60)


if __name__ == "__main__":
    main()
