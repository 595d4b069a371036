"""``akashi serve`` runs the web app and the job workers on the embedded default and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import make_home


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"akashi serve exited early with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return int(r.status)
        except urllib.error.HTTPError as e:
            return e.code
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"no answer from {url}")


def test_serve_starts_web_and_stops_cleanly(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", "")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKASHI_")}
    env["AKASHI_WEB__LISTEN"] = f"127.0.0.1:{port}"
    env["AKASHI_ANALYSIS__ENABLED"] = "false"
    proc = subprocess.Popen(
        [sys.executable, "-m", "akashi.cli.main", "--home", str(home), "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        # The API needs a session: an anonymous request is refused, not served.
        status = wait_http(f"http://127.0.0.1:{port}/api/v1/calls", proc)
        assert status in (401, 403)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=5) as r:
            assert json.load(r)["info"]["title"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = proc.stdout.read().decode() if proc.stdout else ""
    assert "Traceback" not in out, out


@pytest.mark.asr
def test_serve_transcribes_in_a_child_process(tmp_path: Path) -> None:
    """Imported calls are analysed by the transcriber child, never by the serving process."""
    from tests.cli.test_end_to_end import make_wav, run

    home = make_home(tmp_path / "home", "")
    wav = tmp_path / "call.wav"
    make_wav(wav, seconds=3.0)
    call_id = json.loads(run(home, "import", "call", str(wav), "--caller", "0312345678", "--json").stdout)[
        "id"
    ]
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKASHI_")}
    env["AKASHI_WEB__LISTEN"] = f"127.0.0.1:{port}"
    env["AKASHI_JOBS__POLL_SECONDS"] = "0.2"
    proc = subprocess.Popen(
        [sys.executable, "-m", "akashi.cli.main", "--home", str(home), "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    engine = sa.create_engine(f"sqlite:///{home / 'akashi.db'}")
    try:
        deadline = time.monotonic() + 240
        state = worker = None
        while time.monotonic() < deadline and proc.poll() is None:
            with engine.connect() as c:
                row = c.execute(
                    sa.text("SELECT state, worker FROM jobs WHERE kind = 'transcribe' AND payload LIKE :p"),
                    {"p": f'%"call_id": {call_id}%'},
                ).first()
            if row is not None and row[0] in ("done", "dead"):
                state, worker = row
                break
            time.sleep(0.5)
        assert state == "done", (
            proc.stdout.read1().decode() if proc.stdout and proc.poll() is not None else state
        )
        assert worker is not None and f":{proc.pid}:" not in worker  # not the serving process
        with engine.connect() as c:
            assert (
                c.execute(sa.text("SELECT analysis_state FROM calls WHERE id = :i"), {"i": call_id}).scalar()
                == "done"
            )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        engine.dispose()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
