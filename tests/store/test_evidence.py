"""Put, read, hold, retention and verify on the local backend, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import stat
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from akashi.config import load_settings
from akashi.db.base import make_engine, utcnow
from akashi.errors import IntegrityError, NotFoundError, StoreError
from akashi.store import ledger
from akashi.store.backends.base import object_key
from akashi.store.evidence import EvidenceStore
from akashi.store.keys import KEK_FILE
from tests.store.helpers import WatchedStream, sql


def put_bytes(store: EvidenceStore, data: bytes, **kw: object) -> str:
    res = store.put(io.BytesIO(data), kind=str(kw.pop("kind", "call_audio")), media_type="audio/wav", **kw)  # type: ignore[arg-type]
    assert res.sha256 == hashlib.sha256(data).hexdigest() and res.size == len(data)
    return res.object_id


def obj_path(store: EvidenceStore, oid: str) -> Path:
    return store.settings.evidence_path / object_key(oid)


def kinds(store: EvidenceStore) -> set[tuple[str, str | None]]:
    return {(p.kind, p.object_id) for p in store.verify().problems}


def test_put_streams_and_reads_back(store: EvidenceStore) -> None:
    store.chunk_size = 4096
    stream = WatchedStream(50_000)
    res = store.put(stream, kind="call_audio", media_type="audio/wav", filename="a.wav", site="tokyo",
                    meta={"call": 7})  # fmt: skip
    assert res.state == "stored" and res.size == 50_000
    assert stream.max_read <= 4096
    data = b"".join(store.iter_plaintext(res.object_id))
    assert hashlib.sha256(data).hexdigest() == res.sha256
    for a, b in [(0, 1), (4095, 4097), (8192, 8192), (12_000, 31_000), (49_999, 50_000), (100, None)]:
        assert b"".join(store.iter_plaintext(res.object_id, a, b)) == data[a:b]
    info = store.object_info(res.object_id)
    assert (info.site, info.filename, info.meta, info.state) == ("tokyo", "a.wav", {"call": 7}, "stored")
    # Stored bytes are ciphertext: no 64-byte run of the plaintext appears in them.
    stored = obj_path(store, res.object_id).read_bytes()
    assert data[1000:1064] not in stored and len(stored) == info.cipher_size
    # The same site is reused, not duplicated.
    put_bytes(store, b"x", site="tokyo")
    assert sql(store.engine, "SELECT count(*) FROM sites WHERE name = 'tokyo'")[0][0] == 1
    assert store.verify().ok


def test_no_temporary_files_left(store: EvidenceStore) -> None:
    put_bytes(store, b"abc" * 1000)
    assert list(store.backend.staging_dir.iterdir()) == []


def test_range_bounds(store: EvidenceStore) -> None:
    oid = put_bytes(store, b"0123456789")
    assert b"".join(store.iter_plaintext(oid, 3, 3)) == b""
    assert b"".join(store.iter_plaintext(oid, 8, 99)) == b"89"
    with pytest.raises(ValueError):
        store.iter_plaintext(oid, 5, 2)
    with pytest.raises(NotFoundError):
        store.iter_plaintext("f" * 32)


def test_flipped_byte_in_object_is_named(store: EvidenceStore) -> None:
    good = put_bytes(store, os.urandom(20_000))
    bad = put_bytes(store, os.urandom(20_000))
    p = obj_path(store, bad)
    blob = bytearray(p.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    p.write_bytes(blob)
    report = store.verify()
    assert not report.ok
    assert [(x.kind, x.object_id) for x in report.problems] == [("object_altered", bad)]
    assert bad in report.to_text() and bad in report.to_json()
    with pytest.raises(IntegrityError, match=bad):
        b"".join(store.iter_plaintext(bad))
    assert len(b"".join(store.iter_plaintext(good))) == 20_000


def test_truncated_extended_missing_and_added_objects(store: EvidenceStore) -> None:
    a, b, c = (put_bytes(store, os.urandom(9000)) for _ in range(3))
    pa = obj_path(store, a)
    pa.write_bytes(pa.read_bytes()[:-100])
    pb = obj_path(store, b)
    pb.write_bytes(pb.read_bytes() + b"\0" * 32)
    obj_path(store, c).unlink()
    stray = "ab" * 16
    obj_path(store, stray).parent.mkdir(exist_ok=True)
    obj_path(store, stray).write_bytes(b"planted")
    assert {(p.kind, p.object_id) for p in store.verify(in_flight_grace_s=0.3).problems} == {
        ("object_truncated", a),
        ("object_extended", b),
        ("object_missing", c),
        ("object_unknown", stray),
    }
    with pytest.raises(IntegrityError, match=c):
        b"".join(store.iter_plaintext(c))
    with pytest.raises(IntegrityError, match="size"):
        b"".join(store.iter_plaintext(a, 0, 10))


def test_local_time_retention_is_recorded_in_utc(store: EvidenceStore) -> None:
    jst = timezone(timedelta(hours=9))
    oid = put_bytes(store, b"x", retain_until=datetime(2030, 4, 1, 9, 0, tzinfo=jst))
    assert store.object_info(oid).retain_until == datetime(2030, 4, 1, 0, 0, tzinfo=UTC)
    assert store.verify().ok


def test_retention_spares_held_objects(store: EvidenceStore) -> None:
    past = utcnow() - timedelta(days=1)
    a = put_bytes(store, b"a", retain_until=past)
    b = put_bytes(store, b"b", retain_until=past)
    c = put_bytes(store, b"c", retain_until=utcnow() + timedelta(days=30))
    d = put_bytes(store, b"d")
    store.hold(b, reason="案件 12", actor="admin")
    assert store.apply_retention() == [a]
    assert not obj_path(store, a).exists() and obj_path(store, b).exists()
    report = store.verify()
    assert report.ok, report.to_text()
    assert report.tombstones == 1 and report.checked == 3
    with pytest.raises(NotFoundError):
        store.iter_plaintext(a)
    with pytest.raises(StoreError):
        store.hold(a, reason="too late", actor="admin")
    store.release(b, reason="case closed", actor="admin")
    assert store.apply_retention(utcnow() + timedelta(days=60)) == [b, c]
    assert store.apply_retention(utcnow() + timedelta(days=60)) == []
    assert store.object_info(d).state == "stored"
    actions = [r[0] for r in sql(store.engine, "SELECT action FROM ledger ORDER BY seq")]
    assert actions == ["put"] * 4 + ["hold", "delete", "release", "delete", "delete"]
    assert store.verify().ok


def test_retention_tombstone_without_deletion_is_finished_later(store: EvidenceStore) -> None:
    a = put_bytes(store, b"a", retain_until=utcnow() - timedelta(seconds=1))

    def down(key: str) -> None:
        raise StoreError("down", "down")

    real = store.backend.delete
    store.backend.delete = down  # type: ignore[method-assign]
    assert store.apply_retention() == [a]
    assert store.object_info(a).state == "deleting" and obj_path(store, a).exists()
    assert store.verify().ok  # a tombstoned object whose removal is pending is policy, not a problem
    store.backend.delete = real  # type: ignore[method-assign]
    assert store.apply_retention() == []
    assert store.object_info(a).state == "deleted" and not obj_path(store, a).exists()


def test_deleted_without_tombstone_is_named(store: EvidenceStore) -> None:
    a = put_bytes(store, b"evidence")
    obj_path(store, a).unlink()
    sql(store.engine, "UPDATE evidence_objects SET state = 'deleted' WHERE id = :i", i=a)
    assert ("deleted_without_tombstone", a) in kinds(store)


def test_corrupt_and_missing_key_file(sqlite_home: Path) -> None:
    settings = load_settings(sqlite_home)
    engine = make_engine(settings.database_url)
    kek = settings.keys_path / KEK_FILE
    assert stat.S_IMODE(kek.stat().st_mode) == 0o600
    secret = kek.read_bytes()
    kek.write_bytes(secret[:-10] + b"0000000000")
    with pytest.raises(StoreError, match="corrupt") as err:
        EvidenceStore(settings, engine)
    assert secret.decode().split("\n")[1][:16] not in str(err.value)
    kek.unlink()
    with pytest.raises(StoreError, match="akashi init"):
        EvidenceStore(settings, engine)
    engine.dispose()


def test_wrong_installation_key_is_an_integrity_error(sqlite_store: EvidenceStore) -> None:
    oid = put_bytes(sqlite_store, b"call")
    object.__setattr__(sqlite_store.keys, "kek", bytes(32))
    with pytest.raises(IntegrityError, match=oid):
        b"".join(sqlite_store.iter_plaintext(oid))


def test_concurrent_puts_keep_one_chain(store: EvidenceStore) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(5):
                put_bytes(store, f"{n}-{i}".encode() * 100, site=f"s{n % 2}")
        except BaseException as e:  # collected and re-raised below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    report = store.verify()
    assert report.ok and report.checked == 20 and report.ledger_entries == 20


class BrokenStream(io.RawIOBase):
    """A recording source that fails part-way (a dropped upload, a disk error)."""

    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            raise OSError("source failed")
        k = min(n, self.left)
        self.left -= k
        return b"z" * k


def test_failed_stream_leaves_nothing_behind(store: EvidenceStore) -> None:
    store.chunk_size = 4096
    with pytest.raises(OSError, match="source failed"):
        store.put(BrokenStream(50_000), kind="call_audio", media_type="audio/wav")
    assert list(store.backend.staging_dir.iterdir()) == []
    assert sql(store.engine, "SELECT count(*) FROM evidence_objects")[0][0] == 0
    report = store.verify()
    assert report.ok and report.ledger_entries == 0


def test_refused_row_leaves_no_ciphertext_behind(
    store: EvidenceStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_args: object, **_kw: object) -> None:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(ledger, "append_entries", refuse)
    with pytest.raises(RuntimeError, match="database is locked"):
        put_bytes(store, b"abc" * 1000)
    assert [p for p in store.settings.evidence_path.rglob("*") if p.is_file()] == []
    assert list(store.backend.staging_dir.iterdir()) == []
    assert sql(store.engine, "SELECT count(*) FROM evidence_objects")[0][0] == 0
    monkeypatch.undo()
    report = store.verify()
    assert report.ok and report.ledger_entries == 0


def test_read_ahead_stops_when_playback_stops() -> None:
    """A listener who stops a remote playback early must not leave a reader thread running."""
    from akashi.store.pipeline import prefetch

    produced = []

    def endless() -> Iterator[bytes]:
        n = 0
        while True:
            produced.append(n)
            yield b"%d" % n
            n += 1

    before = threading.active_count()
    it = prefetch(endless(), depth=2)
    assert [next(it) for _ in range(3)] == [b"0", b"1", b"2"]
    it.close()  # type: ignore[attr-defined]
    assert threading.active_count() == before
    assert len(produced) <= 3 + 2 + 2  # read at most the queue's depth ahead


def test_read_ahead_passes_errors_in_order() -> None:
    from akashi.store.pipeline import prefetch

    def failing() -> Iterator[bytes]:
        yield b"a"
        raise FileNotFoundError("gone")

    it = prefetch(failing())
    assert next(it) == b"a"
    with pytest.raises(FileNotFoundError, match="gone"):
        next(it)


def test_range_read_near_the_end_reads_only_its_chunks(sqlite_store: EvidenceStore) -> None:
    """Seeking into a long recording touches the header once and the chunks of the range only."""
    sqlite_store.chunk_size = 4096
    data = os.urandom(4096 * 300 + 77)
    oid = put_bytes(sqlite_store, data)
    calls: list[tuple[int, int]] = []
    real = sqlite_store.backend.read_range

    def counting(key: str, start: int, end: int, block: int = 1 << 20) -> Iterator[bytes]:
        calls.append((start, end))
        return real(key, start, end, block)

    sqlite_store.backend.read_range = counting  # type: ignore[method-assign]
    want = (4096 * 290 + 5, 4096 * 291 + 9)
    assert b"".join(sqlite_store.iter_plaintext(oid, *want)) == data[want[0] : want[1]]
    assert sum(b - a for a, b in calls) <= 107 + 2 * (4096 + 16)
    calls.clear()
    assert b"".join(sqlite_store.iter_plaintext(oid, len(data) - 10)) == data[-10:]
    assert len(calls) == 1  # header cached: one read of the last chunk


@pytest.mark.parametrize("where", ["magic", "wrapped_key", "first_chunk", "middle", "last_tag"])
def test_flipped_byte_anywhere_in_an_object_is_named(sqlite_store: EvidenceStore, where: str) -> None:
    sqlite_store.chunk_size = 4096
    oid = put_bytes(sqlite_store, os.urandom(4096 * 5 + 100))
    path = obj_path(sqlite_store, oid)
    blob = bytearray(path.read_bytes())
    at = {"magic": 0, "wrapped_key": 60, "first_chunk": 107 + 3, "middle": len(blob) // 2, "last_tag": -1}[
        where
    ]
    blob[at] ^= 0x40
    path.write_bytes(blob)
    assert [(p.kind, p.object_id) for p in sqlite_store.verify().problems] == [("object_altered", oid)]


def test_stale_temporary_files_are_swept(sqlite_home: Path) -> None:
    settings = load_settings(sqlite_home)
    staging = settings.evidence_path / ".tmp"
    staging.mkdir(parents=True, exist_ok=True)
    old, young = staging / ("a" * 32 + ".tmp"), staging / ("b" * 32 + ".tmp")
    old.write_bytes(b"crashed put")
    young.write_bytes(b"running put")
    os.utime(old, (1, 1))
    engine = make_engine(settings.database_url)
    st = EvidenceStore(settings, engine)
    assert not old.exists() and young.exists()
    st.close()
    engine.dispose()


def _verify_while(store: EvidenceStore, step: Callable[[], None], rounds: int) -> None:
    """Run ``step`` over and over in a thread while verify runs ``rounds`` times: every report is clean."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def busy() -> None:
        try:
            while not stop.is_set():
                step()
        except BaseException as e:  # re-raised below
            errors.append(e)

    t = threading.Thread(target=busy)
    t.start()
    try:
        for _ in range(rounds):
            report = store.verify()
            assert report.ok, report.to_text()
    finally:
        stop.set()
        t.join(30)
    assert not errors


