"""The interface every evidence backend provides.

Backends move opaque, already encrypted bytes; they never see plaintext or keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Protocol

from akashi.errors import StoreError

SUFFIX = ".akev"


class BackendUnavailable(StoreError):
    """The backend cannot be reached right now (network, server down); the operation may be retried."""


def object_key(object_id: str) -> str:
    """The key (relative path) of an object: two-digit fan-out folder, then the id."""
    return f"{object_id[:2]}/{object_id}{SUFFIX}"


def object_id_of(key: str) -> str | None:
    """The object id a key names, or None when the key is not an object key."""
    name = key.rsplit("/", 1)[-1]
    if not name.endswith(SUFFIX):
        return None
    oid = name[: -len(SUFFIX)]
    if len(oid) != 32 or any(c not in "0123456789abcdef" for c in oid) or key != object_key(oid):
        return None
    return oid


class Backend(Protocol):
    """Storage of encrypted objects under keys made by :func:`object_key`."""

    name: str
    #: True for remote backends: new objects go through the local spool and are uploaded from it,
    #: so an unreachable backend delays an upload but loses nothing.
    spools: bool

    @property
    def staging_dir(self) -> Path:
        """Folder (same file system as the objects) for ciphertext written before :meth:`commit_file`."""
        ...

    def commit_file(self, key: str, path: Path, *, retain_until: datetime | None, legal_hold: bool) -> None:
        """Store the finished ciphertext file ``path`` under ``key``; the file is consumed on success.

        Raises :class:`BackendUnavailable` when the backend cannot be reached (the file stays).
        """
        ...

    def read_range(self, key: str, start: int, end: int, block: int = ...) -> Iterator[bytes]:
        """Bytes ``[start, end)`` of the object in pieces of about ``block`` bytes.

        Raises ``FileNotFoundError`` when it is missing.
        """
        ...

    def size(self, key: str) -> int | None:
        """Stored size of the object, None when it does not exist."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object (absent is fine)."""
        ...

    def list_objects(self) -> Iterator[tuple[str, int]]:
        """Every stored key with its size."""
        ...

    def set_legal_hold(self, key: str, on: bool) -> None:
        """Mirror a legal hold onto the storage where it supports one (else nothing)."""
        ...

    def describe(self) -> str:
        """Where the objects live, for messages (no secrets)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
