"""The evidence store: put a stream, read it back authenticated, hold, release, retain, verify.

Every object is encrypted with its own data key (see :mod:`akashi.store.crypto` for the format)
while it is read from the caller's stream, so memory stays at about one chunk whatever the size.
The object row and its ledger ``put`` entry are written in one transaction after the ciphertext is
durable: on the local backend after fsync and rename, on S3 after it is in the spool (the upload
follows, now or later from :meth:`EvidenceStore.flush_spool`). Reads look the row up here and
leave the bytes to :class:`~akashi.store.reader.ObjectReader`.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from akashi.config import Settings
from akashi.db import chain
from akashi.db.base import session_scope, utcnow
from akashi.db.models import EvidenceObject, Site
from akashi.db.queries import site_id_for
from akashi.errors import NotFoundError, StoreError
from akashi.store import ledger
from akashi.store.backends.base import Backend, BackendUnavailable, object_key
from akashi.store.backends.local import LocalBackend
from akashi.store.crypto import Encryptor
from akashi.store.keys import InstallationKeys, load_keys
from akashi.store.pipeline import Readable, Sealed, encrypt_to_file
from akashi.store.reader import READ_SIZE, ObjectReader, StoredObject
from akashi.store.spool import Spool, sweep_tmp

if TYPE_CHECKING:
    from akashi.store.verify_report import VerifyReport

log = logging.getLogger(__name__)

#: Anchor file of the ledger head, in the home.
HEAD_FILE = "ledger.head"


@dataclass(frozen=True)
class PutResult:
    """What :meth:`EvidenceStore.put` stored. ``state`` is ``stored`` or ``pending`` (spooled)."""

    object_id: str
    sha256: str
    size: int
    state: str


@dataclass(frozen=True)
class ObjectInfo:
    """The public facts of one object (no key material)."""

    object_id: str
    kind: str
    media_type: str
    filename: str
    size: int
    sha256: str
    cipher_size: int
    cipher_sha256: str
    state: str
    site: str | None
    created_at: datetime
    retain_until: datetime | None
    legal_hold: bool
    meta: dict[str, Any]
    backend: str
    location: str


def make_backend(settings: Settings, spool_dir: os.PathLike[str] | str) -> Backend:
    """The backend named in ``[store]``."""

    if settings.store.backend == "s3":
        if settings.store.s3 is None:
            raise StoreError(
                'store.backend = "s3" ですが [store.s3] がありません',
                'store.backend = "s3" but there is no [store.s3] section',
            )
        from akashi.store.backends.s3 import S3Backend  # noqa: PLC0415 - boto3 is slow to import; only an S3 store needs it

        return S3Backend(settings.store.s3, Path(spool_dir))
    return LocalBackend(settings.evidence_path)


class EvidenceStore:
    """The evidence store of one installation. Thread-safe; one per process."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.keys: InstallationKeys = load_keys(settings.keys_path)
        self.spool = Spool(settings.spool_path / "uploads", settings.store.retry_interval_s)
        self.backend: Backend = make_backend(settings, self.spool.dir)
        self.anchor = ledger.HeadAnchor(settings.home / HEAD_FILE)
        self.chunk_size = settings.store.chunk_kib * 1024
        self._flush_lock = threading.Lock()
        stale = self.spool.sweep_stale()
        if not self.backend.spools:
            stale += sweep_tmp(self.backend.staging_dir, 86400.0)
        if stale:
            log.info("removed %d temporary file(s) left by interrupted puts", stale)
        self.reader = ObjectReader(self.keys, self.spool, self.backend)

    # -- put --------------------------------------------------------------------------------------
    def put(
        self,
        stream: BinaryIO | Readable,
        *,
        kind: str,
        media_type: str,
        filename: str = "",
        site: str | None = None,
        meta: dict[str, Any] | None = None,
        retain_until: datetime | None = None,
    ) -> PutResult:
        """Encrypt ``stream`` into the store and ledger it. See the module docstring for durability."""
        row = self.seal(
            lambda path, enc: encrypt_to_file(stream, path, enc),
            kind=kind,
            media_type=media_type,
            filename=filename,
            meta=meta,
            retain_until=retain_until,
        )
        self.record([(row, site)])
        state = row.state
        if self.upload_now():
            state = self._state(row.id)
        return PutResult(row.id, row.sha256, row.size, state)

    def seal(
        self,
        write: Callable[[Path, Encryptor], Sealed],
        *,
        kind: str,
        media_type: str,
        filename: str = "",
        meta: dict[str, Any] | None = None,
        retain_until: datetime | None = None,
    ) -> EvidenceObject:
        """Encrypt one object into the backend (or the upload spool); the row that will record it.

        ``write(path, encryptor)`` writes the ciphertext to the new file ``path`` and fsyncs it (a stream
        through :func:`~akashi.store.pipeline.encrypt_to_file`, a finished file through
        :func:`~akashi.store.pipeline.encrypt_file`). Nothing stays behind when it fails. The row is in no
        session yet: :meth:`record` writes it with its ledger entry.
        """
        if retain_until is not None:
            if retain_until.tzinfo is None:
                raise ValueError("retain_until must be timezone-aware (UTC)")
            retain_until = retain_until.astimezone(UTC)  # the ledger records what the database returns
        oid = uuid.uuid4().hex
        key = object_key(oid)
        spools = self.backend.spools
        tmp = self.spool.tmp_path(oid) if spools else self.backend.staging_dir / f"{oid}.tmp"
        try:
            enc = Encryptor(self.keys.kek, self.keys.key_id, oid, self.chunk_size)
            sealed = write(tmp, enc)
            if spools:
                self.spool.seal(oid)
            else:
                self.backend.commit_file(key, tmp, retain_until=retain_until, legal_hold=False)
        except BaseException:
            tmp.unlink(missing_ok=True)
            if spools:
                self.spool.discard(oid)
            raise
        return EvidenceObject(
            id=oid,
            kind=kind,
            media_type=media_type,
            filename=filename,
            size=sealed.size,
            sha256=sealed.sha256,
            cipher_size=sealed.cipher_size,
            cipher_sha256=sealed.cipher_sha256,
            wrapped_key=enc.wrapped_key,
            key_id=self.keys.key_id,
            chunk_size=self.chunk_size,
            backend=self.backend.name,
            location=key,
            state="pending" if spools else "stored",
            created_at=utcnow(),
            retain_until=retain_until,
            legal_hold=False,
            meta=dict(meta or {}),
        )

    def record(
        self,
        sealed: Sequence[tuple[EvidenceObject, str | None]],
        extra: Callable[[Session], None] | None = None,
    ) -> None:
        """One transaction: the rows :meth:`seal` made (each with its site's name), their ledger ``put``
        entries (one chain lock, anchors moved once) and what ``extra(session)`` adds.

        When it fails its error is raised and no ciphertext of these objects stays behind as an
        unexplained object.
        """
        try:
            with session_scope(self.engine) as s:
                sites: dict[str, int | None] = {}
                entries: list[tuple[str, str, dict[str, Any], datetime | None]] = []
                for row, site in sealed:
                    if site and site not in sites:
                        sites[site] = site_id_for(s, site, label=site)
                    row.site_id = sites[site] if site else None
                    entries.append(("put", row.id, ledger.row_facts(row, site), row.created_at))
                s.add_all([row for row, _ in sealed])
                s.flush()
                ledger.append_entries(s, entries, anchor=self.anchor)
                if extra is not None:
                    extra(s)
        except BaseException:
            for row, _ in sealed:  # the database refused
                try:
                    self.spool.discard(row.id) if self.backend.spools else self.backend.delete(row.location)
                except Exception as err:
                    log.error("object %s not removed after a failed put: %s", row.id, err)
            raise

    def upload_now(self) -> bool:
        """After a put to a spooling backend: upload what is spooled unless uploads are backing off.

        True when it tried (the objects' states may have changed); an upload that fails is deferred.
        """
        if not self.backend.spools or self.spool.backing_off():
            return False
        try:
            self.flush_spool()
        except StoreError as err:
            log.warning("upload deferred: %s", err)
        return True

    def _state(self, oid: str) -> str:
        with session_scope(self.engine) as s:
            return s.scalar(select(EvidenceObject.state).where(EvidenceObject.id == oid)) or "missing"

    # -- spool ------------------------------------------------------------------------------------
    def flush_spool(self) -> int:
        """Upload pending objects oldest first; returns how many were uploaded now.

        Stops at the first unreachable-backend error (the rest stay spooled, nothing is lost);
        raises :class:`StoreError` for errors a person must fix (credentials, bucket).
        """
        if not self.backend.spools:
            return 0
        done = 0
        with self._flush_lock:
            with session_scope(self.engine) as s:
                pending = s.execute(
                    select(
                        EvidenceObject.id,
                        EvidenceObject.location,
                        EvidenceObject.cipher_size,
                        EvidenceObject.retain_until,
                        EvidenceObject.legal_hold,
                    )
                    .where(EvidenceObject.state == "pending")
                    .order_by(EvidenceObject.created_at, EvidenceObject.id)
                ).all()
            for oid, key, csize, retain_until, held in pending:
                path = self.spool.path(oid)
                try:
                    if path.exists():
                        self.backend.commit_file(key, path, retain_until=retain_until, legal_hold=held)
                    elif self.backend.size(key) != csize:
                        log.error("spooled object %s is neither in the spool nor in the backend", oid)
                        continue
                except BackendUnavailable as err:
                    self.spool.note_failure()
                    log.warning(
                        "backend unreachable, %d object(s) stay spooled: %s", len(pending) - done, err
                    )
                    break
                except StoreError:
                    self.spool.note_failure()  # needs a person: automatic flushes back off too
                    raise
                with session_scope(self.engine) as s:
                    s.execute(
                        update(EvidenceObject)
                        .where(EvidenceObject.id == oid, EvidenceObject.state == "pending")
                        .values(state="stored")
                    )
                done += 1
            else:
                self.spool.note_success()
        return done

    # -- read -------------------------------------------------------------------------------------
    def _row(self, s: Session, object_id: str) -> EvidenceObject:
        row = s.get(EvidenceObject, object_id)
        if row is None:
            raise NotFoundError(
                f"証拠オブジェクトがありません: {object_id}", f"no evidence object {object_id}"
            )
        return row

    def object_info(self, object_id: str) -> ObjectInfo:
        """The facts of one object; :class:`NotFoundError` when unknown."""
        with session_scope(self.engine) as s:
            row = self._row(s, object_id)
            site = s.get(Site, row.site_id).name if row.site_id else None  # type: ignore[union-attr]
            return ObjectInfo(
                row.id,
                row.kind,
                row.media_type,
                row.filename,
                row.size,
                row.sha256,
                row.cipher_size,
                row.cipher_sha256,
                row.state,
                site,
                row.created_at,
                row.retain_until,
                row.legal_hold,
                dict(row.meta),
                row.backend,
                row.location,
            )

    def raw_reader(
        self, object_id: str, state: str, key: str, block: int = READ_SIZE
    ) -> Callable[[int, int], Iterator[bytes]]:
        """A function reading stored bytes of an object: from the spool while pending, else the backend."""
        return self.reader.raw_reader(object_id, state, key, block)

    def raw_size(self, object_id: str, state: str, key: str) -> int | None:
        """Stored size (spool or backend), None when absent."""
        return self.reader.raw_size(object_id, state, key)

    def iter_plaintext(self, object_id: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Authenticated plaintext bytes ``[start, end)``; opens only the chunks the range needs.

        Raises :class:`IntegrityError` naming the object on any tampering or when it is missing.
        Every chunk is authenticated (and the last one as last), so the bytes are exactly those
        sealed under this object's key; the whole-object SHA-256 is re-checked by ``verify`` and
        by evidence packages, not on every playback.
        """
        with session_scope(self.engine) as s:
            row = self._row(s, object_id)
            state, key, size, csize, wrapped, psha = (
                row.state,
                row.location,
                row.size,
                row.cipher_size,
                row.wrapped_key,
                row.sha256,
            )
        if state in ("deleted", "deleting"):
            raise NotFoundError(
                f"証拠オブジェクト {object_id} は保存期間満了で削除済みです",
                f"evidence object {object_id} was deleted by retention",
            )
        end = size if end is None else min(end, size)
        if start < 0 or start > end:
            raise ValueError(f"bad range [{start}, {end}) for an object of {size} bytes")
        rec = StoredObject(object_id, state, key, size, csize, wrapped, psha)
        return self.reader.iter_range(rec, start, end)

    # -- hold / release -----------------------------------------------------------------------------
    def hold(self, object_id: str, *, reason: str, actor: str) -> None:
        """Put an object under legal hold: retention never deletes it until released."""
        self._set_hold(object_id, True, reason, actor)

    def release(self, object_id: str, *, reason: str, actor: str) -> None:
        """Release a legal hold."""
        self._set_hold(object_id, False, reason, actor)

    def _set_hold(self, object_id: str, on: bool, reason: str, actor: str) -> None:
        with session_scope(self.engine) as s:
            chain.lock_chain(s, "ledger")  # serialises with retention's re-check
            row = self._row(s, object_id)
            if row.state in ("deleted", "deleting"):
                raise StoreError(
                    f"削除済みの証拠 {object_id} は保全できません", f"evidence {object_id} is already deleted"
                )
            row.legal_hold = on
            ledger.append_entry(
                s,
                "hold" if on else "release",
                object_id,
                {"reason": reason, "actor": actor},
                anchor=self.anchor,
            )
            state, key = row.state, row.location
        if state == "stored":
            try:
                self.backend.set_legal_hold(key, on)
            except StoreError as err:
                log.warning("legal hold recorded in the ledger but not mirrored to storage: %s", err)

    # -- retention, verify --------------------------------------------------------------------------
    def apply_retention(self, now: datetime | None = None) -> list[str]:
        """Delete stored objects past ``retain_until`` that are not held; returns their ids."""
        from akashi.store.retention import apply_retention  # noqa: PLC0415 - allowed cycle in tests/test_import_graph.py: the facade calls down, the module takes an EvidenceStore

        return apply_retention(self, now)

    def verify(self, in_flight_grace_s: float = 10.0) -> VerifyReport:
        """Re-read and authenticate every object and check the ledger: a :class:`VerifyReport`.

        An object with no row is given ``in_flight_grace_s`` to be explained by a put committing.
        """
        from akashi.store.verify import verify_store  # noqa: PLC0415 - allowed cycle in tests/test_import_graph.py: the facade calls down, the module takes an EvidenceStore

        return verify_store(self, in_flight_grace_s)

    def accept_ledger_head(self) -> tuple[int, str] | None:
        """Re-anchor both head anchors on the ledger as it is now; returns the head (None if empty).

        Only for an administrator who restored a database backup on purpose: afterwards ``verify``
        no longer reports the rows the backup lacks as a removed tail. The caller audits it.
        """
        with session_scope(self.engine) as s:
            chain.lock_chain(s, "ledger")  # no append may slip between reading the head and anchoring
            head = ledger.reanchor_kv(s)
            if head is None:
                self.anchor.path.unlink(missing_ok=True)
            else:
                self.anchor.reset(*head)
        return head

    def close(self) -> None:
        """Release backend connections."""
        self.backend.close()
