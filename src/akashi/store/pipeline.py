"""Streaming plumbing of the store: encrypt a stream into a file on two threads, regroup read bytes.

Encryption and the plaintext hash run on the caller's thread; the ciphertext hash and the file
writes run on a writer thread. SHA-256 and file I/O release the GIL, so the two overlap on
separate cores; the queue between them is bounded, so memory stays at a few chunks.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from akashi.store.crypto import HEADER_LEN, TAG_LEN, Encryptor, chunk_count

QUEUE_CHUNKS = 4


class Readable(Protocol):
    """What ``put`` reads from: any binary stream with ``read(n)`` (files, sockets' makefile, pipes)."""

    def read(self, size: int = -1, /) -> bytes | None:
        """Up to ``size`` bytes; ``b""`` at the end."""
        ...


@dataclass(frozen=True)
class Sealed:
    """What :func:`encrypt_to_file` wrote."""

    size: int
    sha256: str
    cipher_size: int
    cipher_sha256: str


class _Writer(threading.Thread):
    """Hashes and writes sealed chunks in order; after an error it drains without writing."""

    def __init__(self, fd: int) -> None:
        super().__init__(name="akashi-store-writer", daemon=True)
        self.fd = fd
        self.q: queue.Queue[bytes | None] = queue.Queue(QUEUE_CHUNKS)
        self.sha = hashlib.sha256()
        self.size = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        while (item := self.q.get()) is not None:
            if self.error is not None:
                continue
            try:
                self.sha.update(item)
                view = memoryview(item)
                while view:
                    view = view[os.write(self.fd, view) :]
                self.size += len(item)
            except BaseException as err:  # handed to the caller's thread
                self.error = err


def encrypt_to_file(stream: Readable, path: os.PathLike[str] | str, enc: Encryptor) -> Sealed:
    """Encrypt ``stream`` into a new file at ``path`` (must not exist), fsync it, return sizes and hashes."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    writer = _Writer(fd)
    writer.start()
    psha = hashlib.sha256()
    size = 0
    try:
        writer.q.put(enc.header)
        while writer.error is None:
            data = stream.read(enc.chunk_size)
            if data is None:  # a non-blocking stream with nothing ready: not an end of recording
                raise ValueError("put needs a blocking stream (read returned None)")
            if not data:
                writer.q.put(enc.finish())
                break
            psha.update(data)
            size += len(data)
            for sealed in enc.update(data):
                writer.q.put(sealed)
    finally:
        writer.q.put(None)
        writer.join()
        try:
            if writer.error is None:
                os.fsync(fd)
        finally:
            os.close(fd)
    if writer.error is not None:
        raise writer.error
    return Sealed(size, psha.hexdigest(), writer.size, writer.sha.hexdigest())


_buffers = threading.local()


def _reused(size: int) -> tuple[memoryview, memoryview]:
    """This thread's plaintext and ciphertext buffers for chunks of ``size`` (fresh large buffers
    cost page faults on every use: reused, a file is read and sealed without allocating)."""
    bufs: tuple[int, memoryview, memoryview] | None = getattr(_buffers, "bufs", None)
    if bufs is None or bufs[0] != size:
        bufs = (size, memoryview(bytearray(size)), memoryview(bytearray(size + TAG_LEN)))
        _buffers.bufs = bufs
    return bufs[1], bufs[2]


class FileLike(Protocol):
    """A finished file opened for reading (``open(path, "rb", buffering=0)``)."""

    def fileno(self) -> int: ...
    def tell(self) -> int: ...
    def read(self, size: int = -1, /) -> bytes | None: ...
    def readinto(self, buffer: memoryview, /) -> int | None: ...


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        view = view[os.write(fd, view) :]


def encrypt_file(src: FileLike, path: os.PathLike[str] | str, enc: Encryptor) -> Sealed:
    """Encrypt the rest of the finished file ``src`` into a new file at ``path`` (must not exist) on this
    thread, in reused buffers; fsync it. The same bytes as :func:`encrypt_to_file` would write.

    For files that no longer change (a closed segment): its size is read first and must still hold at
    the end, else :class:`ValueError`.
    """
    size = os.fstat(src.fileno()).st_size - src.tell()
    cs = enc.chunk_size
    n = chunk_count(size, cs)
    inbuf, outbuf = _reused(cs)
    psha, csha = hashlib.sha256(), hashlib.sha256()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    written = 0
    try:
        pieces: list[memoryview] = [memoryview(enc.header)]
        for i in range(n):
            want = cs if i < n - 1 else size - (n - 1) * cs
            view = inbuf[:want]
            got = 0
            while got < want:
                k = src.readinto(view[got:])
                if not k:
                    raise ValueError(f"file shrank while it was stored ({written} of {size} bytes)")
                got += k
            psha.update(view)
            pieces.append(enc.seal_into(view, i == n - 1, outbuf[: want + TAG_LEN]))
            for piece in pieces:
                csha.update(piece)
                _write_all(fd, piece)
            pieces = []
            written += want
        if src.read(1):
            raise ValueError(f"file grew while it was stored (past {size} bytes)")
        os.fsync(fd)
    finally:
        os.close(fd)
    return Sealed(size, psha.hexdigest(), HEADER_LEN + size + TAG_LEN * n, csha.hexdigest())


def exact_pieces(stream: Iterator[bytes], sizes: Iterator[int]) -> Iterator[bytes]:
    """Regroup a byte stream into pieces of the given sizes; a short last piece means the stream ended."""
    buf = bytearray()
    for want in sizes:
        if not buf:
            data = next(stream, None)
            if data is None:
                yield b""
                return
            if len(data) == want:  # the common case: the reader already reads whole chunks
                yield data
                continue
            buf += data
        while len(buf) < want:
            data = next(stream, None)
            if data is None:
                yield bytes(buf)
                return
            buf += data
        piece = bytes(buf[:want])
        del buf[:want]
        yield piece


_END = object()


def prefetch(source: Iterable[bytes], depth: int = 2) -> Iterator[bytes]:
    """Iterate ``source`` on a helper thread, ``depth`` items ahead (reads overlap decryption).

    Exceptions of ``source`` are raised here, in order; closing this generator stops the thread.
    """
    q: queue.Queue[object] = queue.Queue(depth)
    stop = threading.Event()

    def pump() -> None:
        try:
            for item in source:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(_END)
        except BaseException as err:  # handed to the consumer
            q.put(err)

    thread = threading.Thread(target=pump, name="akashi-store-prefetch", daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                q.get_nowait()
        thread.join(5)
