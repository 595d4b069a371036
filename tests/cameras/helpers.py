"""Helpers of the camera tests: waiting on service events, probing media with ffprobe."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from akashi.cameras.events import CameraEvent


class EventLog:
    """A listener that keeps every event and lets a test wait for a condition on them."""

    def __init__(self) -> None:
        self.events: list[CameraEvent] = []
        self.mono: list[float] = []
        self._changed = asyncio.Event()

    def __call__(self, ev: CameraEvent) -> None:
        self.events.append(ev)
        self.mono.append(time.monotonic())
        self._changed.set()

    def count(self, kind: str, camera: str | None = None) -> int:
        """How many events of a kind (for one camera)."""
        return sum(1 for e in self.events if e.kind == kind and (camera is None or e.camera == camera))

    async def wait_for(self, pred: Callable[[], bool], timeout: float, what: str = "") -> None:
        """Wait until ``pred()`` holds, woken by each event; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0:
                kinds = [(e.kind, e.camera, e.detail[:60]) for e in self.events[-8:]]
                raise AssertionError(f"timed out waiting for {what}; last events: {kinds}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def wait_count(self, kind: str, camera: str, n: int, timeout: float) -> None:
        """Wait until ``camera`` has ``n`` events of ``kind`` in total."""
        await self.wait_for(lambda: self.count(kind, camera) >= n, timeout, f"{n} x {kind} of {camera}")


def ffprobe(path: Path) -> dict[str, Any]:
    """Streams (with counted packets) and format of a media file; raises if ffprobe cannot read it."""
    out = subprocess.run(
        [
            "timeout", "60", "ffprobe", "-v", "error", "-count_packets", "-show_entries",
            "stream=codec_name,width,height,level,nb_read_packets:format=duration,format_name",
            "-of", "json", str(path),
        ],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def decode_errors(path: Path) -> str:
    """Decode every frame with ffmpeg and return what it complained about (empty: clean)."""
    r = subprocess.run(
        ["timeout", "120", "ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"],
        check=False, capture_output=True, text=True,
    )  # fmt: skip
    return r.stderr.strip() if r.returncode == 0 else f"exit {r.returncode}: {r.stderr.strip()}"


def camera_toml(cameras: list[tuple[str, str, str]], seconds: float = 2.0, **policy: Any) -> str:
    """``[[cameras]]`` tables for (name, site, url) and a ``[camera_policy]`` table."""
    text = ""
    for name, site, url in cameras:
        text += (
            f'\n[[cameras]]\nname = "{name}"\nsite = "{site}"\nurl = "{url}"\nsegment_seconds = {seconds}\n'
        )
    if policy:
        text += "\n[camera_policy]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in policy.items())
    return text


def add_to_config(home: Path, text: str) -> None:
    """Append TOML to the home's akashi.toml."""
    with open(home / "akashi.toml", "a", encoding="utf-8") as f:
        f.write(text)
