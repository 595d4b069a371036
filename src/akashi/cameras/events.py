"""Events the camera service reports (for tests, the web UI and the benchmark)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

EventKind = Literal["connected", "disconnected", "segment_closed", "segment_stored", "upload_failed", "alert"]


@dataclass(frozen=True)
class CameraEvent:
    """Something that happened to one camera. ``latency_s``: segment close to stored."""

    kind: EventKind
    camera: str
    at: datetime
    detail: str = ""
    object_id: str = ""
    latency_s: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)


Listener = Callable[[CameraEvent], None]
