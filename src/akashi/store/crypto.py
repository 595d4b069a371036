"""Sans-I/O chunked AES-256-GCM codec for evidence objects (bytes in, bytes out; no files, no sockets).

Stored object format, version 1 (all integers big-endian)::

    header (HEADER_LEN = 107 bytes)
      magic        8   b"AKASHEV1"
      version      1   1
      flags        1   0 (reserved)
      chunk_size   4   plaintext bytes per chunk (every chunk but the last is exactly this long)
      object_id   16   the object's id (32 hex digits in the database)
      key_id       8   first 8 bytes of the installation key id (which key-encryption key wrapped it)
      nonce_prefix 7   random, per object
      wrap_len     2   60
      wrapped_key 60   AES-256-GCM(KEK, nonce=12 random bytes, aad="akashi-dek"||object_id) of the
                       32-byte data key, stored as nonce || ciphertext || tag
    chunk 0 .. n-1
      ciphertext || 16-byte GCM tag, ciphertext as long as the plaintext chunk

Each chunk ``i`` is sealed with the object's own data key, nonce ``nonce_prefix || u32(i) || final``
(``final`` is 1 for the last chunk, else 0) and the whole header as associated data. This is the
STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár 2015): swapping or reordering chunks changes
the nonce, dropping chunks at the end leaves a last chunk sealed as non-final, appending a chunk
leaves a non-last chunk sealed as final, and any edit of the header (object id, chunk size, wrapped
key) breaks every tag. There is always at least one chunk: an empty object is one empty final chunk.
A plaintext of ``p`` bytes has ``n = max(1, ceil(p / chunk_size))`` chunks and a stored size of
``HEADER_LEN + p + 16 * n`` bytes, so a plaintext offset maps to a stored offset without reading.
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"AKASHEV1"
VERSION = 1
TAG_LEN = 16
NONCE_PREFIX_LEN = 7
WRAP_LEN = 12 + 32 + TAG_LEN
_HEADER = struct.Struct(">8sBBI16s8s7sH")
HEADER_LEN = _HEADER.size + WRAP_LEN
MIN_CHUNK = 16
MAX_CHUNK = 64 * 1024 * 1024


class CryptoError(ValueError):
    """An object failed authentication or its header is malformed; ``chunk`` names where (or None)."""

    def __init__(self, message: str, chunk: int | None = None) -> None:
        self.chunk = chunk
        super().__init__(message)


@dataclass(frozen=True)
class Header:
    """The parsed (not yet authenticated) header of a stored object."""

    chunk_size: int
    object_id: bytes
    key_id: bytes
    nonce_prefix: bytes
    wrapped_key: bytes

    def to_bytes(self) -> bytes:
        """The header exactly as stored."""
        return (
            _HEADER.pack(
                MAGIC,
                VERSION,
                0,
                self.chunk_size,
                self.object_id,
                self.key_id,
                self.nonce_prefix,
                len(self.wrapped_key),
            )
            + self.wrapped_key
        )

    @classmethod
    def parse(cls, data: bytes) -> Header:
        """Parse the first :data:`HEADER_LEN` bytes; raises :class:`CryptoError` naming the bad field."""
        if len(data) < HEADER_LEN:
            raise CryptoError(f"header truncated: {len(data)} of {HEADER_LEN} bytes")
        magic, version, flags, chunk_size, oid, kid, prefix, wlen = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise CryptoError("header: bad magic (not an Akashi evidence object)")
        if version != VERSION:
            raise CryptoError(f"header: unsupported version {version}")
        if flags != 0:
            raise CryptoError(f"header: unknown flags {flags:#x}")
        if not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
            raise CryptoError(f"header: chunk_size {chunk_size} out of range")
        if wlen != WRAP_LEN:
            raise CryptoError(f"header: wrap_len {wlen} != {WRAP_LEN}")
        wrapped = bytes(data[_HEADER.size : HEADER_LEN])
        return cls(chunk_size, oid, kid, prefix, wrapped)


def object_id_bytes(object_id: str) -> bytes:
    """The 16 raw bytes of a 32-hex-digit object id."""
    raw = bytes.fromhex(object_id)
    if len(raw) != 16:
        raise ValueError(f"object id must be 32 hex digits: {object_id!r}")
    return raw


def key_id_bytes(key_id: str) -> bytes:
    """The 8 bytes of a key id stored in headers."""
    return bytes.fromhex(key_id)[:8]


def wrap_key(kek: bytes, dek: bytes, object_id: bytes) -> bytes:
    """Wrap a data key under the key-encryption key, bound to the object id."""
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(kek).encrypt(nonce, dek, b"akashi-dek" + object_id)


def unwrap_key(kek: bytes, wrapped: bytes, object_id: bytes) -> bytes:
    """Unwrap a data key; :class:`CryptoError` when the key, the object id or the blob is wrong."""
    if len(wrapped) != WRAP_LEN:
        raise CryptoError("wrapped key has the wrong length")
    try:
        return AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], b"akashi-dek" + object_id)
    except InvalidTag:
        raise CryptoError("wrapped data key does not open with this installation key") from None


def chunk_count(plain_size: int, chunk_size: int) -> int:
    """Number of chunks for a plaintext of ``plain_size`` bytes (at least one)."""
    return max(1, -(-plain_size // chunk_size))


def cipher_size(plain_size: int, chunk_size: int) -> int:
    """Stored size of a plaintext of ``plain_size`` bytes."""
    return HEADER_LEN + plain_size + TAG_LEN * chunk_count(plain_size, chunk_size)


def plain_size(stored_size: int, chunk_size: int) -> int:
    """Plaintext size from the stored size; :class:`CryptoError` when no plaintext gives that size."""
    body = stored_size - HEADER_LEN
    if body < TAG_LEN:
        raise CryptoError(f"stored size {stored_size} is too small for any object")
    full, rest = divmod(body, chunk_size + TAG_LEN)
    if rest == 0:
        size = full * chunk_size
    elif rest >= TAG_LEN:
        size = full * chunk_size + rest - TAG_LEN
    else:
        raise CryptoError(f"stored size {stored_size} does not end on a chunk (truncated or extended)")
    if cipher_size(size, chunk_size) != stored_size:
        raise CryptoError(f"stored size {stored_size} is not a valid object length")
    return size


def _nonce(prefix: bytes, index: int, final: bool) -> bytes:
    return prefix + struct.pack(">IB", index, 1 if final else 0)


Buffer = bytes | bytearray | memoryview


class _Chunker:
    """Cuts a byte stream into ``step``-sized pieces, always holding back the last 1..step bytes.

    The held-back piece may be the last of the object, so it is only released by the next byte or
    by :meth:`rest`. Whole pieces of the caller's buffer are passed on as views, not copied.
    """

    def __init__(self, step: int) -> None:
        self.step = step
        self.tail: Buffer = b""

    def feed(self, data: Buffer) -> Iterator[Buffer]:
        """Yield every piece now known not to be the last (each valid until the next call)."""
        view = memoryview(data)
        if not view:
            return
        step, pos = self.step, 0
        if self.tail:
            if len(self.tail) < step:
                if not isinstance(self.tail, bytearray):
                    self.tail = bytearray(self.tail)
                need = step - len(self.tail)
                self.tail += view[:need]
                pos = min(need, len(view))
                if pos == len(view):
                    return
            yield self.tail
            self.tail = b""
        while len(view) - pos > step:
            yield view[pos : pos + step]
            pos += step
        self.tail = data if pos == 0 and isinstance(data, bytes) else bytes(view[pos:])

    def rest(self) -> Buffer:
        """The held-back piece (possibly empty); the chunker is empty afterwards."""
        tail, self.tail = self.tail, b""
        return tail


class Encryptor:
    """Streaming encryptor: ``header``, then ``update()`` chunks as bytes arrive, then ``finish()``.

    Holds at most one chunk of plaintext. Output chunks are ready to write in order.
    """

    def __init__(self, kek: bytes, key_id: str, object_id: str, chunk_size: int) -> None:
        if not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
            raise ValueError(f"chunk_size {chunk_size} out of range")
        oid = object_id_bytes(object_id)
        dek = AESGCM.generate_key(bit_length=256)
        self._aead = AESGCM(dek)
        self.wrapped_key = wrap_key(kek, dek, oid)
        self.chunk_size = chunk_size
        self._hdr = Header(
            chunk_size, oid, key_id_bytes(key_id), secrets.token_bytes(NONCE_PREFIX_LEN), self.wrapped_key
        )
        self.header = self._hdr.to_bytes()
        self._chunker = _Chunker(chunk_size)
        self._index = 0
        self._done = False

    def _seal(self, data: Buffer, final: bool) -> bytes:
        out = self._aead.encrypt(_nonce(self._hdr.nonce_prefix, self._index, final), data, self.header)
        self._index += 1
        return out

    def update(self, data: Buffer) -> Iterator[bytes]:
        """Feed plaintext; yields every sealed chunk that is now complete (never the last one)."""
        if self._done:
            raise ValueError("encryptor already finished")
        for piece in self._chunker.feed(data):
            yield self._seal(piece, False)

    def finish(self) -> bytes:
        """Seal the last chunk (possibly empty) and return it."""
        if self._done:
            raise ValueError("encryptor already finished")
        self._done = True
        return self._seal(self._chunker.rest(), True)

    def seal_into(self, data: Buffer, final: bool, out: memoryview) -> memoryview:
        """Seal the next chunk into ``out`` (exactly ``len(data) + TAG_LEN`` bytes), for a caller that
        cuts the chunks itself (it knows the size): every chunk but the final one is ``chunk_size``
        long. No buffer is allocated, so a file is sealed in the caller's reused buffers."""
        if self._done:
            raise ValueError("encryptor already finished")
        if len(data) > self.chunk_size or (not final and len(data) != self.chunk_size):
            raise ValueError(f"chunk of {len(data)} bytes: only the final chunk may be short")
        if self._chunker.tail:
            raise ValueError("seal_into after update: bytes are held back")
        self._aead.encrypt_into(_nonce(self._hdr.nonce_prefix, self._index, final), data, self.header, out)
        self._index += 1
        self._done = final
        return out


