"""Fixtures of the web tests: a home seeded with sites, users, calls (real encrypted media), flags."""

from __future__ import annotations

import functools
import io
import threading
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from akashi.access import hash_password
from akashi.calloutcome import CallOutcome
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import Agent, Call, CallFlag, Site, TranscriptSegment, User
from akashi.ingest import ingest_call
from tests.conftest import missing_peer, require_binary
from tests.ports import free_port

PASSWORD = "correct-horse-battery"


def stereo_wav(path: Path, seconds: float = 3.0, rate: int = 8000) -> Path:
    """A stereo 16-bit WAV: a tone on the left (customer) and a different one on the right (operator)."""
    t = np.arange(int(seconds * rate)) / rate
    left = (0.4 * np.sin(2 * np.pi * 440 * t) * (t < seconds / 2)).astype(np.float32)
    right = (0.25 * np.sin(2 * np.pi * 660 * t) * (t >= seconds / 2)).astype(np.float32)
    pcm = (np.stack([left, right], axis=1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


@functools.cache
def password_hash() -> str:
    """One argon2id hash of :data:`PASSWORD`, shared by the seeded users (hashing is slow on purpose)."""
    return hash_password(PASSWORD)


@dataclass
class Seeded:
    """Ids of what :func:`seed` created."""

    ak: Akashi
    calls: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)


def seed(ak: Akashi, tmp: Path) -> Seeded:
    """Two sites, six users, three calls with media, a transcript and a flag on the first call."""
    out = Seeded(ak)
    now = datetime.now(UTC).replace(microsecond=0)
    specs = {
        "tanaka_call": ("03-1234-5678", "tanaka", "tokyo", now - timedelta(hours=2)),
        "suzuki_call": ("090-8765-4321", "suzuki", "tokyo", now - timedelta(hours=1)),
        "osaka_call": ("06-5555-0101", "sato", "osaka", now - timedelta(minutes=30)),
    }
    for key, (caller, agent, site, started) in specs.items():
        wav = stereo_wav(tmp / f"{key}.wav")
        out.calls[key] = ingest_call(
            ak,
            wav,
            CallOutcome(
                started_at=started,
                direction="in",
                caller=caller,
                dialled="0120-000-111",
                agent=agent,
                site=site,
                notice_mode="automatic",
                codec="pcm16",
            ),
            transcribe=False,
        )
    with session_scope(ak.engine) as s:
        sites = {x.name: x for x in s.scalars(select(Site))}
        agents = {a.name: a.id for a in s.scalars(select(Agent))}
        users: list[tuple[str, str, list[str], str | None]] = [
            ("admin", "admin", [], None),
            ("boss_tokyo", "manager", ["tokyo"], None),
            ("boss_osaka", "manager", ["osaka"], None),
            ("op_tanaka", "operator", ["tokyo"], "tanaka"),
            ("op_suzuki", "operator", ["tokyo"], "suzuki"),
            ("auditor", "auditor", [], None),
        ]
        for name, role, site_names, agent_name in users:
            u = User(
                name=name,
                role=role,
                password_hash=password_hash(),
                display_name=name,
                agent_id=agents[agent_name] if agent_name else None,
            )
            u.sites = [sites[n] for n in site_names]
            s.add(u)
            s.flush()
            out.users[name] = u.id
        cid = out.calls["tanaka_call"]
        s.add_all(
            [
                TranscriptSegment(
                    call_id=cid,
                    channel="operator",
                    start_s=0.0,
                    end_s=1.2,
                    text="お電話ありがとうございます。この通話は録音されます。",
                ),
                TranscriptSegment(
                    call_id=cid,
                    channel="customer",
                    start_s=1.3,
                    end_s=2.8,
                    text="ふざけるな、土下座しろと言っているんだ",
                ),
            ]
        )
        s.add(
            CallFlag(
                call_id=cid,
                category="暴言",
                source="lexicon",
                words="土下座,ふざけるな",
                channel="customer",
                start_s=1.3,
                end_s=2.8,
                score=0.9,
            )
        )
        call = s.get(Call, cid)
        assert call is not None
        call.flags = ["暴言"]
        call.severity = 2.0
    return out


@pytest.fixture
def seeded(home: Path, tmp_path: Path) -> Iterator[Seeded]:
    """A seeded installation on SQLite and on PostgreSQL."""
    with Akashi.open(home) as ak:
        yield seed(ak, tmp_path)


@pytest.fixture
def seeded_sqlite(sqlite_home: Path, tmp_path: Path) -> Iterator[Seeded]:
    """A seeded installation on SQLite only."""
    with Akashi.open(sqlite_home) as ak:
        yield seed(ak, tmp_path)


def api_login(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Log in through the API; returns the CSRF token (the cookie stays in the client)."""
    r = client.post("/api/v1/auth/login", json={"name": name, "password": password})
    assert r.status_code == 200, r.text
    return str(r.json()["csrf_token"])


@pytest.fixture
def app_client(seeded: Seeded) -> Iterator[TestClient]:
    """A TestClient on the seeded installation."""
    from akashi.web.app import create_app

    with TestClient(create_app(seeded.ak), base_url="http://testserver") as c:
        yield c


CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]  # fmt: skip


@pytest.fixture
def server(seeded_sqlite: Seeded) -> Iterator[str]:
    """uvicorn serving the seeded installation in a thread on a free port."""
    import uvicorn

    from akashi.web.app import create_app

    port = free_port()
    config = uvicorn.Config(
        create_app(seeded_sqlite.ak), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    srv = uvicorn.Server(config)
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


@pytest.fixture
def browser() -> Iterator[object]:
    """Headless Chromium from Debian."""
    chromium = require_binary("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_peer("playwright (Python package)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield b
        finally:
            b.close()


def wav_bytes(data: bytes) -> tuple[int, int, int]:
    """Channels, rate, frames of WAV bytes."""
    with wave.open(io.BytesIO(data)) as w:
        return w.getnchannels(), w.getframerate(), w.getnframes()


@pytest.fixture
def client(seeded_sqlite: Seeded) -> Iterator[TestClient]:
    """The web app over the seeded SQLite home (a test file may define its own ``client`` instead)."""
    from akashi.web.app import create_app

    with TestClient(create_app(seeded_sqlite.ak)) as c:
        yield c


def csrf_token(page: str) -> str:
    """The CSRF token of the first form of an HTML page."""
    return page.split('name="csrf_token" value="')[1].split('"', maxsplit=1)[0]
