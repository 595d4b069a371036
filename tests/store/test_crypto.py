"""The chunked AES-256-GCM codec: round trips, random access, and every kind of tampering."""

from __future__ import annotations

import os
import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from akashi.store import crypto
from akashi.store.crypto import HEADER_LEN, TAG_LEN, ChunkOpener, CryptoError, Decryptor, Encryptor

KEK = bytes(range(32))
KID = "0123456789abcdef"
OID = "a" * 32
CS = 64


def seal(data: bytes, cs: int = CS, oid: str = OID) -> bytes:
    return crypto.encrypt_bytes(KEK, KID, oid, data, cs)


def open_all(blob: bytes, oid: str = OID) -> bytes:
    return crypto.decrypt_bytes(KEK, oid, blob)


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=700), cs=st.integers(16, 200), feed=st.integers(1, 300))
def test_round_trip_any_size_and_feed(data: bytes, cs: int, feed: int) -> None:
    enc = Encryptor(KEK, KID, OID, cs)
    out = bytearray(enc.header)
    for i in range(0, len(data), feed):
        for c in enc.update(data[i : i + feed]):
            out += c
    out += enc.finish()
    assert len(out) == crypto.cipher_size(len(data), cs)
    assert crypto.plain_size(len(out), cs) == len(data)
    dec = Decryptor(KEK, OID)
    got = bytearray()
    for i in range(0, len(out), feed):
        for p in dec.update(out[i : i + feed]):
            got += p
    got += dec.finish()
    assert bytes(got) == data


@settings(max_examples=40, deadline=None)
@given(data=st.binary(min_size=1, max_size=500), pos=st.integers(0, 10_000), bit=st.integers(0, 7))
def test_any_flipped_bit_is_detected(data: bytes, pos: int, bit: int) -> None:
    blob = bytearray(seal(data, 32))
    blob[pos % len(blob)] ^= 1 << bit
    with pytest.raises(CryptoError):
        open_all(bytes(blob))


def test_random_access_opens_single_chunks() -> None:
    data = os.urandom(CS * 5 + 7)
    blob = seal(data)
    op = ChunkOpener(KEK, blob[:HEADER_LEN], OID, len(blob))
    assert op.chunks == 6 and op.plain_size == len(data)
    for i in (3, 0, 5):
        a = op.chunk_offset(i)
        assert op.open(i, blob[a : a + op.sealed_len(i)]) == data[i * CS : (i + 1) * CS]


def test_reordered_chunks_are_detected() -> None:
    blob = seal(os.urandom(CS * 3 + 1))
    step = CS + TAG_LEN
    c0 = blob[HEADER_LEN : HEADER_LEN + step]
    c1 = blob[HEADER_LEN + step : HEADER_LEN + 2 * step]
    swapped = blob[:HEADER_LEN] + c1 + c0 + blob[HEADER_LEN + 2 * step :]
    with pytest.raises(CryptoError, match="chunk 0 failed"):
        open_all(swapped)


@pytest.mark.parametrize("size", [CS * 3, CS * 3 + 10])
def test_truncation_at_a_chunk_boundary_is_detected(size: int) -> None:
    blob = seal(os.urandom(size))
    step = CS + TAG_LEN
    cut = blob[: HEADER_LEN + 2 * step]  # drop the last chunk(s): chunk 1 was sealed as non-final
    with pytest.raises(CryptoError, match="last chunk 1 failed"):
        open_all(cut)
    with pytest.raises(CryptoError):
        ChunkOpener(KEK, blob[:HEADER_LEN], OID, len(cut)).open(1, cut[HEADER_LEN + step :])


def test_appended_chunk_is_detected() -> None:
    data = os.urandom(CS * 2)
    blob = seal(data)
    extra = seal(os.urandom(CS))[HEADER_LEN:]  # a valid-looking chunk from another object
    with pytest.raises(CryptoError):
        open_all(blob + extra)
    # Even a chunk of the same object, replayed at the end, does not open.
    with pytest.raises(CryptoError):
        open_all(blob + blob[HEADER_LEN : HEADER_LEN + CS + TAG_LEN])


def test_object_swap_and_wrong_key_are_detected() -> None:
    blob = seal(b"evidence")
    with pytest.raises(CryptoError, match="another object"):
        open_all(blob, oid="b" * 32)
    with pytest.raises(CryptoError, match="installation key"):
        crypto.decrypt_bytes(secrets.token_bytes(32), OID, blob)


def test_empty_object_is_one_final_chunk() -> None:
    blob = seal(b"")
    assert len(blob) == HEADER_LEN + TAG_LEN
    assert open_all(blob) == b""
    with pytest.raises(CryptoError, match="truncated"):
        open_all(blob[:HEADER_LEN])


def test_header_fields_are_checked() -> None:
    blob = seal(b"x")
    with pytest.raises(CryptoError, match="magic"):
        crypto.Header.parse(b"X" + blob[1:HEADER_LEN])
    with pytest.raises(CryptoError, match="version"):
        crypto.Header.parse(blob[:8] + b"\x09" + blob[9:HEADER_LEN])
    with pytest.raises(CryptoError, match="truncated"):
        crypto.Header.parse(blob[:20])
    assert crypto.Header.parse(blob).to_bytes() == blob[:HEADER_LEN]


def test_impossible_stored_sizes_are_refused() -> None:
    with pytest.raises(CryptoError):
        crypto.plain_size(HEADER_LEN + 5, CS)
    with pytest.raises(CryptoError):
        crypto.plain_size(HEADER_LEN + CS + TAG_LEN + 3, CS)
