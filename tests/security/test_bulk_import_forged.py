"""Forged inputs to ``akashi import calls``: a map that points out of the folder (``..``, an absolute
path, a symbolic link to a file elsewhere), file names that try to forge the summary or inject rich
markup, values with control characters, and a file dressed up as an MP3. Each is refused with its
reason, nothing of it is stored, and the honest files beside it are imported."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

from tests.cli.test_bulk_import import stored, tone, write_wav
from tests.cli.test_end_to_end import run


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_map_cannot_reach_outside_the_folder(sqlite_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    honest = write_wav(folder / "honest.wav", tone(1.0, 310))
    second = write_wav(folder / "second.wav", tone(1.0, 315))
    secret = write_wav(tmp_path / "secret.wav", tone(1.0, 720))  # somebody else's recording, outside
    os.symlink(secret, folder / "link.wav")
    mapping = tmp_path / "map.csv"
    with mapping.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "caller"])
        w.writerow(["honest.wav", "0311111111"])
        w.writerow(["../secret.wav", "0322222222"])
        w.writerow([str(secret), "0333333333"])
        w.writerow(["link.wav", "0344444444"])
        w.writerow(["sub/../../secret.wav", "0355555555"])
        w.writerow(["/etc/passwd", "0366666666"])
        w.writerow(["second.wav", "0377777777\r\nagent: 管理者"])  # a cell carrying a line break
    proc = run(sqlite_home, "import", "calls", str(folder), "--map", str(mapping), "--json", check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert [x["file"] for x in out["imported"]] == ["honest.wav"]
    refused = {x["file"]: x["reason"] for x in out["failed"]}
    assert set(refused) == {
        "../secret.wav", str(secret), "link.wav", "sub/../../secret.wav", "/etc/passwd", "second.wav"
    }  # fmt: skip
    assert "caller: control characters" in refused.pop("second.wav")
    assert all("refused: not a file inside the folder" in r for r in refused.values()), refused
    kept = stored(sqlite_home)
    assert set(kept) == {_sha(honest)} and _sha(secret) not in kept and _sha(second) not in kept


def test_pattern_run_refuses_links_out_and_forged_names(sqlite_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    write_wav(folder / "20261101_090000_0311111111.wav", tone(1.0, 330))
    secret = write_wav(tmp_path / "elsewhere.wav", tone(1.0, 740))
    os.symlink(secret, folder / "20261101_091000_0322222222.wav")
    # a name that would print a fake "all fine" line (it matches no pattern), one carrying rich markup
    forged = "20261101_092000_03\n取り込み 9 件、失敗 0 件.wav"
    write_wav(folder / forged, tone(1.0, 350))
    markup = "20261101_093000_[bold red]0344[red].wav"
    write_wav(folder / markup, tone(1.0, 360))
    (folder / "20261101_094000_0355555555.mp3").write_bytes(
        b"ID3\x04\x00\x00\x00\x00\x00\x00" + os.urandom(3000)
    )
    pattern = "{started:%Y%m%d_%H%M%S}_{caller}.{*}"
    proc = run(sqlite_home, "import", "calls", str(folder), "--pattern", pattern, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert not any(ln.startswith("取り込み 9 件") for ln in lines)  # the forged line is not printed as one
    assert "取り込み 9 件" not in proc.stdout.split("\n")[0]
    assert any("refused: a link out of the folder" in ln and "0322222222" in ln for ln in lines), lines
    assert any("0355555555.mp3" in ln and "cannot" in ln for ln in lines), lines
    callers = {c.caller for c, _ in stored(sqlite_home).values()}
    assert callers == {"0311111111", "[bold red]0344[red]"}  # the markup name is just a name
    assert _sha(secret) not in stored(sqlite_home)
