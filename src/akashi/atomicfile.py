"""Files replaced whole: a temporary name beside the file, fsync, rename, fsync of the folder.

A reader, or a process killed in the middle, sees the old file or the new one, never part of one. The
temporary name is unique to each write (``mkstemp``), so two processes writing the same file at once
cannot mix their bytes: the last rename wins.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes | str, *, mode: int = 0o600, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8), its folder made if missing.

    ``durable`` fsyncs the file before the rename and the folder after it, so the new content
    survives a power cut; without it the replacement is still atomic for readers and for ``kill -9``.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)
