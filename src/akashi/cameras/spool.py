"""The local segment queue of one camera, on disk so that it survives the process and the store.

Layout under ``<spool>/cameras/<camera id>/``:

* ``rec/<ns>.mp4`` + ``rec/<ns>.json``: the segment being written (start facts only);
* ``ready/<ns>.mp4`` + ``ready/<ns>.json``: closed, waiting for the store (the JSON, written last,
  is what marks a segment ready);
* ``done/<ns>.mp4``: uploaded local copies, dropped oldest first past the size limit.

``<ns>`` is the segment's wall-clock start in nanoseconds, so names sort in recording order.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from akashi.atomicfile import write_atomic

log = logging.getLogger(__name__)


@dataclass
class SegmentMeta:
    """Facts about one segment, kept beside its file."""

    camera_id: int
    camera: str
    site: str
    started_at: datetime
    ended_at: datetime
    frames: int = 0
    codec: str = ""
    width: int = 0
    height: int = 0
    recovered: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """File stem: wall-clock start in nanoseconds, zero-padded so names sort by time."""
        return f"{int(self.started_at.timestamp() * 1e9):020d}"

    def to_json(self) -> str:
        """Serialise (datetimes as ISO 8601 UTC)."""
        d = asdict(self)
        d["started_at"] = self.started_at.isoformat()
        d["ended_at"] = self.ended_at.isoformat()
        return json.dumps(d, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> SegmentMeta:
        """Parse what :meth:`to_json` wrote."""
        d = json.loads(text)
        d["started_at"] = datetime.fromisoformat(d["started_at"])
        d["ended_at"] = datetime.fromisoformat(d["ended_at"])
        return cls(**d)


class CameraSpool:
    """One camera's folders; every method is safe to call from the recorder thread or the uploader."""

    def __init__(self, root: Path, camera_id: int) -> None:
        self.dir = root / "cameras" / str(camera_id)
        self.rec = self.dir / "rec"
        self.ready = self.dir / "ready"
        self.done = self.dir / "done"
        for d in (self.rec, self.ready, self.done):
            d.mkdir(parents=True, exist_ok=True)

    # Recorder side -----------------------------------------------------------------------
    def begin(self, meta: SegmentMeta) -> Path:
        """Record the start facts of a new segment; return the path its media goes to."""
        write_atomic(self.rec / f"{meta.key}.json", meta.to_json())
        return self.rec / f"{meta.key}.mp4"

    def finish(self, meta: SegmentMeta) -> Path:
        """Move a closed segment to the upload queue (media first, then its JSON)."""
        src = self.rec / f"{meta.key}.mp4"
        dst = self.ready / f"{meta.key}.mp4"
        os.replace(src, dst)
        write_atomic(self.ready / f"{meta.key}.json", meta.to_json())
        (self.rec / f"{meta.key}.json").unlink(missing_ok=True)
        return dst

    def discard(self, meta: SegmentMeta) -> None:
        """Drop a segment that holds no frame."""
        (self.rec / f"{meta.key}.mp4").unlink(missing_ok=True)
        (self.rec / f"{meta.key}.json").unlink(missing_ok=True)

    def recover(self) -> list[SegmentMeta]:
        """Close segments left in ``rec/`` by a process that died: probe what was written, queue it.

        fMP4 written with ``flush_packets`` keeps every finished fragment, so the file plays up to
        the last complete fragment; a file with no frame at all is removed.
        """
        from akashi.cameras.probe import probe_segment  # noqa: PLC0415 - probe imports PyAV; only recovery after a crash needs it

        out: list[SegmentMeta] = []
        for js in sorted(self.rec.glob("*.json")):
            media = js.with_suffix(".mp4")
            try:
                meta = SegmentMeta.from_json(js.read_text(encoding="utf-8"))
            except (ValueError, TypeError, KeyError):
                log.warning("camera spool: unreadable %s removed", js)
                js.unlink(missing_ok=True)
                media.unlink(missing_ok=True)
                continue
            info = probe_segment(media) if media.exists() else None
            if info is None or info.frames == 0:
                self.discard(meta)
                continue
            meta.frames = info.frames
            meta.ended_at = meta.started_at + timedelta(seconds=info.duration)
            meta.recovered = True
            self.finish(meta)
            out.append(meta)
        return out

    # Uploader side -----------------------------------------------------------------------
    def pending(self) -> list[tuple[SegmentMeta, Path]]:
        """Closed segments waiting for the store, oldest first."""
        out = []
        for js in sorted(self.ready.glob("*.json")):
            media = js.with_suffix(".mp4")
            if not media.exists():
                log.error("camera spool: %s has no media; removed", js)
                js.unlink(missing_ok=True)
                continue
            out.append((SegmentMeta.from_json(js.read_text(encoding="utf-8")), media))
        return out

    def uploaded(self, meta: SegmentMeta) -> None:
        """The segment is in the evidence store (encrypted): remove its plaintext and its queue entry.

        Media never rests unencrypted once stored; only segments not yet stored stay in the spool.
        """
        (self.ready / f"{meta.key}.mp4").unlink(missing_ok=True)
        (self.ready / f"{meta.key}.json").unlink(missing_ok=True)

    def size(self) -> int:
        """Bytes held by this camera's spool."""
        return sum(
            p.stat().st_size for d in (self.rec, self.ready, self.done) for p in d.iterdir() if p.is_file()
        )

    def prune(self, max_bytes: int) -> bool:
        """Drop the oldest uploaded copies (left by older versions) until under ``max_bytes``.

        Returns False when the limit is still exceeded by segments not yet uploaded (an alert).
        """
        total = self.size()
        for media in sorted(self.done.glob("*.mp4")):
            if total <= max_bytes:
                break
            total -= media.stat().st_size
            media.unlink(missing_ok=True)
        return total <= max_bytes

    def local_copy(self, meta_key: str) -> Path | None:
        """The local media of a segment, if still on disk."""
        for d in (self.done, self.ready):
            p = d / f"{meta_key}.mp4"
            if p.exists():
                return p
        return None
