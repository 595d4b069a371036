"""Many puts, one transaction: what a recorder with many sources (cameras) stores in one go.

Each object is encrypted into its own file with its own data key exactly as
:meth:`~akashi.store.evidence.EvidenceStore.put` does it, and its ciphertext is durable before any row
names it. Then one transaction writes every object row, their ledger ``put`` entries (one chain lock,
one tail read, anchors moved once) and whatever rows the caller adds with ``extra`` (so a camera
segment and its evidence object are recorded together, or not at all). A database failure leaves no
ciphertext behind; an object that failed to encrypt fails alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from akashi.db.models import EvidenceObject
from akashi.store.crypto import Encryptor
from akashi.store.evidence import PutResult
from akashi.store.pipeline import Sealed, encrypt_file

if TYPE_CHECKING:
    from akashi.store.evidence import EvidenceStore


@dataclass(frozen=True)
class PutFile:
    """One plaintext file to store, with the facts :meth:`EvidenceStore.put` takes."""

    path: Path
    kind: str
    media_type: str
    filename: str = ""
    site: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    retain_until: datetime | None = None


def put_files(
    store: EvidenceStore,
    items: Sequence[PutFile],
    extra: Callable[[Session, list[tuple[int, PutResult]]], None] | None = None,
    pool: Executor | None = None,
) -> list[PutResult | BaseException]:
    """Store ``items``; per item its :class:`PutResult` or the error that kept it out.

    ``extra(session, [(index, result), ...])`` runs inside the transaction for the items sealed. When
    the transaction fails its error is raised (every item stays out; nothing is left behind). With a
    ``pool`` the files are sealed on its threads (their fsyncs overlap), else on this one.
    """

    def seal(item: PutFile) -> EvidenceObject | BaseException:
        try:
            return _seal(store, item)
        except Exception as exc:  # this file only (unreadable, disk full): the others go on
            return exc

    out: list[PutResult | BaseException] = []
    sealed: list[tuple[EvidenceObject, str | None]] = []
    done: list[tuple[int, PutResult]] = []
    rows = list(pool.map(seal, items)) if pool is not None else [seal(item) for item in items]
    for i, row in enumerate(rows):
        if isinstance(row, BaseException):
            out.append(row)
            continue
        result = PutResult(row.id, row.sha256, row.size, row.state)
        out.append(result)
        sealed.append((row, items[i].site))
        done.append((i, result))
    if not sealed:
        return out

    def add(s: Session) -> None:
        if extra is not None:
            extra(s, done)

    store.record(sealed, add)
    store.upload_now()
    return out


def _seal(store: EvidenceStore, item: PutFile) -> EvidenceObject:
    """Encrypt one file, in reused buffers, into the backend (or the upload spool); the row that will record it."""

    def write(path: Path, enc: Encryptor) -> Sealed:
        with open(item.path, "rb", buffering=0) as f:
            return encrypt_file(f, path, enc)

    return store.seal(
        write,
        kind=item.kind,
        media_type=item.media_type,
        filename=item.filename,
        meta=item.meta,
        retain_until=item.retain_until,
    )
