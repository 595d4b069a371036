"""The local upload spool: ciphertext waiting for a remote backend, kept until the upload succeeded.

Files are ``<id>.akev`` (complete, fsynced, listed in the database as ``pending``) and ``<id>.tmp``
(being written; a crash leaves them behind and they are never uploaded). The spool also remembers
when the backend last failed, so that a burst of puts during an outage does not wait on the
network once per object.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

from akashi.atomicfile import fsync_dir
from akashi.store.backends.base import SUFFIX


def sweep_tmp(folder: Path, max_age_s: float) -> int:
    """Remove ``*.tmp`` files in ``folder`` older than ``max_age_s`` seconds."""
    cutoff = time.time() - max_age_s
    removed = 0
    for p in folder.glob("*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            if p.stat().st_mtime < cutoff:
                p.unlink()
                removed += 1
    return removed


class Spool:
    """One spool folder."""

    def __init__(self, path: Path, retry_interval_s: float) -> None:
        self.dir = path
        self.dir.mkdir(parents=True, exist_ok=True)
        self.retry_interval_s = retry_interval_s
        self._failed_at: float | None = None
        self._lock = threading.Lock()

    def path(self, object_id: str) -> Path:
        """The finished spool file of an object."""
        return self.dir / f"{object_id}{SUFFIX}"

    def tmp_path(self, object_id: str) -> Path:
        """The file an object is encrypted into before it is complete."""
        return self.dir / f"{object_id}.tmp"

    def seal(self, object_id: str) -> Path:
        """Turn a complete, fsynced temporary file into a spool entry (rename + fsync folder)."""
        final = self.path(object_id)
        self.tmp_path(object_id).replace(final)
        fsync_dir(self.dir)
        return final

    def discard(self, object_id: str) -> None:
        """Remove both files of an object (after a failed put)."""
        for p in (self.path(object_id), self.tmp_path(object_id)):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()

    def sweep_stale(self, max_age_s: float = 86400.0) -> int:
        """Remove ``.tmp`` files older than ``max_age_s`` (puts interrupted by a crash); returns the count.

        Young ones may belong to a put still running in another process, so they stay.
        """
        return sweep_tmp(self.dir, max_age_s)

    def entries(self) -> list[tuple[str, int]]:
        """Finished spool files as (object id or file name, size)."""
        out = []
        for p in sorted(self.dir.iterdir()):
            if p.name.endswith(SUFFIX):
                with contextlib.suppress(FileNotFoundError):
                    out.append((p.name[: -len(SUFFIX)], p.stat().st_size))
        return out

    # Backoff ---------------------------------------------------------------------------------
    def note_failure(self) -> None:
        """The backend just failed: automatic flushes wait ``retry_interval_s``."""
        with self._lock:
            self._failed_at = time.monotonic()

    def note_success(self) -> None:
        """The backend answered: flush freely again."""
        with self._lock:
            self._failed_at = None

    def backing_off(self) -> bool:
        """True while the last failure is more recent than the retry interval."""
        with self._lock:
            return self._failed_at is not None and time.monotonic() - self._failed_at < self.retry_interval_s
