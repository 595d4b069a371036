"""The readable transcript in a call's evidence package: transcript.txt and transcript.pdf under
derived/, with JST times, speakers, text, flags, the notice check, the recogniser and the machine-made
statement; hashed, signed, marked as derived; ``export check`` OK; none for metadata-only roles."""

from __future__ import annotations

import json
import subprocess
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from akashi.access.export import export_call
from akashi.access.principal import Principal
from akashi.analysis.transcript_doc import build_doc, render_text
from akashi.callfacts import AnalysisFacts
from akashi.calloutcome import CallOutcome
from akashi.config.analysis import AnalysisSettings
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import Call, CallFlag, TranscriptSegment
from akashi.ingest import ingest_call
from akashi.store.export import check_package
from akashi.store.package_check import Pin
from tests.cli.test_end_to_end import make_wav
from tests.cli.test_end_to_end import run as akashi_cli
from tests.conftest import require_binary

UTTERANCES = [
    ("operator", 0.4, 4.2, "お電話ありがとうございます。品質向上のため通話を録音しております。"),
    ("customer", 5.0, 9.8, "おたくの商品が壊れていた。責任者を出せ。"),
    ("operator", 10.3, 12.0, "大変申し訳ございません。"),
    ("customer", 26.1, 29.5, "土下座しろ。ネットに晒すぞ。"),
]


def _analysed_call(ak: Akashi, tmp_path: Path) -> int:
    """An imported call with a stored utterance transcript, two flags and a notice check."""
    from akashi.analysis.pipeline import recogniser_settings

    wav = tmp_path / "old.wav"
    make_wav(wav, seconds=31.0)
    rec = CallOutcome(
        started_at=datetime(2026, 11, 2, 1, 15, 0, tzinfo=UTC),  # 10:15:00 JST
        answered_at=datetime(2026, 11, 2, 1, 15, 0, tzinfo=UTC),
        direction="in",
        caller="+81-3-1234-5678",
        agent="佐藤 花子",
        site="tokyo",
        source="import",
        notice_mode="operator",
    )
    call_id = ingest_call(ak, wav, rec, transcribe=False)
    with session_scope(ak.engine) as s:
        s.add_all(
            TranscriptSegment(call_id=call_id, channel=ch, start_s=a, end_s=b, text=t, reading="")
            for ch, a, b, t in UTTERANCES
        )
        s.add_all(
            [
                CallFlag(call_id=call_id, category="土下座の要求", source="lexicon", words="土下座しろ",
                         channel="customer", start_s=26.2, end_s=27.0, score=1.0, detail={}),
                CallFlag(call_id=call_id, category="脅迫", source="lexicon", words="晒すぞ",
                         channel="customer", start_s=28.1, end_s=29.0, score=1.0, detail={}),
            ]
        )  # fmt: skip
        call = s.get(Call, call_id)
        assert call is not None
        call.flags = ["土下座の要求", "脅迫"]
        call.analysis_state = "done"
        facts = call.facts
        facts.analysis = AnalysisFacts(
            at="2026-11-02T02:00:00+00:00",
            model="base",
            settings=recogniser_settings(AnalysisSettings()),
            lexicon="default",
            notice={"mode": "operator", "check": "given", "at_s": 2.1, "heard": "通話を録音しております"},
        )
        call.extra = facts.to_extra()
    ak.store.flush_spool()
    return call_id


@pytest.fixture
def package(sqlite_home: Path, tmp_path: Path) -> tuple[Path, Path, int]:
    with Akashi.open(sqlite_home) as ak:
        call_id = _analysed_call(ak, tmp_path)
        out = export_call(ak, Principal.system("kanri"), call_id, tmp_path / "call.zip")
    return sqlite_home, out, call_id


