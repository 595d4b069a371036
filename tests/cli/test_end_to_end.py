"""The CLI contract end to end, through the real ``akashi`` executable:
init → user add → import call → calls search → calls show → verify → export call → export check,
and a flipped byte in a stored object or a ledger row makes verify exit 1 naming it."""

from __future__ import annotations

import json
import math
import os
import struct
import subprocess
import sys
import wave
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

AKASHI = [sys.executable, "-m", "akashi.cli.main"]


def run(
    home: Path, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("AKASHI_") or k == "AKASHI_REQUIRE_INTEROP"
    }
    proc = subprocess.run(  # noqa: PLW1510 (returncode checked below)
        [*AKASHI, "--home", str(home), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"akashi {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def make_wav(path: Path, seconds: float = 2.0, rate: int = 8000) -> bytes:
    """Stereo PCM16: a 440 Hz tone on the left (customer), 660 Hz on the right (operator)."""
    frames = bytearray()
    for i in range(int(seconds * rate)):
        left = int(8000 * math.sin(2 * math.pi * 440 * i / rate))
        right = int(8000 * math.sin(2 * math.pi * 660 * i / rate))
        frames += struct.pack("<hh", left, right)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return path.read_bytes()


@pytest.fixture
def imported(home: Path, tmp_path: Path) -> tuple[Path, int, bytes]:
    wav = tmp_path / "old-recorder.wav"
    original = make_wav(wav)
    run(
        home,
        "user",
        "add",
        "kanri",
        "--role",
        "manager",
        "--site",
        "tokyo",
        "--password-stdin",
        stdin="a-long-password\n",
    )
    out = run(
        home,
        "import",
        "call",
        str(wav),
        "--caller",
        "+81-3-1234-5678",
        "--dialled",
        "0120-000-111",
        "--agent",
        "佐藤 花子",
        "--site",
        "tokyo",
        "--started",
        "2026-11-02T10:15:00",
        "--json",
    )
    call_id = json.loads(out.stdout)["id"]
    return home, call_id, original


def test_import_search_show_verify_export_check(imported: tuple[Path, int, bytes], tmp_path: Path) -> None:
    home, call_id, original = imported
    for number in ("1234-5678", "03-1234", "+81312345678", "0120000111"):
        found = json.loads(run(home, "calls", "search", "--number", number, "--json").stdout)
        assert [c["id"] for c in found["calls"]] == [call_id], number
    assert json.loads(run(home, "calls", "search", "--number", "9999", "--json").stdout)["total"] == 0
    found = json.loads(
        run(
            home,
            "calls",
            "search",
            "--agent",
            "佐藤",
            "--site",
            "tokyo",
            "--from",
            "2026-11-02T00:00",
            "--to",
            "2026-11-03T00:00",
            "--json",
        ).stdout
    )
    assert found["total"] == 1
    shown = json.loads(run(home, "calls", "show", str(call_id), "--json").stdout)
    assert shown["caller"] == "+81-3-1234-5678" and shown["agent"] == "佐藤 花子" and shown["site"] == "tokyo"
    assert shown["started_at"].startswith("2026-11-02T01:15:00")  # JST 10:15 stored as UTC
    assert shown["channels"] == 2 and "transcript" in shown

    verified = run(home, "verify", "--json")
    assert json.loads(verified.stdout)["ok"] is True

    pkg = tmp_path / "call.zip"
    run(home, "export", "call", str(call_id), "--out", str(pkg), "--as", "kanri")
    with zipfile.ZipFile(pkg) as z:
        media = [n for n in z.namelist() if n.startswith("media/")]
        assert len(media) == 1
        assert z.read(media[0]) == original  # bit-identical
        names = set(z.namelist())
        assert {"metadata.json", "audit.json", "manifest.json", "manifest.sig", "public_key.pem"} <= names
        trail = json.loads(z.read("audit.json"))
        trail = trail if isinstance(trail, list) else trail.get("entries", trail)
        assert any(e["action"] == "export" and e["user"] == "kanri" for e in trail)
        assert any(e["action"] == "view" for e in trail)  # `calls show` read the transcript: audited
    assert run(home, "export", "check", str(pkg)).returncode == 0

    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(pkg) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == media[0]:
                data = data[:100] + bytes([data[100] ^ 1]) + data[101:]
            dst.writestr(item, data)
    bad = run(home, "export", "check", str(tampered), check=False)
    assert bad.returncode == 1
    assert media[0] in bad.stdout


def _object_files(home: Path) -> list[Path]:
    return [p for p in (home / "evidence").rglob("*") if p.is_file()]


def test_flipped_byte_in_object_is_named(imported: tuple[Path, int, bytes]) -> None:
    home, call_id, _ = imported
    files = _object_files(home)
    assert files
    target = max(files, key=lambda p: p.stat().st_size)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    out = run(home, "verify", "--json", check=False)
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert report["ok"] is False
    shown = json.loads(run(home, "calls", "show", str(call_id), "--json").stdout)
    assert shown["media_object_id"] in out.stdout


def test_edited_ledger_row_is_named(imported: tuple[Path, int, bytes]) -> None:
    home, _, _ = imported
    from akashi.config import load_settings

    url = load_settings(home, environ={}).database_url
    engine = sa.create_engine(url)
    with engine.begin() as c:
        data = c.execute(sa.text("SELECT data FROM ledger WHERE seq = 1")).scalar_one()
        c.execute(sa.text("UPDATE ledger SET data = :d WHERE seq = 1"), {"d": data + " "})
    engine.dispose()
    out = run(home, "verify", "--json", check=False)
    assert out.returncode == 1
    report = json.loads(out.stdout)
    ledger_problems = [p for p in report["problems"] if "ledger" in json.dumps(p)]
    assert ledger_problems, report
    assert any(p.get("seq") == 1 for p in ledger_problems), ledger_problems


def test_operator_cannot_export(imported: tuple[Path, int, bytes], tmp_path: Path) -> None:
    home, call_id, _ = imported
    run(
        home,
        "user",
        "add",
        "op9",
        "--role",
        "operator",
        "--site",
        "tokyo",
        "--password-stdin",
        stdin="another-long-pass\n",
    )
    out = run(
        home, "export", "call", str(call_id), "--out", str(tmp_path / "x.zip"), "--as", "op9", check=False
    )
    assert out.returncode == 3
    assert not (tmp_path / "x.zip").exists()


def test_unknown_config_key_stops_with_its_name(tmp_path: Path) -> None:
    home = tmp_path / "h"
    home.mkdir()
    (home / "akashi.toml").write_text('[web]\nlisten = "127.0.0.1:8080"\nlistne = "x"\n', encoding="utf-8")
    out = run(home, "calls", "search", check=False)
    assert out.returncode == 2
    assert "web.listne" in out.stderr and "akashi.toml:3" in out.stderr


def test_wrong_role_and_short_password_refused(home: Path) -> None:
    out = run(
        home, "user", "add", "x", "--role", "boss", "--password-stdin", stdin="a-long-password\n", check=False
    )
    assert out.returncode == 2 and "role" in out.stderr
    out = run(home, "user", "add", "x", "--role", "admin", "--password-stdin", stdin="short\n", check=False)
    assert out.returncode == 2
