"""An MP3 of a spoken call, bulk-imported as received, is decoded and transcribed by the analysis."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from akashi.access.export import export_call
from akashi.access.principal import Principal
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import EvidenceObject
from tests.cli.test_bulk_import import encode, import_calls, sha


@pytest.mark.asr
@pytest.mark.tts
@pytest.mark.slow
def test_imported_mp3_is_transcribed(
    sqlite_home: Path, tmp_path: Path, call_wav: Callable[[str], Path], whisper_model: Any
) -> None:
    """An MP3 made from a spoken test call goes in as received and the analysis decodes and transcribes it."""
    from akashi.analysis.audio import parse_wav
    from akashi.analysis.pipeline import analyze_call

    speech = parse_wav(call_wav("threat_sns").read_bytes())
    pcm = (np.clip(speech.samples, -1, 1) * 32767).astype(np.int16)
    folder = tmp_path / "mp3s"
    folder.mkdir()
    mp3 = encode(folder / "20261101_101500_0312345678.mp3", pcm, speech.rate, "mp3", "libmp3lame")
    code, out = import_calls(sqlite_home, str(folder), "--pattern", "{started:%Y%m%d_%H%M%S}_{caller}.mp3")
    assert code == 0 and len(out["imported"]) == 1
    call_id = out["imported"][0]["call_id"]
    with Akashi.open(sqlite_home) as ak:
        result = analyze_call(ak, call_id, model=whisper_model)
        pkg = export_call(ak, Principal.system("kanri"), call_id, tmp_path / "call.zip")
        with session_scope(ak.engine) as s:
            obj = s.scalars(select(EvidenceObject)).one()
            assert obj.media_type == "audio/mpeg" and obj.sha256 == sha(mp3)  # the evidence is the MP3
    assert {g.channel for g in result.segments} == {"customer", "operator"}
    said = "".join(g.text for g in result.segments if g.channel == "customer")
    assert any(w in said for w in ("晒", "さら", "ネット")), said
    # the package of the analysed call carries its readable transcript, with the settings the analysis used
    with zipfile.ZipFile(pkg) as z:
        text = z.read("derived/transcript.txt").decode()
    assert "Whisper base" in text and "beam_size=" in text and "vad=" in text
    first = next(g for g in result.segments if g.channel == "customer")
    assert f"10:{15 + int(first.start_s) // 60:02d}:{int(first.start_s) % 60:02d} JST" in text  # JST clock
    assert first.text.strip() in text
