"""Files replaced whole: readers and concurrent writers never see part of a file."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from akashi.atomicfile import write_atomic


def _writer(path: str, fill: bytes, times: int) -> None:
    for _ in range(times):
        write_atomic(Path(path), fill * 200_000, durable=False)


def test_two_processes_and_a_reader_never_see_a_mixed_or_short_file(tmp_path: Path) -> None:
    target = tmp_path / "shared.bin"
    write_atomic(target, b"a" * 200_000)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(target), fill, 40)) for fill in (b"b", b"c")]
    for p in procs:
        p.start()
    seen: set[bytes] = set()
    while any(p.is_alive() for p in procs):
        data = target.read_bytes()
        assert len(data) == 200_000
        assert data.count(data[:1]) == len(data), "a reader saw two writers' bytes in one file"
        seen.add(data[:1])
    for p in procs:
        p.join()
        assert p.exitcode == 0
    assert target.read_bytes()[:1] in (b"b", b"c")
    assert not [p for p in tmp_path.iterdir() if p.name != "shared.bin"], "a temporary file was left behind"


def test_text_mode_and_missing_folder(tmp_path: Path) -> None:
    target = tmp_path / "new" / "folder" / "設定.toml"
    write_atomic(target, "名前 = '証'\n")
    assert target.read_text(encoding="utf-8") == "名前 = '証'\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    write_atomic(target, "x", mode=0o640)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "head.json"
    write_atomic(target, '{"seq": 1}')

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space"):
        write_atomic(target, '{"seq": 2}')
    assert target.read_text() == '{"seq": 1}'
    assert [p.name for p in tmp_path.iterdir()] == ["head.json"]
