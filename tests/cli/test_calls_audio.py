"""``akashi calls audio``: a playable WAV of any stored call for a user with play rights, audited."""

from __future__ import annotations

import json
import wave
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import AuditEntry
from tests.cli.test_end_to_end import make_wav, run
from tests.codecs.rtpaudio import CALLER_AT, HEARD_AT, OPUS, ingest_container, onsets, two_leg_container

pytest.importorskip("av")


def test_calls_audio_converts_akrtp_and_copies_g711(sqlite_home: Path, tmp_path: Path) -> None:
    home = sqlite_home
    for name, role in (("kanri", "manager"), ("kansa", "auditor")):
        run(
            home,
            "user",
            "add",
            name,
            "--role",
            role,
            "--site",
            "tokyo",
            "--password-stdin",
            stdin="a-long-password\n",
        )
    started = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    container = two_leg_container(tmp_path / "call.akrtp", OPUS, started.timestamp())
    with Akashi.open(home) as ak:
        rtp_call = ingest_container(ak, container, OPUS, started, site="tokyo")
    original = make_wav(tmp_path / "plain.wav")
    out = run(
        home,
        "import",
        "call",
        str(tmp_path / "plain.wav"),
        "--caller",
        "03-1111-2222",
        "--site",
        "tokyo",
        "--json",
    )
    wav_call = json.loads(out.stdout)["id"]

    dest = tmp_path / "rtp.wav"
    got = run(home, "calls", "audio", str(rtp_call), "--out", str(dest), "--as", "kanri", "--json")
    assert json.loads(got.stdout)["derived"] is True
    with wave.open(str(dest)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getsampwidth()) == (2, 16000, 2)
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert all(abs(a - b) <= 0.04 for a, b in zip(onsets(frames[:, 0], 16000), CALLER_AT, strict=True))
    assert all(abs(a - b) <= 0.04 for a, b in zip(onsets(frames[:, 1], 16000), HEARD_AT, strict=True))

    plain = tmp_path / "plain-out.wav"
    run(home, "calls", "audio", str(wav_call), "--out", str(plain), "--as", "kanri")
    assert plain.read_bytes() == original

    refused = run(
        home, "calls", "audio", str(rtp_call), "--out", str(tmp_path / "no.wav"), "--as", "kansa", check=False
    )
    assert refused.returncode == 3, refused.stderr
    assert not (tmp_path / "no.wav").exists()
    with Akashi.open(home) as ak, session_scope(ak.engine) as s:
        rows = [
            (e.user_name, e.action, e.outcome)
            for e in s.scalars(select(AuditEntry).where(AuditEntry.target_type == "call"))
        ]
    assert ("kanri", "download", "ok") in rows
    assert ("kansa", "download", "denied") in rows


def test_export_of_rtp_call_has_the_original_and_a_listening_copy(sqlite_home: Path, tmp_path: Path) -> None:
    """The package keeps the container as the evidence and adds derived/call-N.wav, hashed and signed."""
    import io
    import zipfile

    started = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    container = two_leg_container(tmp_path / "call.akrtp", OPUS, started.timestamp())
    with Akashi.open(sqlite_home) as ak:
        call_id = ingest_container(ak, container, OPUS, started, site="tokyo")
    pkg = tmp_path / "pkg.zip"
    run(sqlite_home, "export", "call", str(call_id), "--out", str(pkg))
    checked = run(sqlite_home, "export", "check", str(pkg), check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with zipfile.ZipFile(pkg) as z:
        names = z.namelist()
        originals = [n for n in names if n.startswith("media/")]
        assert len(originals) == 1 and originals[0].endswith(".akrtp")
        assert z.read(originals[0]) == container.read_bytes()  # the evidence, bit for bit
        manifest = json.loads(z.read("manifest.json"))
        assert manifest["derived"] == [
            {
                "file": f"derived/call-{call_id}.wav",
                "from": originals[0],
                "how": manifest["derived"][0]["how"],
            }
        ]
        assert f"derived/call-{call_id}.wav" in z.read("SHA256SUMS").decode()
        with wave.open(io.BytesIO(z.read(f"derived/call-{call_id}.wav"))) as w:
            frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
            rate = w.getframerate()
    assert all(abs(a - b) <= 0.04 for a, b in zip(onsets(frames[:, 0], rate), CALLER_AT, strict=True))
