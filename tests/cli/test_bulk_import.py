"""``akashi import calls DIR``: a CSV map, a file-name pattern, re-runs that skip what is imported, a
corrupt file reported while the rest go in, MP3/M4A kept as received and decodable for analysis."""

from __future__ import annotations

import csv
import hashlib
import json
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import Call, EvidenceObject
from tests.cli.test_end_to_end import run

RATE = 8000


def tone(seconds: float, freq: float, rate: int = RATE) -> np.ndarray[Any, np.dtype[np.int16]]:
    """Stereo int16: ``freq`` on the left, 1.5 times it on the right (each file distinct)."""
    t = np.arange(int(seconds * rate)) / rate
    both = np.stack([np.sin(2 * np.pi * freq * t), np.sin(2 * np.pi * 1.5 * freq * t)], axis=1)
    return (both * 8000).astype(np.int16)


def write_wav(path: Path, samples: np.ndarray[Any, np.dtype[np.int16]], rate: int = RATE) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(samples.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return path


def encode(
    path: Path, samples: np.ndarray[Any, np.dtype[np.int16]], rate: int, container: str, codec: str
) -> Path:
    """An MP3 (libmp3lame) or M4A (AAC) made with PyAV, as an old recorder would have written it."""
    av = pytest.importorskip("av")
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout="stereo")
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(samples.astype("<i2")).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def import_calls(home: Path, *args: str) -> tuple[int, dict[str, Any]]:
    proc = run(home, "import", "calls", *args, "--json", check=False)
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def stored(home: Path) -> dict[str, tuple[Call, EvidenceObject]]:
    """sha256 of each call's recording -> (call, object)."""
    with Akashi.open(home) as ak, session_scope(ak.engine) as s:
        rows = s.execute(
            select(Call, EvidenceObject).join(EvidenceObject, Call.media_object_id == EvidenceObject.id)
        )
        out = {obj.sha256: (call, obj) for call, obj in rows}
        s.expunge_all()
        return out


def test_map_imports_wav_mp3_and_m4a_as_received(sqlite_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "recorder"
    (folder / "2026-11").mkdir(parents=True)
    a = write_wav(folder / "2026-11" / "a.wav", tone(2.0, 300))
    b = write_wav(folder / "b.wav", tone(1.5, 350)[:, :1])  # a mono recorder
    mp3 = encode(folder / "c.mp3", tone(2.0, 400), RATE, "mp3", "libmp3lame")
    m4a = encode(folder / "d.m4a", tone(2.0, 450, 16000), 16000, "ipod", "aac")
    mapping = tmp_path / "map.csv"
    with mapping.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["file", "caller", "dialled", "agent", "site", "started", "direction", "notice"])
        w.writerow(
            [
                "2026-11/a.wav",
                "03-1234-5678",
                "0120-000-111",
                "佐藤 花子",
                "tokyo",
                "2026-11-02T10:15:00",
                "in",
                "",
            ]
        )
        w.writerow(["b.wav", "090-1111-2222", "", "", "osaka", "2026-11-03T09:00:00+09:00", "out", "none"])
        w.writerow(["c.mp3", "06-5555-6666", "", "鈴木", "", "2026-11-04T11:00:00", "", "automatic"])
        w.writerow(["d.m4a", "011-222-3333", "", "", "", "2026-11-05T12:30:00", "", ""])
    code, out = import_calls(sqlite_home, str(folder), "--map", str(mapping), "--site", "hq")
    assert code == 0, out
    assert [x["file"] for x in out["imported"]] == ["2026-11/a.wav", "b.wav", "c.mp3", "d.m4a"]
    assert out["failed"] == [] and out["skipped"] == []

    calls = stored(sqlite_home)
    ca, oa = calls[sha(a)]
    assert (ca.caller, ca.dialled, ca.agent_name, ca.direction, ca.notice_mode) == (
        "03-1234-5678", "0120-000-111", "佐藤 花子", "in", "operator"
    )  # fmt: skip
    assert ca.started_at.isoformat().startswith("2026-11-02T01:15:00")  # JST 10:15 stored as UTC
    assert ca.source == "import" and ca.analysis_state == "pending" and oa.media_type == "audio/wav"
    cb, _ = calls[sha(b)]
    assert (cb.channels, cb.direction, cb.notice_mode) == (1, "out", "none")
    cc, oc = calls[sha(mp3)]
    assert (oc.media_type, oc.size, cc.channels, cc.notice_mode, cc.agent_name) == (
        "audio/mpeg", mp3.stat().st_size, 2, "automatic", "鈴木"
    )  # fmt: skip
    assert oc.filename.endswith(".mp3") and abs(cc.duration_s - 2.0) < 0.1
    cd, od = calls[sha(m4a)]
    assert od.media_type == "audio/mp4" and od.filename.endswith(".m4a") and cd.channels == 2
    with Akashi.open(sqlite_home) as ak, session_scope(ak.engine) as s:
        sites = {c.id: c.site_id for c in s.scalars(select(Call))}
        # kept as received: the stored plaintext is the file, byte for byte
        assert b"".join(ak.store.iter_plaintext(oc.id)) == mp3.read_bytes()
        assert b"".join(ak.store.iter_plaintext(od.id)) == m4a.read_bytes()
    assert sites[cc.id] == sites[cd.id] != sites[ca.id]  # empty cells take --site hq
    assert run(sqlite_home, "verify").returncode == 0