class ChunkOpener:
    """Opens individual chunks of one object (random access); needs the object's chunk count."""

    def __init__(self, kek: bytes, header_bytes: bytes, object_id: str, stored_size: int) -> None:
        self.header = Header.parse(header_bytes)
        self._hdr_bytes = bytes(header_bytes[:HEADER_LEN])
        oid = object_id_bytes(object_id)
        if self.header.object_id != oid:
            raise CryptoError("header names another object (object swapped)")
        self._aead = AESGCM(unwrap_key(kek, self.header.wrapped_key, oid))
        self.chunk_size = self.header.chunk_size
        self.plain_size = plain_size(stored_size, self.chunk_size)
        self.chunks = chunk_count(self.plain_size, self.chunk_size)

    def chunk_offset(self, index: int) -> int:
        """Stored offset of chunk ``index``."""
        return HEADER_LEN + index * (self.chunk_size + TAG_LEN)

    def sealed_len(self, index: int) -> int:
        """Stored length of chunk ``index``."""
        if index < self.chunks - 1:
            return self.chunk_size + TAG_LEN
        return self.plain_size - (self.chunks - 1) * self.chunk_size + TAG_LEN

    def open(self, index: int, sealed: bytes) -> bytes:
        """Authenticate and decrypt chunk ``index``."""
        if not 0 <= index < self.chunks:
            raise CryptoError(f"chunk {index} out of range", index)
        if len(sealed) != self.sealed_len(index):
            raise CryptoError(
                f"chunk {index} has {len(sealed)} bytes, expected {self.sealed_len(index)}", index
            )
        final = index == self.chunks - 1
        try:
            return self._aead.decrypt(_nonce(self.header.nonce_prefix, index, final), sealed, self._hdr_bytes)
        except InvalidTag:
            raise CryptoError(f"chunk {index} failed authentication", index) from None