def test_package_carries_both_transcripts_hashed_signed_and_marked_derived(
    package: tuple[Path, Path, int], tmp_path: Path
) -> None:
    home, pkg, _ = package
    with zipfile.ZipFile(pkg) as z:
        names = set(z.namelist())
        assert {"derived/transcript.txt", "derived/transcript.pdf"} <= names
        manifest = json.loads(z.read("manifest.json"))
        sums = z.read("SHA256SUMS").decode()
        text = z.read("derived/transcript.txt").decode()
        z.extractall(tmp_path / "unpacked")
    listed = {f["name"] for f in manifest["files"]}
    assert {"derived/transcript.txt", "derived/transcript.pdf"} <= listed
    assert "  derived/transcript.txt\n" in sums and "  derived/transcript.pdf\n" in sums
    derived = {d["file"]: d for d in manifest["derived"]}
    for name in ("derived/transcript.txt", "derived/transcript.pdf"):
        assert derived[name]["from"].startswith("media/call-")
        assert "not the evidence" in derived[name]["how"]
    assert not any(o["file"].startswith("derived/") for o in manifest["objects"])  # never the evidence

    # the text: JST clock time and offset, speakers, the words, flags, notice, recogniser, the caveat
    assert "10:15:26 JST (+0:26)" in text and "顧客 / customer" in text and "担当者 / operator" in text
    assert "土下座しろ。ネットに晒すぞ。" in text
    assert "★ [フラグ / flag] 土下座の要求「土下座しろ」 (+0:26)" in text
    assert "★ [フラグ / flag] 脅迫「晒すぞ」 (+0:28)" in text
    assert "告知あり（目的の説明あり）" in text and "通話を録音しております" in text
    assert "Whisper base" in text and "beam_size=5" in text and "vad=True" in text
    assert "機械的に作成" in text and "The evidence is the recording" in text
    # utterances in time order, both channels interleaved
    order = [text.index(t) for _, _, _, t in UTTERANCES]
    assert order == sorted(order)

    # the PDF: the Japanese text and the times extract with poppler's pdftotext
    pdftotext = require_binary("pdftotext")
    extracted = subprocess.run(
        [pdftotext, "-layout", str(tmp_path / "unpacked/derived/transcript.pdf"), "-"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    for needle in ("土下座しろ。ネットに晒すぞ。", "10:15:26 JST (+0:26)", "顧客", "担当者", "土下座の要求",
                   "告知あり", "Whisper base", "機械的に作成"):  # fmt: skip
        assert needle in extracted, needle

    # hashes verify with coreutils, and with Akashi's checker against the installation's key
    sha256sum = require_binary("sha256sum")
    ok = subprocess.run(
        [sha256sum, "-c", "SHA256SUMS"],
        check=False,
        cwd=tmp_path / "unpacked",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "derived/transcript.pdf: OK" in ok.stdout
    pem = (tmp_path / "unpacked/public_key.pem").read_bytes()
    assert check_package(pkg, pins=[Pin.from_pem(pem, "installation")]).verdict == "OK"
    assert akashi_cli(home, "export", "check", str(pkg)).returncode == 0


def test_metadata_only_role_gets_no_transcript(sqlite_home: Path, tmp_path: Path) -> None:
    """What was said is content: the facts a metadata-only role is given make no transcript files."""
    from akashi.access.evidence import readable_facts
    from akashi.analysis.transcript_doc import package_files
    from akashi.calls import call_facts

    with Akashi.open(sqlite_home) as ak:
        call_id = _analysed_call(ak, tmp_path)
        with session_scope(ak.engine) as s:
            call = s.get(Call, call_id)
            assert call is not None
            facts = call_facts(s, call, with_transcript=True)
    auditor = Principal(0, "kansa", "auditor", None)
    assert package_files(readable_facts(Principal.system(), facts), None, "call.wav")  # content role: two
    assert package_files(readable_facts(auditor, facts), None, "call.wav") == []


def test_doc_without_analysis_or_notice_says_so() -> None:
    facts: dict[str, Any] = {
        "id": 3,
        "started_at": "2026-11-02T01:15:00+00:00",
        "notice": {"mode": "none", "check": None},
        "transcript": [{"channel": "mixed", "start_s": 61.0, "end_s": 62.5, "text": "はい"}],
        "flag_details": [
            {"category": "時間拘束", "source": "behaviour", "words": "", "channel": "", "start_s": 0.0,
             "end_s": 1900.0},
        ],
    }  # fmt: skip
    doc = build_doc(facts, None)
    assert doc is not None
    text = render_text(doc)
    assert "10:16:01 JST (+1:01)" in text  # mono call: both sides in one channel
    assert "確認対象外" in text and "記録なし / not recorded" in text
    assert "時間拘束" in text.split("発話 / Utterances")[0]  # a whole-call flag is listed apart
    facts["notice"] = {"mode": "operator", "check": None}
    doc2 = build_doc(facts, None)
    assert doc2 is not None and "未確認" in render_text(doc2)
    facts["notice"] = {"mode": "operator", "check": "late", "at_s": 45.0, "heard": "録音しております"}
    doc3 = build_doc(facts, AnalysisFacts(model="large-v3"))
    assert doc3 is not None
    late = render_text(doc3)
    assert "告知が遅れました" in late and "(+0:45)" in late.replace("（+0:45）", "(+0:45)")
    assert "Whisper large-v3" in late


def test_incident_package_carries_each_calls_transcript(sqlite_home: Path, tmp_path: Path) -> None:
    from akashi.access.export import export_incident
    from akashi.db.models import Incident, IncidentItem

    with Akashi.open(sqlite_home) as ak:
        call_id = _analysed_call(ak, tmp_path)
        with session_scope(ak.engine) as s:
            inc = Incident(title="カスハラ 11/2", created_by="kanri")
            s.add(inc)
            s.flush()
            s.add(IncidentItem(incident_id=inc.id, call_id=call_id))
            inc_id = inc.id
        pkg = export_incident(ak, Principal.system("kanri"), inc_id, tmp_path / "incident.zip", "cli")
    with zipfile.ZipFile(pkg) as z:
        manifest = json.loads(z.read("manifest.json"))
        text = z.read(f"derived/call-{call_id}-transcript.txt").decode()
        assert f"derived/call-{call_id}-transcript.pdf" in z.namelist()
    derived = {d["file"]: d["from"] for d in manifest["derived"]}
    assert derived[f"derived/call-{call_id}-transcript.txt"].startswith(f"media/call-{call_id}-")
    assert "★ [フラグ / flag] 脅迫「晒すぞ」 (+0:28)" in text
    assert check_package(pkg).ok
    assert akashi_cli(sqlite_home, "export", "check", str(pkg)).returncode == 0


def test_call_never_analysed_gets_no_transcript_but_a_silent_analysed_one_does() -> None:
    from akashi.analysis.transcript_doc import package_files

    facts: dict[str, Any] = {"id": 9, "started_at": "2026-11-02T01:15:00+00:00", "transcript": []}
    assert package_files(facts, None, "call-9.wav") == []  # not transcribed yet: no claim either way
    made = package_files(facts, AnalysisFacts(model="base", at="2026-11-02T02:00:00+00:00"), "call-9.wav")
    assert [d.name for d in made] == ["transcript.txt", "transcript.pdf"]
    assert "発話は認識されませんでした" in made[0].data.decode()


def test_pdf_carries_an_utterance_longer_than_a_page_over_several(tmp_path: Path) -> None:
    from akashi.analysis.transcript_doc import render_pdf

    rant = "".join(f"苦情その{i}、" for i in range(900)) + "最後の言葉。"
    facts: dict[str, Any] = {
        "id": 4,
        "started_at": "2026-11-02T01:15:00+00:00",
        "transcript": [
            {"channel": "customer", "start_s": 5.0, "end_s": 400.0, "text": rant},
            {"channel": "operator", "start_s": 401.0, "end_s": 403.0, "text": "承知いたしました。"},
        ],
        "flag_details": [{"category": "脅迫", "words": "最後", "channel": "customer", "start_s": 399.0}],
    }
    doc = build_doc(facts, AnalysisFacts(model="base"))
    assert doc is not None
    pdf = tmp_path / "long.pdf"
    pdf.write_bytes(render_pdf(doc))
    pdftotext = require_binary("pdftotext")
    text = subprocess.run(
        [pdftotext, str(pdf), "-"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    pages = text.split("\f")
    assert len([pg for pg in pages if pg.strip()]) >= 4
    assert "続き / continued" in pages[1] and "苦情その899、" in text and "最後の言葉。" in text
    assert "脅迫「最後」" in text and "承知いたしました。" in text and "10:21:41 JST (+6:41)" in text
    # every page keeps the machine-made statement in its footer
    assert all("機械的に作成" in pg for pg in pages if pg.strip())
