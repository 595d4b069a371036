"""Attacks on the notice check and on the timed transcript.

- a forged import: an unknown ``--notice`` mode (to dodge the check) or a forged WAV is refused and
  stores nothing;
- the customer (or a recording played into the customer's side) reciting the notice does not make the
  call compliant, nor does an operator's unrelated 説明;
- forged word times that do not spell the stored text never give a flag a made-up time.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from akashi.analysis.audio import write_wav
from akashi.analysis.detect import Segment, Word, lexicon_findings
from akashi.analysis.lexicon import load_lexicon
from akashi.analysis.pipeline import analyze_call
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import Call, EvidenceObject, TranscriptSegment


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AKASHI_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "akashi.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _counts(home: Path) -> tuple[int, int]:
    with Akashi.open(home, run_migrations=False) as ak, session_scope(ak.engine) as s:
        return s.scalar(select(func.count(Call.id))) or 0, s.scalar(
            select(func.count(EvidenceObject.id))
        ) or 0


def test_forged_imports_are_refused_and_store_nothing(sqlite_home: Path, tmp_path: Path) -> None:
    wav = tmp_path / "ok.wav"
    wav.write_bytes(write_wav(np.zeros((8000, 2), dtype=np.float32), 8000, "pcmu"))
    before = _counts(sqlite_home)
    for mode in ("sometimes", "operator;none", "OPERATOR", ""):
        out = _cli(sqlite_home, "import", "call", str(wav), "--caller", "0312345678", "--notice", mode)
        assert out.returncode != 0
        assert "--notice は operator・automatic・none" in out.stderr and "--notice must be" in out.stderr
    # A forged WAV: six channels claimed in the header, then a truncated one.
    body = b"\x00" * 960
    fmt = struct.pack("<HHIIHH", 7, 6, 8000, 48000, 6, 8)
    riff = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(body)) + body
    six = tmp_path / "six.wav"
    six.write_bytes(b"RIFF" + struct.pack("<I", len(riff)) + riff)
    cut = tmp_path / "cut.wav"
    cut.write_bytes(wav.read_bytes()[:30])
    for forged in (six, cut):
        out = _cli(sqlite_home, "import", "call", str(forged), "--caller", "0312345678")
        assert out.returncode != 0 and out.stderr.strip(), forged
        assert "Traceback" not in out.stderr
    assert _counts(sqlite_home) == before


def test_the_notice_recited_on_the_customer_side_is_not_compliance(sqlite_home: Path, tmp_path: Path) -> None:
    wav = tmp_path / "c.wav"
    wav.write_bytes(write_wav(np.zeros((8000 * 4, 2), dtype=np.float32), 8000, "pcmu"))
    out = _cli(sqlite_home, "import", "call", str(wav), "--caller", "0312345678", "--json")
    assert out.returncode == 0, out.stderr
    call_id = int(json.loads(out.stdout)["id"])
    with Akashi.open(sqlite_home, run_migrations=False) as ak:
        with session_scope(ak.engine) as s:
            for channel, start, text in [
                ("customer", 0.5, "この通話はサービス向上のため録音させていただきます。"),
                ("operator", 2.0, "お電話ありがとうございます。手続きについてご説明いたします。"),
            ]:
                s.add(
                    TranscriptSegment(
                        call_id=call_id, channel=channel, start_s=start, end_s=start + 1, text=text
                    )
                )
        res = analyze_call(ak, call_id, retranscribe=False)
        with session_scope(ak.engine) as s:
            call = s.get(Call, call_id)
            assert call is not None
            flags, extra = list(call.flags), dict(call.extra)
    assert res.notice is not None and res.notice.check == "not_given"
    assert "notice_missing" in flags
    assert extra["analysis"]["notice"]["check"] == "not_given"


def test_forged_word_times_never_time_a_flag() -> None:
    text = "ネットに晒すぞ"
    forged = (Word(100.0, 101.0, "ネット"), Word(0.0, 0.1, "に"))  # do not spell the text
    seg = Segment("customer", 3.0, 4.0, text, forged)
    (flag,) = [f for f in lexicon_findings([seg], load_lexicon(None), ("customer",)) if "晒" in f.words]
    assert (flag.start_s, flag.end_s, flag.detail["time_of"]) == (3.0, 4.0, "utterance")