def test_pattern_run_then_rerun_skips_everything(home: Path, tmp_path: Path) -> None:
    """On SQLite and on PostgreSQL."""
    folder = tmp_path / "old"
    folder.mkdir()
    for i, name in enumerate(["20261101_101500_0312345678.wav", "20261101_113000_09011112222.wav"]):
        write_wav(folder / name, tone(1.0, 300 + 50 * i))
    (folder / "README.txt").write_text("not a recording")
    pattern = "{started:%Y%m%d_%H%M%S}_{caller}.wav"
    code, out = import_calls(home, str(folder), "--pattern", pattern, "--agent", "山田", "--notice", "none")
    assert code == 0 and len(out["imported"]) == 2 and out["ignored"] == ["README.txt"]
    calls = {c.caller: c for c, _ in stored(home).values()}
    assert set(calls) == {"0312345678", "09011112222"}
    assert calls["09011112222"].started_at.isoformat().startswith("2026-11-01T02:30:00")
    assert {c.agent_name for c in calls.values()} == {"山田"} and {c.notice_mode for c in calls.values()} == {
        "none"
    }

    code, again = import_calls(home, str(folder), "--pattern", pattern)
    assert code == 0 and again["imported"] == [] and again["failed"] == []
    assert sorted(x["call_id"] for x in again["skipped"]) == sorted(x["call_id"] for x in out["imported"])
    assert len(stored(home)) == 2  # nothing stored twice

    # a renamed copy of an imported file is the same recording: skipped by its hash
    (folder / "20261102_080000_0300000000.wav").write_bytes(
        (folder / "20261101_101500_0312345678.wav").read_bytes()
    )
    code, renamed = import_calls(home, str(folder), "--pattern", pattern)
    assert code == 0 and len(renamed["skipped"]) == 3 and renamed["imported"] == []


def test_corrupt_file_is_reported_and_the_rest_imported(sqlite_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    write_wav(folder / "20261101_090000_0311111111.wav", tone(1.0, 500))
    (folder / "20261101_091000_0322222222.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    (folder / "20261101_092000_0333333333.mp3").write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(4000))
    (folder / "20261101_093000_0344444444.wav").write_bytes(b"\x00" * 500)
    write_wav(folder / "20261101_094000_0355555555.wav", tone(1.0, 600))
    pattern = "{started:%Y%m%d_%H%M%S}_{caller}.{*}"
    proc = run(sqlite_home, "import", "calls", str(folder), "--pattern", pattern, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "失敗 3 件" in proc.stdout and "failed 3" in proc.stdout
    assert "取り込み / import" in proc.stderr and "5/5" in proc.stderr  # the progress bar, on stderr
    for bad in ("0322222222.wav", "0333333333.mp3", "0344444444.wav"):
        line = next(ln for ln in proc.stdout.splitlines() if bad in ln)
        assert " / " in line  # the reason, Japanese and English
    assert "unsupported format" in next(ln for ln in proc.stdout.splitlines() if "0344444444" in ln)
    assert {c.caller for c, _ in stored(sqlite_home).values()} == {"0311111111", "0355555555"}

    code, again = import_calls(sqlite_home, str(folder), "--pattern", pattern)
    assert code == 1 and again["imported"] == [] and len(again["skipped"]) == 2 and len(again["failed"]) == 3


def test_bad_rows_fail_alone_and_bad_arguments_stop_early(sqlite_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "rows"
    folder.mkdir()
    write_wav(folder / "ok.wav", tone(1.0, 310))
    write_wav(folder / "dir.wav", tone(1.0, 320))
    write_wav(folder / "when.wav", tone(1.0, 330))
    mapping = tmp_path / "map.csv"
    mapping.write_bytes(
        "file,caller,started,direction\n"
        "ok.wav,0312345678,2026-11-01T10:00:00,in\n"
        "dir.wav,0312345679,2026-11-01T10:00:00,sideways\n"
        "when.wav,0312345670,yesterday,in\n"
        "gone.wav,0312345671,,in\n".encode("cp932")
    )
    code, out = import_calls(sqlite_home, str(folder), "--map", str(mapping))
    assert code == 1 and [x["file"] for x in out["imported"]] == ["ok.wav"]
    reasons = {x["file"]: x["reason"] for x in out["failed"]}
    assert "direction must be in or out" in reasons["dir.wav"]
    assert "not an ISO 8601 time" in reasons["when.wav"]
    assert "no such file" in reasons["gone.wav"]

    both = run(sqlite_home, "import", "calls", str(folder), check=False)
    assert both.returncode == 2 and "exactly one of --map or --pattern" in both.stderr
    nocaller = run(sqlite_home, "import", "calls", str(folder), "--pattern", "{started:%Y}.wav", check=False)
    assert nocaller.returncode == 2 and "{caller}" in nocaller.stderr
    (tmp_path / "cols.csv").write_text("file,who\nok.wav,x\n")
    cols = run(sqlite_home, "import", "calls", str(folder), "--map", str(tmp_path / "cols.csv"), check=False)
    assert cols.returncode == 2 and "unknown who" in cols.stderr


def test_single_import_takes_an_mp3_as_received_and_refuses_a_fake_one(
    sqlite_home: Path, tmp_path: Path
) -> None:
    mp3 = encode(tmp_path / "one.mp3", tone(1.5, 420), RATE, "mp3", "libmp3lame")
    out = run(sqlite_home, "import", "call", str(mp3), "--caller", "0312345678", "--json")
    call_id = json.loads(out.stdout)["id"]
    ((call, obj),) = stored(sqlite_home).values()
    assert call.id == call_id and obj.media_type == "audio/mpeg" and obj.sha256 == sha(mp3)
    fake = tmp_path / "fake.mp3"
    fake.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00not audio at all" * 50)
    bad = run(sqlite_home, "import", "call", str(fake), "--caller", "0312345678", check=False)
    assert bad.returncode == 1 and "cannot" in bad.stderr and "Traceback" not in bad.stderr
    assert len(stored(sqlite_home)) == 1
