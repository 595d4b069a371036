"""``akashi serve`` runs the web app and the job workers on the embedded default and stops on SIGTERM."""

from __future__ import annotations

import contextlib
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
from tests.ports import free_port


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


# --- akashi serve --only: each node runs only the roles it is given ------------------------------------


def _socket_inodes(pid: int) -> set[str]:
    """Socket inodes held by a process and its children (from /proc)."""
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    out: set[str] = set()
    for p in pids:
        try:
            fds = list(Path(f"/proc/{p}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                out.add(target[8:-1])
    return out


def bound_ports(pid: int) -> set[tuple[str, int]]:
    """(protocol, port) of every listening TCP socket and bound UDP socket of the process tree."""
    mine = _socket_inodes(pid)
    found: set[tuple[str, int]] = set()
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        try:
            lines = Path(f"/proc/net/{proto}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            port, state, inode = int(f[1].rsplit(":", 1)[1], 16), f[3], f[9]
            if inode not in mine or port == 0:
                continue
            if proto.startswith("tcp") and state != "0A":  # only LISTEN: client connections bind no port
                continue
            found.add((proto[:3], port))
    return found


class CameraProbe:
    """A TCP listener posing as a camera: an RTSP client connecting to it means cameras are running."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = int(self.sock.getsockname()[1])

    def connected_within(self, seconds: float) -> bool:
        """True once a client connects before the deadline."""
        self.sock.settimeout(seconds)
        try:
            conn, _ = self.sock.accept()
        except TimeoutError:
            return False
        conn.close()
        return True

    def close(self) -> None:
        self.sock.close()


def _only_env(web_port: int, sip_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKASHI_")}
    env["AKASHI_WEB__LISTEN"] = f"127.0.0.1:{web_port}"
    env["AKASHI_SIP__ENABLED"] = "true"
    env["AKASHI_SIP__LISTEN"] = f"127.0.0.1:{sip_port}"
    env["AKASHI_ANALYSIS__ENABLED"] = "false"
    env["AKASHI_JOBS__POLL_SECONDS"] = "0.2"
    return env


def _home_with_camera(tmp_path: Path, camera: CameraProbe) -> Path:
    url = f"rtsp://127.0.0.1:{camera.port}/cam"
    return make_home(tmp_path / "home", "", f'\n[[cameras]]\nname = "probe"\nurl = "{url}"\n')


def _enqueue_job(home: Path) -> int:
    """A job any worker can run at once: re-analysis of a call that does not exist (it fails, one try)."""
    from akashi.context import Akashi
    from akashi.db import session_scope
    from akashi.jobs.queue import enqueue

    with Akashi.open(home) as ak, session_scope(ak.engine) as s:
        job_id = enqueue(s, "analyze", {"call_id": 987654}, max_attempts=1)
    assert job_id is not None
    return job_id


def _job(home: Path, job_id: int) -> tuple[str, str | None]:
    engine = sa.create_engine(f"sqlite:///{home / 'akashi.db'}")
    try:
        with engine.connect() as c:
            row = c.execute(sa.text("SELECT state, worker FROM jobs WHERE id = :i"), {"i": job_id}).one()
    finally:
        engine.dispose()
    return str(row[0]), row[1]


def _start(home: Path, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "akashi.cli.main", "--home", str(home), "serve", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _stop(proc: subprocess.Popen[bytes]) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    out = proc.stdout.read().decode() if proc.stdout else ""
    assert "Traceback" not in out, out
    return out


def _wait_started(proc: subprocess.Popen[bytes], home: Path, timeout: float = 60.0) -> None:
    """Wait until the process has logged its roles (every part it runs is being started)."""
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"akashi serve exited early with {proc.returncode}: {seen.decode()}")
        chunk = proc.stdout.read() or b""
        seen += chunk
        if b"roles: " in seen:
            os.set_blocking(proc.stdout.fileno(), True)
            return
        time.sleep(0.1)
    raise AssertionError(f"akashi serve did not start: {seen.decode()}")


def test_only_roles_are_parsed_strictly() -> None:
    from akashi.errors import ConfigError
    from akashi.serve import parse_roles

    assert parse_roles("web") == {"web"}
    assert parse_roles("web, Worker") == {"web", "worker"}
    assert parse_roles("telephony,cameras,worker,web") == {"telephony", "cameras", "worker", "web"}
    for bad in ("", "web,", "db", "web,sip"):
        with pytest.raises(ConfigError, match="--only"):
            parse_roles(bad)


def test_only_web_serves_http_and_nothing_else(tmp_path: Path) -> None:
    """``--only web``: HTTP answers; no SIP socket, no camera session, no job taken."""
    camera = CameraProbe()
    home = _home_with_camera(tmp_path, camera)
    job_id = _enqueue_job(home)
    web_port, sip_port = free_port(), free_port()
    proc = _start(home, _only_env(web_port, sip_port), "--only", "web")
    try:
        assert wait_http(f"http://127.0.0.1:{web_port}/api/v1/calls", proc) in (401, 403)
        assert bound_ports(proc.pid) == {("tcp", web_port)}
        # Give a worker several poll rounds and a camera its first connect: neither may happen.
        assert not camera.connected_within(3.0)
        assert _job(home, job_id) == ("queued", "")  # never claimed
        assert bound_ports(proc.pid) == {("tcp", web_port)}
    finally:
        out = _stop(proc)
        camera.close()
    assert "roles: web" in out, out


def test_only_worker_runs_jobs_and_binds_no_port(tmp_path: Path) -> None:
    """``--only worker``: the queued job is taken by this process; no port is bound, no camera is called."""
    camera = CameraProbe()
    home = _home_with_camera(tmp_path, camera)
    job_id = _enqueue_job(home)
    web_port, sip_port = free_port(), free_port()
    proc = _start(home, _only_env(web_port, sip_port), "--only", "worker")
    try:
        deadline = time.monotonic() + 60
        state, worker = _job(home, job_id)
        while state not in ("done", "dead") and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            state, worker = _job(home, job_id)
        assert state == "dead", state  # tried once (the call does not exist) and given up
        assert worker is not None and f":{proc.pid}:" in worker, worker
        assert bound_ports(proc.pid) == set()
        assert not camera.connected_within(1.0)
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{web_port}/", timeout=2)
    finally:
        out = _stop(proc)
        camera.close()
    assert "roles: worker" in out, out


def test_only_telephony_and_cameras_start_those_alone(tmp_path: Path) -> None:
    """``--only telephony,cameras``: the SIP port is bound and the camera called; no web, no job taken."""
    camera = CameraProbe()
    home = _home_with_camera(tmp_path, camera)
    job_id = _enqueue_job(home)
    web_port, sip_port = free_port(), free_port()
    proc = _start(home, _only_env(web_port, sip_port), "--only", "telephony,cameras")
    try:
        _wait_started(proc, home)
        assert camera.connected_within(30.0)
        deadline = time.monotonic() + 30
        while ("udp", sip_port) not in bound_ports(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        ports = bound_ports(proc.pid)
        assert ("udp", sip_port) in ports
        assert ("tcp", web_port) not in ports
        assert _job(home, job_id) == ("queued", "")
    finally:
        _stop(proc)
        camera.close()


def test_only_refuses_an_unknown_role_and_a_disabled_one(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", "")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKASHI_")}
    base = [sys.executable, "-m", "akashi.cli.main", "--home", str(home), "serve"]
    r = subprocess.run(
        [*base, "--only", "web,sip"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert r.returncode == 2 and "unknown role 'sip'" in r.stderr + r.stdout and "役割" in r.stderr + r.stdout
    r = subprocess.run(
        [*base, "--only", "telephony"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert r.returncode == 2 and "sip.enabled is false" in r.stderr + r.stdout
    r = subprocess.run(
        [*base, "--only", "web", "--no-web"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert r.returncode == 2 and "not both" in r.stderr + r.stdout
