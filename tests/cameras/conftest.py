"""Fixtures of the camera tests: a pre-encoded H.264 file and a real GStreamer RTSP server serving it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import missing_peer, require_binary

SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"
SOURCE_SECONDS = 240  # longer than any test: every client plays the file from its start


def make_h264(
    path: Path,
    *,
    seconds: int,
    size: str = "320x240",
    rate: int = 15,
    bitrate: str = "150k",
    audio: bool = False,
    codec: str = "libx264",
) -> Path:
    """Encode a test pattern to H.264 in Matroska, one keyframe per second, no B-frames (+ AAC tone)."""
    ffmpeg = require_binary("ffmpeg")
    tone = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000"] if audio else []
    aac = ["-c:a", "aac", "-b:a", "32k"] if audio else []
    subprocess.run(
        [
            "timeout", "300", ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi",
            "-i", f"testsrc2=size={size}:rate={rate}", *tone, "-t", str(seconds), "-c:v", codec,
            "-preset", "ultrafast", "-g", str(rate), "-keyint_min", str(rate), "-sc_threshold", "0",
            "-b:v", bitrate, "-pix_fmt", "yuv420p", *aac,
            *(["-x265-params", "log-level=error:bframes=0"] if codec == "libx265" else []), str(path),
        ],
        check=True,
    )  # fmt: skip
    return path


@pytest.fixture(scope="session")
def h264_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 320x240, 15 fps H.264 file long enough for every test."""
    return make_h264(tmp_path_factory.mktemp("media") / "src.mkv", seconds=SOURCE_SECONDS)


def _gst_rtsp_available() -> bool:
    if not os.path.exists(SYSTEM_PYTHON):
        return False
    probe = (
        "import gi; gi.require_version('GstRtspServer','1.0'); gi.require_version('GstRtsp','1.0'); "
        "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
        "assert Gst.ElementFactory.find('matroskademux') and Gst.ElementFactory.find('rtph264pay')"
    )
    r = subprocess.run(["timeout", "30", SYSTEM_PYTHON, "-c", probe], check=False, capture_output=True)
    return r.returncode == 0


def children(pid: int) -> list[str]:
    """Child process ids (from /proc: no procps needed)."""
    try:
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []


class RtspServer:
    """The GStreamer RTSP server as a child process: start, stop, kill, freeze (SIGSTOP), thaw."""

    def __init__(
        self,
        media: Path,
        paths: list[str],
        user: str = "",
        password: str = "",
        audio: bool = False,
        codec: str = "h264",
        g711: bool = False,
        digest: bool = False,
    ) -> None:
        self.media = media
        self.g711 = g711
        self.digest = digest
        self.codec = codec
        self.audio = audio
        self.paths = paths
        self.user = user
        self.password = password
        self.port = 0
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        """Start (again, on the same port once one was bound) and wait for READY."""
        cmd = [
            "timeout", "900", SYSTEM_PYTHON, str(SERVER_SCRIPT), str(self.media),
            "--port", str(self.port), "--paths", ",".join(self.paths),
        ]  # fmt: skip
        if self.user:
            cmd += ["--user", self.user, "--password", self.password]
        if self.audio:
            cmd.append("--audio")
        if self.g711:
            cmd.append("--g711")
        if self.digest:
            cmd.append("--digest")
        cmd += ["--codec", self.codec]
        deadline = time.monotonic() + 20
        while True:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline()
            if line.startswith("READY "):
                self.port = int(line.split()[1])
                return
            self.proc.wait(5)
            err = self.proc.stderr.read() if self.proc.stderr else ""
            if time.monotonic() > deadline:  # the old socket may linger a moment after a stop
                raise RuntimeError(f"RTSP server did not start: {err}")
            time.sleep(0.5)

    def url(self, path: str, with_credentials: bool = True) -> str:
        """RTSP URL of one path."""
        cred = f"{self.user}:{self.password}@" if self.user and with_credentials else ""
        return f"rtsp://{cred}127.0.0.1:{self.port}/{path}"

    def stop(self) -> None:
        """Terminate the server (clients see the connection close)."""
        if self.proc is not None and self.proc.poll() is None:
            self.thaw()
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def _signal_child(self, sig: signal.Signals) -> None:
        """Signal the Python server itself, not the coreutils ``timeout`` wrapping it."""
        assert self.proc is not None
        out = children(self.proc.pid)
        for pid in out or [str(self.proc.pid)]:
            os.kill(int(pid), sig)

    def freeze(self) -> None:
        """SIGSTOP: the TCP connection stays open but no data flows (a hung camera)."""
        self._signal_child(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT."""
        if self.proc is not None and self.proc.poll() is None:
            self._signal_child(signal.SIGCONT)


@pytest.fixture
def rtsp_server(h264_file: Path) -> Iterator[RtspServer]:
    """A running RTSP server on a free port with paths cam0..cam2 and credentials (user/secretpw)."""
    if not _gst_rtsp_available():
        missing_peer("GStreamer RTSP server for /usr/bin/python3 (gir1.2-gst-rtsp-server-1.0, python3-gi)")
    srv = RtspServer(h264_file, ["cam0", "cam1", "cam2"], user="viewer", password="secretpw42")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="session")
def resolution_change_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s at 320x240 then 6 s at 640x480 in one H.264 track (new SPS in-band), like a reconfigured camera."""
    d = tmp_path_factory.mktemp("reschange")
    parts = []
    for size in ("320x240", "640x480"):
        mkv = make_h264(d / f"{size}.mkv", seconds=6, size=size)
        raw = d / f"{size}.h264"
        subprocess.run(
            ["timeout", "60", "ffmpeg", "-loglevel", "error", "-y", "-i", str(mkv), "-c", "copy",
             "-bsf:v", "h264_mp4toannexb", "-f", "h264", str(raw)],
            check=True,
        )  # fmt: skip
        parts.append(raw.read_bytes())
    both = d / "both.h264"
    both.write_bytes(b"".join(parts))
    out = d / "both.mkv"
    subprocess.run(
        ["timeout", "60", "ffmpeg", "-loglevel", "error", "-y", "-framerate", "15", "-f", "h264", "-i", str(both),
         "-c", "copy", str(out)],
        check=True,
    )  # fmt: skip
    return out
