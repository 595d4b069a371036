"""The S3 backend against a real ``rclone serve s3`` process: multipart, outages, spool, verify."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from akashi.db.base import utcnow
from akashi.errors import StoreError
from akashi.store.backends.base import BackendUnavailable
from akashi.store.evidence import EvidenceStore
from tests.store.conftest import RcloneS3, open_store, s3_env
from tests.store.helpers import WatchedStream

pytestmark = pytest.mark.s3
MiB = 1024 * 1024


@pytest.fixture
def s3_store(
    sqlite_home: Path, rclone_s3: RcloneS3, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EvidenceStore]:
    s3_env(monkeypatch, rclone_s3, AKASHI_STORE__S3__MULTIPART_THRESHOLD_MB="5",
           AKASHI_STORE__S3__MULTIPART_CHUNK_MB="5", AKASHI_STORE__RETRY_INTERVAL_S="600")  # fmt: skip
    st, engine = open_store(sqlite_home)
    yield st
    st.close()
    engine.dispose()  # type: ignore[attr-defined]


def digest_of(store: EvidenceStore, oid: str, start: int = 0, end: int | None = None) -> str:
    h = hashlib.sha256()
    for piece in store.iter_plaintext(oid, start, end):
        h.update(piece)
    return h.hexdigest()


def test_multipart_put_range_read_and_verify(s3_store: EvidenceStore, rclone_s3: RcloneS3) -> None:
    stream = WatchedStream(12 * MiB + 123)
    res = s3_store.put(stream, kind="camera_segment", media_type="video/mp4", site="kobe")
    assert res.state == "stored" and stream.max_read <= s3_store.chunk_size
    assert list(s3_store.spool.dir.iterdir()) == []
    [stored] = rclone_s3.objects()
    assert (
        stored.name == f"{res.object_id}.akev"
        and stored.stat().st_size == s3_store.object_info(res.object_id).cipher_size
    )
    assert digest_of(s3_store, res.object_id) == res.sha256
    small = s3_store.put(io.BytesIO(b"hello evidence"), kind="note", media_type="text/plain")
    assert b"".join(s3_store.iter_plaintext(small.object_id, 6, 14)) == b"evidence"
    assert (
        b"".join(s3_store.iter_plaintext(res.object_id, 3 * MiB - 5, 3 * MiB + 5))
        == b"".join(s3_store.iter_plaintext(res.object_id))[3 * MiB - 5 : 3 * MiB + 5]
    )
    assert s3_store.verify().ok
    blob = bytearray(stored.read_bytes())
    blob[7 * MiB] ^= 0x80
    stored.write_bytes(blob)
    problems = [(p.kind, p.object_id) for p in s3_store.verify().problems]
    assert problems == [("object_altered", res.object_id)]


def test_retention_deletes_from_the_bucket(s3_store: EvidenceStore, rclone_s3: RcloneS3) -> None:
    a = s3_store.put(
        io.BytesIO(b"a"), kind="x", media_type="x", retain_until=utcnow() - timedelta(1)
    ).object_id
    b = s3_store.put(
        io.BytesIO(b"b"), kind="x", media_type="x", retain_until=utcnow() - timedelta(1)
    ).object_id
    s3_store.hold(b, reason="case", actor="admin")
    assert s3_store.apply_retention() == [a]
    assert [p.name for p in rclone_s3.objects()] == [f"{b}.akev"]
    assert s3_store.verify().ok


def test_down_at_start_spools_then_flushes(s3_store: EvidenceStore, rclone_s3: RcloneS3) -> None:
    rclone_s3.stop()
    datas = [os.urandom(300_000) for _ in range(3)]
    results = [s3_store.put(io.BytesIO(d), kind="call_audio", media_type="audio/wav") for d in datas]
    assert [r.state for r in results] == ["pending"] * 3
    assert len(s3_store.spool.entries()) == 3
    # Pending evidence is readable (from the spool) and verifies; only the listing is unavailable.
    assert b"".join(s3_store.iter_plaintext(results[1].object_id)) == datas[1]
    assert {p.kind for p in s3_store.verify().problems} == {"backend_unreachable"}
    with pytest.raises(BackendUnavailable):
        s3_store.backend.size("00/x")
    rclone_s3.start()
    assert s3_store.flush_spool() == 3
    assert s3_store.spool.entries() == [] and len(rclone_s3.objects()) == 3
    for r, d in zip(results, datas, strict=True):
        assert s3_store.object_info(r.object_id).state == "stored"
        assert b"".join(s3_store.iter_plaintext(r.object_id)) == d
    assert s3_store.verify().ok


def test_down_mid_upload_loses_nothing(s3_store: EvidenceStore, rclone_s3: RcloneS3) -> None:
    first = s3_store.put(io.BytesIO(b"before the outage"), kind="x", media_type="x")
    client: Any = s3_store.backend._client  # type: ignore[attr-defined]
    real_upload = client.upload_file
    sent = [0]

    def upload(*args: Any, **kw: Any) -> Any:
        def progress(n: int) -> None:
            sent[0] += n
            if sent[0] >= 6 * MiB and rclone_s3.proc is not None:
                rclone_s3.stop()  # the server dies after the first part

        return real_upload(*args, **kw, Callback=progress)

    client.upload_file = upload
    data_stream = WatchedStream(16 * MiB)
    big = s3_store.put(data_stream, kind="camera_segment", media_type="video/mp4")
    assert big.state == "pending" and sent[0] >= 5 * MiB
    assert s3_store.spool.path(big.object_id).exists()
    later = s3_store.put(io.BytesIO(b"during the outage"), kind="x", media_type="x")
    assert later.state == "pending"  # backing off: not even tried
    client.upload_file = real_upload
    rclone_s3.start()
    assert s3_store.flush_spool() == 2
    assert digest_of(s3_store, big.object_id) == big.sha256
    assert b"".join(s3_store.iter_plaintext(later.object_id)) == b"during the outage"
    report = s3_store.verify()
    assert report.ok and report.checked == 3, report.to_text()
    assert first.state == "stored"


def test_wrong_secret_is_a_clear_error_and_keeps_the_spool(
    sqlite_home: Path, rclone_s3: RcloneS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3_env(monkeypatch, rclone_s3, AKASHI_STORE__S3__SECRET_KEY="wrong-secret-000000")
    st, engine = open_store(sqlite_home)
    try:
        res = st.put(io.BytesIO(b"kept safe"), kind="x", media_type="x")
        assert res.state == "pending"
        with pytest.raises(StoreError, match="refused") as err:
            st.flush_spool()
        assert "wrong-secret" not in str(err.value)
        assert st.spool.path(res.object_id).exists()
    finally:
        st.close()
        engine.dispose()  # type: ignore[attr-defined]


def test_endpoint_never_up_when_the_store_opens(
    sqlite_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = RcloneS3(tmp_path / "late-s3")  # not started: nothing listens on its port yet
    s3_env(monkeypatch, server)
    st, engine = open_store(sqlite_home)
    try:
        res = st.put(
            io.BytesIO(b"recorded while S3 was unreachable"), kind="call_audio", media_type="audio/wav"
        )
        assert res.state == "pending"
        server.start()
        assert st.flush_spool() == 1
        assert server.objects()[0].name == f"{res.object_id}.akev"
        assert st.verify().ok
    finally:
        server.stop()
        st.close()
        engine.dispose()  # type: ignore[attr-defined]
