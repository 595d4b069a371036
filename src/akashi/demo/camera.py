"""The demo's camera: a generated RTSP stream on loopback, recorded by Akashi's own camera supervisor.

The stream comes from GStreamer's RTSP server run by the system's Python (Debian:
``gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-ugly``). Where it is missing the demo
says so and goes on without a camera.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from akashi.cameras import records
from akashi.cameras.events import CameraEvent
from akashi.cameras.records import CameraSpec
from akashi.cameras.supervisor import Supervisor
from akashi.db.base import session_scope
from akashi.db.models import Camera, CameraSegment
from akashi.demo.site import DEMO_SITE
from akashi.errors import ConfigError

if TYPE_CHECKING:
    from akashi.context import Akashi

log = logging.getLogger(__name__)

#: the demo camera's name in lists
CAMERA_NAME = "demo-camera"
SYSTEM_PYTHON = "/usr/bin/python3"
SCRIPT = Path(__file__).with_name("rtsp_source.py")
#: how long the RTSP server may take to listen
START_TIMEOUT_S = 20.0
SEGMENT_S = 4.0


@dataclass
class RtspSource:
    """The running RTSP server process and the URL of its stream."""

    proc: subprocess.Popen[bytes]
    url: str

    def stop(self) -> None:
        """Stop the server (it is ours: ended by its own process handle)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _read_ready(proc: subprocess.Popen[bytes]) -> str:
    assert proc.stdout is not None
    return proc.stdout.readline().decode(errors="replace").strip()


async def start_source() -> RtspSource | str:
    """Start the demo RTSP stream; a reason (Japanese / English) when it cannot run here."""
    python = shutil.which(SYSTEM_PYTHON)
    if python is None:
        return f"{SYSTEM_PYTHON} がありません / {SYSTEM_PYTHON} not found"
    proc = subprocess.Popen(
        [python, str(SCRIPT), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        line = await asyncio.wait_for(asyncio.to_thread(_read_ready, proc), START_TIMEOUT_S)
    except TimeoutError:
        line = ""
    if not line.startswith("READY "):
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        err = b""
        with contextlib.suppress(subprocess.TimeoutExpired, ValueError):
            _out, err = proc.communicate(timeout=5)
        why = (err.decode(errors="replace").strip().splitlines() or ["no READY line"])[-1][:200]
        return (
            "GStreamer の RTSP サーバーを起動できません（gir1.2-gst-rtsp-server-1.0 python3-gi "
            f"gstreamer1.0-plugins-ugly が必要）/ cannot start GStreamer's RTSP server: {why}"
        )
    port = int(line.split()[1])
    return RtspSource(proc, f"rtsp://127.0.0.1:{port}/demo")


def name_taken(ak: Akashi) -> str | None:
    """Why the demo camera's name cannot be used: a real camera has it (its footage is no demo's)."""
    if any(c.name == CAMERA_NAME for c in ak.settings.cameras):
        return f"カメラ名 {CAMERA_NAME} は設定ファイルで使われています / akashi.toml has a camera named {CAMERA_NAME}"
    with session_scope(ak.engine) as s:
        cam = s.scalar(select(Camera).where(Camera.name == CAMERA_NAME))
        if cam is not None and not cam.demo:
            return f"カメラ {CAMERA_NAME} は実在のカメラです / camera {CAMERA_NAME} is a real camera"
    return None


def ensure_demo_camera(ak: Akashi, url: str) -> tuple[CameraSpec, int]:
    """The demo camera's spec and row (marked demo; ``akashi serve`` never records it itself)."""
    why = name_taken(ak)
    if why is not None:
        raise ConfigError(why, why)
    spec = CameraSpec(CAMERA_NAME, DEMO_SITE, url, SEGMENT_S, True, "demo")
    cam_id = records.ensure_camera(ak.engine, spec)
    with session_scope(ak.engine) as s:
        s.execute(update(Camera).where(Camera.id == cam_id).values(demo=True))
    return spec, cam_id


def segment_count(ak: Akashi, camera_id: int) -> int:
    """Segments stored for a camera."""
    with session_scope(ak.engine) as s:
        return int(
            s.scalar(select(func.count(CameraSegment.id)).where(CameraSegment.camera_id == camera_id)) or 0
        )


async def record(ak: Akashi, url: str, stop: asyncio.Event) -> int:
    """Record the demo stream with Akashi's camera supervisor until ``stop``; returns the camera id."""
    spec, cam_id = await asyncio.to_thread(ensure_demo_camera, ak, url)

    def quiet(ev: CameraEvent) -> None:
        log.debug("demo camera: %s %s", ev.kind, ev.detail)

    await Supervisor(ak, spec, cam_id, quiet).run(stop)
    return cam_id
