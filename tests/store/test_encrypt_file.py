"""encrypt_file (a finished file, reused buffers) writes what the streaming encryptor writes, and opens."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from akashi.store.crypto import HEADER_LEN, ChunkOpener, Encryptor, cipher_size
from akashi.store.pipeline import encrypt_file, encrypt_to_file

KEK = bytes(range(32))
OID = "ab" * 16


def _decrypt(data: bytes) -> bytes:
    opener = ChunkOpener(KEK, data[:HEADER_LEN], OID, len(data))
    return b"".join(
        opener.open(i, data[opener.chunk_offset(i) : opener.chunk_offset(i) + opener.sealed_len(i)])
        for i in range(opener.chunks)
    )


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 64, 65, 1000])
def test_encrypt_file_matches_the_stream_path_and_opens(tmp_path: Path, size: int) -> None:
    plain = os.urandom(size)
    src = tmp_path / "plain"
    src.write_bytes(plain)
    enc = Encryptor(KEK, "cd" * 16, OID, 16)
    with open(src, "rb", buffering=0) as f:
        sealed = encrypt_file(f, tmp_path / "a.enc", enc)
    data = (tmp_path / "a.enc").read_bytes()
    assert len(data) == sealed.cipher_size == cipher_size(size, 16)
    assert sealed.size == size
    assert _decrypt(data) == plain
    # The streaming path gives the same sizes and plaintext hash (its keys and nonces are its own).
    with open(src, "rb") as f:
        stream = encrypt_to_file(f, tmp_path / "b.enc", Encryptor(KEK, "cd" * 16, OID, 16))
    assert (stream.size, stream.sha256, stream.cipher_size) == (
        sealed.size,
        sealed.sha256,
        sealed.cipher_size,
    )
    assert hashlib.sha256(data).hexdigest() == sealed.cipher_sha256


def test_a_file_that_grows_while_stored_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "plain"
    src.write_bytes(b"x" * 40)
    real_fstat = os.fstat
    with open(src, "rb", buffering=0) as f, open(src, "ab") as w:

        def fstat_then_grow(fd: int) -> os.stat_result:
            st = real_fstat(fd)
            if not w.closed and not f.closed and fd == f.fileno():
                w.write(b"y")  # the file grows after its size was read
                w.flush()
            return st

        monkeypatch.setattr(os, "fstat", fstat_then_grow)
        with pytest.raises(ValueError, match="grew"):
            encrypt_file(f, tmp_path / "a.enc", Encryptor(KEK, "cd" * 16, OID, 16))