def test_verify_during_puts_reports_nothing_false(store: EvidenceStore) -> None:
    """Objects stored while verify runs are either checked or not seen, never 'unknown'."""

    def put() -> None:
        put_bytes(store, os.urandom(3000))

    _verify_while(store, put, 5)


def test_retention_running_during_verify_is_not_loss(store: EvidenceStore) -> None:
    oid = put_bytes(store, b"expiring", retain_until=utcnow() - timedelta(seconds=1))
    real = store.backend.list_objects
    fired = []

    def list_then_retention() -> Iterator[tuple[str, int]]:
        listing = list(real())
        fired.append(store.apply_retention())  # deletes it between verify's listing and read
        return iter(listing)

    store.backend.list_objects = list_then_retention  # type: ignore[method-assign]
    report = store.verify()
    assert fired == [[oid]]
    assert report.ok and report.tombstones == 1, report.to_text()


def test_verify_during_holds_reports_nothing_false(store: EvidenceStore) -> None:
    """Holds and releases committing while verify reads: the views of ledger and rows agree."""
    ids = [put_bytes(store, os.urandom(500)) for _ in range(3)]
    steps = itertools.count()

    def toggle() -> None:
        n = next(steps)
        (store.hold if (n // 3) % 2 == 0 else store.release)(ids[n % 3], reason="t", actor="t")

    _verify_while(store, toggle, 8)
