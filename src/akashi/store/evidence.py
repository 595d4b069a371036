"""The evidence store: put a stream, read it back authenticated, hold, release, retain, verify.

Every object is encrypted with its own data key (see :mod:`akashi.store.crypto` for the format)
while it is read from the caller's stream, so memory stays at about one chunk whatever the size.
The object row and its ledger ``put`` entry are written in one transaction after the ciphertext is
durable: on the local backend after fsync and rename, on S3 after it is in the spool (the upload
follows, now or later from :meth:`EvidenceStore.flush_spool`).
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, BinaryIO

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from akashi.config import Settings
from akashi.db import chain
from akashi.db.base import session_scope, utcnow
from akashi.db.models import EvidenceObject, Site
from akashi.db.queries import site_id_for
from akashi.errors import IntegrityError, NotFoundError, StoreError
from akashi.store import ledger
from akashi.store.backends.base import Backend, BackendUnavailable, object_key
from akashi.store.backends.local import LocalBackend, read_file_range
from akashi.store.crypto import HEADER_LEN, TAG_LEN, ChunkOpener, CryptoError, Encryptor
from akashi.store.keys import InstallationKeys, load_keys
from akashi.store.pipeline import Readable, encrypt_to_file, exact_pieces, prefetch
from akashi.store.spool import Spool, sweep_tmp

if TYPE_CHECKING:
    from akashi.store.verify_report import VerifyReport

log = logging.getLogger(__name__)
READ_SIZE = 1024 * 1024
#: Objects whose opened header (and data key) stay cached for fast range playback.
OPENER_CACHE = 64

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


@dataclass(frozen=True)
class _Rec:
    """What a read needs from an object row (copied out of the session)."""

    oid: str
    state: str
    key: str
    size: int
    csize: int
    wrapped: bytes
    sha256: str


def make_backend(settings: Settings, spool_dir: os.PathLike[str] | str) -> Backend:
    """The backend named in ``[store]``."""
    from pathlib import Path

    if settings.store.backend == "s3":
        if settings.store.s3 is None:
            raise StoreError(
                'store.backend = "s3" ですが [store.s3] がありません',
                'store.backend = "s3" but there is no [store.s3] section',
            )
        from akashi.store.backends.s3 import S3Backend

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
        self._cache_lock = threading.Lock()
        stale = self.spool.sweep_stale()
        if not self.backend.spools:
            stale += sweep_tmp(self.backend.staging_dir, 86400.0)
        if stale:
            log.info("removed %d temporary file(s) left by interrupted puts", stale)
        self._openers: OrderedDict[tuple[str, str, int, bytes], ChunkOpener] = OrderedDict()

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
        if retain_until is not None:
            if retain_until.tzinfo is None:
                raise ValueError("retain_until must be timezone-aware (UTC)")
            retain_until = retain_until.astimezone(UTC)  # the ledger records what the database returns
        oid = uuid.uuid4().hex
        key = object_key(oid)
        spools = self.backend.spools
        tmp = self.spool.tmp_path(oid) if spools else self.backend.staging_dir / f"{oid}.tmp"
        try:
            size, sha, csize, csha, wrapped = self._encrypt_to(stream, tmp, oid)
            if spools:
                self.spool.seal(oid)
            else:
                self.backend.commit_file(key, tmp, retain_until=retain_until, legal_hold=False)
        except BaseException:
            tmp.unlink(missing_ok=True)
            if spools:
                self.spool.discard(oid)
            raise
        row = EvidenceObject(
            id=oid,
            kind=kind,
            media_type=media_type,
            filename=filename,
            size=size,
            sha256=sha,
            cipher_size=csize,
            cipher_sha256=csha,
            wrapped_key=wrapped,
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
        try:
            with session_scope(self.engine) as s:
                row.site_id = site_id_for(s, site, label=site) if site else None
                s.add(row)
                s.flush()
                ledger.append_entry(
                    s, "put", oid, ledger.row_facts(row, site), ts=row.created_at, anchor=self.anchor
                )
        except BaseException:
            # The database refused: the ciphertext must not stay behind as an unexplained object.
            if spools:
                self.spool.discard(oid)
            else:
                self.backend.delete(key)
            raise
        state = row.state
        if spools and not self.spool.backing_off():
            try:
                self.flush_spool()
            except StoreError as err:
                log.warning("upload deferred: %s", err)
            state = self._state(oid)
        return PutResult(oid, sha, size, state)

    def _encrypt_to(
        self, stream: BinaryIO | Readable, path: os.PathLike[str], oid: str
    ) -> tuple[int, str, int, str, bytes]:
        enc = Encryptor(self.keys.kek, self.keys.key_id, oid, self.chunk_size)
        r = encrypt_to_file(stream, path, enc)
        return r.size, r.sha256, r.cipher_size, r.cipher_sha256, enc.wrapped_key

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
        if state == "pending":
            path = self.spool.path(object_id)
            if path.exists():
                return lambda a, b: read_file_range(path, a, b, block)
        return lambda a, b: self.backend.read_range(key, a, b, block)

    def raw_size(self, object_id: str, state: str, key: str) -> int | None:
        """Stored size (spool or backend), None when absent."""
        if state == "pending":
            path = self.spool.path(object_id)
            if path.exists():
                return path.stat().st_size
        return self.backend.size(key)

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
        rec = _Rec(object_id, state, key, size, csize, wrapped, psha)
        return self._iter_range(rec, start, end)

    def _opener(self, rec: _Rec, bad: Callable[[str, str], IntegrityError]) -> ChunkOpener:
        """The chunk opener of an object: checks its stored size and header once, then cached.

        Objects never change, and every chunk read later is still authenticated against the cached
        header, so a cache hit skips two round trips (HEAD and header GET) without trusting anything.
        """
        ck = (rec.oid, rec.state, rec.csize, rec.wrapped)
        with self._cache_lock:
            hit = self._openers.get(ck)
            if hit is not None:
                self._openers.move_to_end(ck)
                return hit
        oid, state, key = rec.oid, rec.state, rec.key
        stored = self.raw_size(oid, state, key)
        if stored is None:
            raise bad("保存先にありません", "missing from the store")
        if stored != rec.csize:
            raise bad(
                f"サイズが違います（{stored} ≠ {rec.csize}）", f"stored size {stored} != recorded {rec.csize}"
            )
        try:
            header = b"".join(self.raw_reader(oid, state, key)(0, HEADER_LEN))
            opener = ChunkOpener(self.keys.kek, header, oid, rec.csize)
        except FileNotFoundError:
            raise bad("保存先にありません", "missing from the store") from None
        except CryptoError as err:
            raise bad(str(err), str(err)) from None
        if opener.header.wrapped_key != rec.wrapped:
            raise bad("鍵が記録と違います", "wrapped key differs from the record")
        with self._cache_lock:
            self._openers[ck] = opener
            while len(self._openers) > OPENER_CACHE:
                self._openers.popitem(last=False)
        return opener

    def _iter_range(self, rec: _Rec, start: int, end: int) -> Iterator[bytes]:
        oid, state, key, size = rec.oid, rec.state, rec.key, rec.size

        def bad(why_ja: str, why_en: str) -> IntegrityError:
            return IntegrityError(
                f"証拠オブジェクト {oid} の検証に失敗: {why_ja}",
                f"evidence object {oid} failed verification: {why_en}",
            )

        opener = self._opener(rec, bad)
        first = start // opener.chunk_size
        last = max(first, (end - 1) // opener.chunk_size) if end > start else first
        if end == start and size != 0:
            return
        a, b = opener.chunk_offset(first), opener.chunk_offset(last) + opener.sealed_len(last)
        sizes = (opener.sealed_len(i) for i in range(first, last + 1))
        try:
            chunks = self.raw_reader(oid, state, key, opener.chunk_size + TAG_LEN)(a, b)
            if self.backend.spools and state != "pending":
                # Remote reads: fetch ahead over the network while this thread decrypts. Local files
                # are read in line: a reader thread racing the caller's writes measured slower.
                chunks = prefetch(chunks)
            for i, sealed in enumerate(exact_pieces(chunks, sizes), start=first):
                plain = opener.open(i, sealed)
                lo = start - i * opener.chunk_size if i == first else 0
                hi = end - i * opener.chunk_size if i == last else len(plain)
                yield plain[lo:hi]
        except FileNotFoundError:
            raise bad("保存先にありません", "missing from the store") from None
        except CryptoError as err:
            raise bad(str(err), str(err)) from None

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
        from akashi.store.retention import apply_retention

        return apply_retention(self, now)

    def verify(self, in_flight_grace_s: float = 10.0) -> VerifyReport:
        """Re-read and authenticate every object and check the ledger: a :class:`VerifyReport`.

        An object with no row is given ``in_flight_grace_s`` to be explained by a put committing.
        """
        from akashi.store.verify import verify_store

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
