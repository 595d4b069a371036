"""Reading stored objects back: raw ciphertext from the spool or the backend, and authenticated
plaintext ranges that open only the chunks they need.

:class:`ObjectReader` knows nothing of the database: the evidence store looks up an object's row,
checks the range, and hands the reader a :class:`StoredObject` with what the read needs. Opened
headers (and their data keys) are cached per object, so range playback costs one ranged read.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from akashi.errors import IntegrityError
from akashi.store.backends.base import Backend
from akashi.store.backends.local import read_file_range
from akashi.store.crypto import HEADER_LEN, TAG_LEN, ChunkOpener, CryptoError
from akashi.store.keys import InstallationKeys
from akashi.store.pipeline import exact_pieces, prefetch
from akashi.store.spool import Spool

READ_SIZE = 1024 * 1024
#: Objects whose opened header (and data key) stay cached for fast range playback.
OPENER_CACHE = 64


@dataclass(frozen=True)
class StoredObject:
    """What a read needs from an object row (copied out of the session)."""

    oid: str
    state: str
    key: str
    size: int
    csize: int
    wrapped: bytes
    sha256: str


class ObjectReader:
    """Reads the objects of one store: thread-safe, with a small cache of opened headers."""

    def __init__(self, keys: InstallationKeys, spool: Spool, backend: Backend) -> None:
        self.keys = keys
        self.spool = spool
        self.backend = backend
        self._cache_lock = threading.Lock()
        self._openers: OrderedDict[tuple[str, str, int, bytes], ChunkOpener] = OrderedDict()

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

    def _opener(self, rec: StoredObject, bad: Callable[[str, str], IntegrityError]) -> ChunkOpener:
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

    def iter_range(self, rec: StoredObject, start: int, end: int) -> Iterator[bytes]:
        """Authenticated plaintext ``[start, end)`` of an object; the caller has checked the range.

        Raises :class:`IntegrityError` naming the object on any tampering or when it is missing.
        """
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