class Decryptor:
    """Streaming decryptor for a whole object whose length is not known in advance.

    ``update()`` yields authenticated plaintext; one sealed chunk is held back until the next byte
    (or ``finish()``) shows whether it is the last. ``finish()`` fails on truncation.
    """

    def __init__(self, kek: bytes, object_id: str) -> None:
        self._kek = kek
        self._oid = object_id_bytes(object_id)
        self._hbuf = bytearray()
        self._aead: AESGCM | None = None
        self._hdr: Header | None = None
        self._hdr_bytes = b""
        self._chunker: _Chunker | None = None
        self._index = 0
        self.plain_size = 0

    def _open(self, sealed: Buffer, final: bool) -> bytes:
        assert self._aead is not None and self._hdr is not None
        nonce = _nonce(self._hdr.nonce_prefix, self._index, final)
        try:
            out = self._aead.decrypt(nonce, sealed, self._hdr_bytes)
        except InvalidTag:
            what = "last chunk" if final else "chunk"
            raise CryptoError(f"{what} {self._index} failed authentication", self._index) from None
        self._index += 1
        self.plain_size += len(out)
        return out

    def update(self, data: Buffer) -> Iterator[bytes]:
        """Feed stored bytes; yields plaintext of every chunk known not to be the last."""
        view = memoryview(data)
        if self._chunker is None:
            need = HEADER_LEN - len(self._hbuf)
            self._hbuf += view[:need]
            view = view[need:]
            if len(self._hbuf) < HEADER_LEN:
                return
            self._hdr_bytes = bytes(self._hbuf)
            self._hdr = Header.parse(self._hdr_bytes)
            if self._hdr.object_id != self._oid:
                raise CryptoError("header names another object (object swapped)")
            self._aead = AESGCM(unwrap_key(self._kek, self._hdr.wrapped_key, self._oid))
            self._chunker = _Chunker(self._hdr.chunk_size + TAG_LEN)
            data = view if len(view) != len(data) else data
        for sealed in self._chunker.feed(data):
            yield self._open(sealed, False)

    def finish(self) -> bytes:
        """Open the held-back last chunk; :class:`CryptoError` if the object ended early."""
        if self._chunker is None:
            raise CryptoError(f"object truncated inside its header ({len(self._hbuf)} bytes)")
        rest = self._chunker.rest()
        if len(rest) < TAG_LEN:
            raise CryptoError(
                f"object truncated: last chunk {self._index} has {len(rest)} bytes", self._index
            )
        return self._open(rest, True)


def encrypt_bytes(kek: bytes, key_id: str, object_id: str, data: bytes, chunk_size: int) -> bytes:
    """Whole-buffer helper (tests, small objects)."""
    enc = Encryptor(kek, key_id, object_id, chunk_size)
    return enc.header + b"".join(enc.update(data)) + enc.finish()


def decrypt_bytes(kek: bytes, object_id: str, blob: bytes) -> bytes:
    """Whole-buffer helper (tests, small objects)."""
    dec = Decryptor(kek, object_id)
    return b"".join(dec.update(blob)) + dec.finish()
