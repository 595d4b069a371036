"""Local file-system backend: write to a temporary name, fsync, rename, fsync the folder."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from akashi.atomicfile import fsync_dir
from akashi.store.backends.base import SUFFIX, object_id_of

READ_SIZE = 1024 * 1024


def read_file_range(path: Path, start: int, end: int, block: int = READ_SIZE) -> Iterator[bytes]:
    """Bytes ``[start, end)`` of a file in blocks (fewer at its end if the file is shorter)."""
    with open(path, "rb", buffering=0) as f:
        f.seek(start)
        left = end - start
        while left > 0:
            data = f.read(min(block, left))
            if not data:
                return
            left -= len(data)
            yield data


class LocalBackend:
    """Objects as files under ``root`` (``root/ab/<id>.akev``); staging in ``root/.tmp``."""

    name = "local"
    spools = False

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._staging = root / ".tmp"
        self._staging.mkdir(exist_ok=True)

    @property
    def staging_dir(self) -> Path:
        """``root/.tmp``: same file system, so the final rename is atomic."""
        return self._staging

    def path(self, key: str) -> Path:
        """File of an object key."""
        return self.root / key

    def commit_file(self, key: str, path: Path, *, retain_until: datetime | None, legal_hold: bool) -> None:
        """Rename the fsynced file into place and fsync the folder. Never replaces an object."""
        final = self.path(key)
        final.parent.mkdir(exist_ok=True)
        if final.exists():
            raise FileExistsError(final)
        os.replace(path, final)
        fsync_dir(final.parent)

    def read_range(self, key: str, start: int, end: int, block: int = READ_SIZE) -> Iterator[bytes]:
        """Bytes ``[start, end)`` in blocks of exactly ``block``; ``FileNotFoundError`` when missing."""
        return read_file_range(self.path(key), start, end, block)

    def size(self, key: str) -> int | None:
        """Size of the object file, None when absent."""
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        """Unlink and fsync the folder."""
        p = self.path(key)
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            fsync_dir(p.parent)

    def list_objects(self) -> Iterator[tuple[str, int]]:
        """Every file under ``root`` except staging, as (key, size); unknown names are listed too."""
        for dirpath, dirnames, filenames in os.walk(self.root):
            rel = Path(dirpath).relative_to(self.root)
            if rel == Path("."):
                dirnames[:] = sorted(d for d in dirnames if d != ".tmp")
            for name in sorted(filenames):
                key = (rel / name).as_posix()
                with contextlib.suppress(FileNotFoundError):
                    yield key, os.stat(os.path.join(dirpath, name)).st_size

    def set_legal_hold(self, key: str, on: bool) -> None:
        """Local files have no hold of their own (the database and ledger carry it)."""

    def describe(self) -> str:
        """The folder."""
        return str(self.root)

    def close(self) -> None:
        """Nothing to release."""


__all__ = ["SUFFIX", "LocalBackend", "object_id_of", "read_file_range"]
