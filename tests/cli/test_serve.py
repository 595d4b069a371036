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
