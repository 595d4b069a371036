"""``akashi announce`` and ``akashi signage camera|phone`` through the real command tree."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import missing_peer, require_binary
from typer.testing import CliRunner

from akashi.cli.main import app
from akashi.errors import AkashiError, ConfigError

runner = CliRunner()
GOOD = "この通話は、サービス向上のため録音させていただきます。"


@pytest.fixture
def cfg_home(tmp_path: Path) -> Path:
    """A home with only an ``akashi.toml`` holding two announcements (no database is needed)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "akashi.toml").write_text(
        "[announcements.default]\n"
        'text = "この通話は、応対品質向上のため録音させていただきます。"\n'
        "[announcements.support]\n"
        'mode = "operator"\n'
        'text = "お電話ありがとうございます。担当の〇〇です。この通話は録音させていただきます。"\n',
        encoding="utf-8",
    )
    return home


def test_lint_only_json() -> None:
    r = runner.invoke(app, ["announce", "--text", "いらっしゃいませ", "--lint-only", "--not-first", "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["out"] is None and data["duration_s"] is None and data["estimated_s"] > 0
    assert [f["code"] for f in data["findings"]] == ["no-recording-word", "no-purpose", "not-first"]


def test_strict_exits_1_on_warnings() -> None:
    r = runner.invoke(app, ["announce", "--text", "録音します。", "--lint-only", "--strict"])
    assert r.exit_code == 1
    assert "no-purpose" in r.stdout
    assert runner.invoke(app, ["announce", "--text", GOOD, "--lint-only", "--strict"]).exit_code == 0


def test_needs_text_and_out() -> None:
    r = runner.invoke(app, ["announce", "--lint-only"])
    assert isinstance(r.exception, AkashiError)
    r = runner.invoke(app, ["announce", "--text", GOOD])
    assert isinstance(r.exception, AkashiError) and "--out" in str(r.exception)


@pytest.mark.tts
def test_announce_writes_wav(tmp_path: Path) -> None:
    if importlib.util.find_spec("pyopenjtalk") is None:
        missing_peer("pyopenjtalk-plus (offline Japanese TTS)")
    out = tmp_path / "n.wav"
    r = runner.invoke(app, ["announce", "--text", GOOD, "--out", str(out)])
    assert r.exit_code == 0, r.output
    m = re.search(r"8000 Hz, ([\d.]+) 秒", r.stdout)
    assert m and 2.0 < float(m.group(1)) < 10.0
    assert "no findings" in r.stdout
    with wave.open(str(out), "rb") as w:
        assert (w.getframerate(), w.getnchannels()) == (8000, 1)


def test_announce_from_config(cfg_home: Path) -> None:
    r = runner.invoke(app, ["--home", str(cfg_home), "announce", "--from-config", "support", "--lint-only"])
    assert r.exit_code == 0, r.output
    assert "no-purpose" in r.stdout  # the configured text has no purpose
    r = runner.invoke(app, ["--home", str(cfg_home), "announce", "--from-config", "nope", "--lint-only"])
    assert isinstance(r.exception, ConfigError) and "support" in str(r.exception)


def test_lint_only_uses_the_recorded_notice_length(tmp_path: Path, cfg_home: Path) -> None:
    from akashi.notices.dsp import write_wav_pcm16

    wav = tmp_path / "long.wav"
    write_wav_pcm16(wav, np.zeros(8000 * 17), 8000)
    toml = cfg_home / "akashi.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + f'audio = "{wav}"\n', encoding="utf-8")
    r = runner.invoke(
        app, ["--home", str(cfg_home), "announce", "--from-config", "support", "--lint-only", "--json"]
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["duration_s"] == 17.0
    assert "too-long" in [f["code"] for f in data["findings"]]


def test_signage_camera_and_phone(tmp_path: Path) -> None:
    pdftotext = require_binary("pdftotext")
    cam, phone = tmp_path / "cam.pdf", tmp_path / "phone.pdf"
    r = runner.invoke(
        app, ["signage", "camera", "--out", str(cam), "--size", "sticker", "--company", "証商店"]
    )
    assert r.exit_code == 0, r.output
    assert "2 ページ" in r.stdout
    r = runner.invoke(app, ["signage", "phone", "--out", str(phone), "--agent", "佐藤", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["pages"] == 1
    text = subprocess.run(
        ["timeout", "60", pdftotext, str(phone), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "担当の佐藤です" in re.sub(r"\s+", "", text)


def test_signage_phone_from_config(tmp_path: Path, cfg_home: Path) -> None:
    pdftotext = require_binary("pdftotext")
    out = tmp_path / "scripts.pdf"
    r = runner.invoke(
        app,
        ["--home", str(cfg_home), "signage", "phone", "--from-config", "--agent", "鈴木", "--out", str(out)],
    )
    assert r.exit_code == 0, r.output
    assert "2 ページ" in r.stdout
    text = re.sub(
        r"\s+",
        "",
        subprocess.run(
            ["timeout", "60", pdftotext, str(out), "-"], check=True, capture_output=True, text=True
        ).stdout,
    )
    assert "応対品質向上のため録音させていただきます。" in text
    assert "担当の鈴木です。この通話は録音させていただきます。" in text
    assert "support・オペレーターが読み上げ" in text


def test_installed_command_reports_errors_in_both_languages(tmp_path: Path) -> None:
    exe = Path(sys.executable).with_name("akashi")
    assert exe.exists(), "the akashi entry point is not installed (pip install -e .)"
    r = subprocess.run(
        ["timeout", "60", str(exe), "signage", "camera", "--out", str(tmp_path / "x.pdf"), "--size", "b4"],
        check=False,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1
    assert "用紙サイズ" in r.stderr and "unsupported size" in r.stderr
