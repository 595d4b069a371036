"""The notice check everywhere: outcomes, purposes, near-misses of 録音, imported calls, JSON, dashboard."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from akashi.access import Principal
from akashi.analysis.audio import write_wav
from akashi.analysis.compliance import check_operator_notice
from akashi.analysis.detect import Segment, Word
from akashi.analysis.pipeline import analyze_call
from akashi.context import Akashi
from akashi.db.base import session_scope, utcnow
from akashi.db.models import Call, TranscriptSegment

NOTICE = "この通話は、サービス向上のため録音させていただきます。"
HELLO = "お電話ありがとうございます。アカシ商事の山田です。"


def _check(said: str, start: float = 0.5, channel: str = "operator") -> tuple[str, dict[str, object]]:
    res = check_operator_notice([Segment(channel, start, start + 6.0, said)], NOTICE, 30.0)
    assert res.ok is (res.check == "given")
    return res.check, res.detail


@pytest.mark.parametrize(
    "purpose",
    ["品質管理のため", "応対記録のため", "確認のため", "サービス向上のため", "記録のため", "内容確認のため"],
)
def test_broad_purposes_are_given(purpose: str) -> None:
    check, detail = _check(f"{HELLO}{purpose}、通話を録音しております。")
    assert check == "given", detail
    assert detail["recording_phrase"] and detail["purpose_phrase"]


@pytest.mark.parametrize(
    ("said", "word"),
    [
        ("この通話はサービス向上のため説明させていただきます。", "説明"),  # ASR: 録音 → 説明
        ("この通話は品質管理のため録画しております。", "録画"),
        ("この通話はサービス向上のためろくおんさせていただきます。", "録音"),  # kana: same reading
    ],
)
def test_near_misses_of_rokuon_count_inside_the_notice_sentence(said: str, word: str) -> None:
    check, detail = _check(HELLO + said)
    assert check == "given", detail
    assert detail["recording_phrase"] == word
    assert detail["heard"] == said


@pytest.mark.parametrize(
    "said",
    [
        "それでは手続きについてご説明いたします。",
        "お手続きの内容を説明させていただきます。",
        "ご注文の記録を確認いたします。",
        "品質管理のため担当者からご説明いたします。",  # a purpose-like phrase, but not about the call
    ],
)
def test_an_unrelated_setsumei_is_not_a_notice(said: str) -> None:
    check, detail = _check(HELLO + said)
    assert check == "not_given", detail
    assert detail["at_s"] is None


def test_outcomes_with_the_words_heard_and_their_time() -> None:
    check, detail = _check(HELLO + "この通話は録音させていただきます。")
    assert check == "given_without_purpose" and detail["purpose_phrase"] == ""
    assert detail["heard"] == "この通話は録音させていただきます。"
    check, detail = _check(HELLO + "この通話は品質向上のため録音しております。", start=42.0)
    assert (check, detail["at_s"]) == ("late", 42.0)
    check, detail = _check(HELLO)
    assert check == "not_given" and detail["heard"] == HELLO
    check, _ = _check(HELLO + NOTICE, channel="customer")  # the customer reciting it is no notice
    assert check == "not_given"
    # With word times the notice sentence is timed by its own words, not by the utterance.
    text = "お電話ありがとうございます。この通話は品質管理のため録音しております。"
    words = (
        Word(1.0, 2.6, "お電話ありがとうございます。"),
        Word(3.4, 4.0, "この通話は"),
        Word(4.1, 5.2, "品質管理のため"),
        Word(5.2, 6.9, "録音しております。"),
    )
    res = check_operator_notice([Segment("operator", 1.0, 6.9, text, words)], NOTICE, 30.0)
    assert (res.check, res.detail["at_s"], res.detail["end_s"]) == ("given", 3.4, 6.9)


def _check_said(lines: list[str], notice_text: str = NOTICE) -> tuple[str, dict[str, object]]:
    """Operator utterances said one after another, 3 s apart."""
    segs = [Segment("operator", 0.5 + 3 * i, 3.0 + 3 * i, t) for i, t in enumerate(lines)]
    res = check_operator_notice(segs, notice_text, 30.0)
    return res.check, res.detail


@pytest.mark.parametrize(
    "lines",
    [
        # A pause after 「この通話は、」 makes the subject an utterance of its own.
        ["お電話ありがとうございます。", "この通話は、", "品質管理のため記録させていただきます。"],
        # What Whisper makes of この通話は on the bench's telephone speech.
        ["この数は", "品質向上のため録音させていただきます"],
        # A notice garbled word by word: shape and sound of the configured text are left.
        ["その数は", "サービスポーズをのため6を立てていただきます"],
    ],
)
def test_garbled_notices_heard_on_telephone_speech_are_given(lines: list[str]) -> None:
    check, detail = _check_said(lines)
    assert check == "given", detail


@pytest.mark.parametrize(
    "lines",
    [
        ["この通話は確認のため担当者に転送させていただきます。"],
        ["お電話を確認のため保留させていただきます。"],
        ["この通話は、", "確認のため保留させていただきます。"],
        ["このあとサービス担当からご案内させていただきます。"],
        ["そのため、折り返しご連絡させていただきます。"],
        ["この商品は品質向上のためにご用意させていただきます。"],
        ["お手続きの内容を説明させていただきます。"],
        ["品質管理のため担当者からご説明いたします。"],
    ],
)
def test_sentences_of_the_notices_shape_that_are_no_notice(lines: list[str]) -> None:
    for text in (NOTICE, ""):
        check, detail = _check_said([HELLO, *lines], notice_text=text)
        assert check == "not_given", (text, detail)


T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


def _run(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AKASHI_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "akashi.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=check,
    )


def _wav(path: Path, channels: int) -> Path:
    path.write_bytes(write_wav(np.zeros((8000 * 4, channels), dtype=np.float32), 8000, "pcmu"))
    return path


def _say(ak: Akashi, call_id: int, lines: list[tuple[str, float, float, str]]) -> None:
    with session_scope(ak.engine) as s:
        for channel, start, end, text in lines:
            s.add(TranscriptSegment(call_id=call_id, channel=channel, start_s=start, end_s=end, text=text))


def test_imported_calls_are_checked_and_show_it(sqlite_home: Path, tmp_path: Path) -> None:
    stereo, mono = _wav(tmp_path / "s.wav", 2), _wav(tmp_path / "m.wav", 1)
    ids = {}
    for name, wav, extra in [
        ("stereo", stereo, []),
        ("mono", mono, []),
        ("none", stereo, ["--notice", "none"]),
        ("auto", stereo, ["--notice", "automatic"]),
    ]:
        out = _run(sqlite_home, "import", "call", str(wav), "--caller", "0312345678", "--json", *extra)
        ids[name] = json.loads(out.stdout)["id"]
    bad = _run(
        sqlite_home, "import", "call", str(stereo), "--caller", "03", "--notice", "sometimes", check=False
    )
    assert bad.returncode != 0 and "--notice" in bad.stderr
    with Akashi.open(sqlite_home) as ak:
        with session_scope(ak.engine) as s:
            modes = {k: s.get(Call, v).notice_mode for k, v in ids.items()}  # type: ignore[union-attr]
            assert s.query(Call).count() == 4  # the refused import stored nothing
        assert modes == {"stereo": "operator", "mono": "operator", "none": "none", "auto": "automatic"}
        _say(
            ak,
            ids["stereo"],
            [
                ("operator", 0.4, 3.0, HELLO),
                ("customer", 3.2, 4.0, "ネットに晒すぞ"),
                ("operator", 3.5, 6.0, "この通話は品質管理のため録音しております。"),
            ],
        )
        _say(ak, ids["mono"], [("mixed", 0.4, 3.0, HELLO + "ご用件を伺います。")])
        _say(ak, ids["none"], [("operator", 0.4, 3.0, HELLO)])
        _say(ak, ids["auto"], [("operator", 0.2, 3.0, "この通話は応対記録のため録音させていただきます。")])
        for call_id in ids.values():
            analyze_call(ak, call_id, retranscribe=False)
    shown = {
        k: json.loads(_run(sqlite_home, "calls", "show", str(v), "--json").stdout) for k, v in ids.items()
    }
    assert shown["stereo"]["notice"]["check"] == "given"
    assert shown["stereo"]["notice"]["at_s"] == 3.5
    assert shown["mono"]["notice"]["check"] == "not_given"
    assert shown["none"]["notice"]["check"] is None
    assert shown["auto"]["notice"]["check"] == "given"  # an old automatic notice, heard in the recording
    transcript = shown["stereo"]["transcript"]
    assert [t["start_s"] for t in transcript] == [0.4, 3.2, 3.5]  # both channels interleaved by time
    assert transcript[1] == {"channel": "customer", "start_s": 3.2, "end_s": 4.0, "text": "ネットに晒すぞ"}
    (sns,) = [f for f in shown["stereo"]["flag_details"] if f["category"] == "SNS・ネット晒し"]
    assert (sns["start_s"], sns["end_s"]) == (3.2, 4.0)
    assert "notice_missing" in shown["mono"]["flags"] and "notice_missing" not in shown["stereo"]["flags"]


def test_dashboard_rate_counts_checked_calls_by_site_and_operator(sqlite_home: Path) -> None:
    from akashi.calloutcome import CallOutcome
    from akashi.ingest import ingest_call
    from akashi.web.services.dashboard import dashboard

    now = utcnow() - timedelta(hours=1)
    with Akashi.open(sqlite_home) as ak:
        said = {
            ("tokyo", "山田"): "この通話は品質管理のため録音しております。",
            ("tokyo", "佐藤"): "担当の佐藤です。",
            ("osaka", "田中"): "この通話は録音しております。",  # no purpose: not compliant
        }
        for (site, agent), text in said.items():
            rec = CallOutcome(
                started_at=now,
                direction="in",
                caller="0312345678",
                source="import",
                notice_mode="operator",
                site=site,
                agent=agent,
            )
            call_id = ingest_call(ak, None, rec, transcribe=False)
            _say(ak, call_id, [("operator", 0.5, 3.0, text)])
            analyze_call(ak, call_id, retranscribe=False)
        unchecked = CallOutcome(started_at=now, direction="in", caller="0311112222", source="import")
        ingest_call(ak, None, unchecked, transcribe=False)  # mode empty: no check, not counted
        with session_scope(ak.engine) as s:
            data = dashboard(s, Principal.system())["compliance"]
    assert (data["checked"], data["with_notice"]) == (3, 1)
    assert data["rate"] == pytest.approx(1 / 3)
    assert {r["site"]: (r["with_notice"], r["checked"]) for r in data["by_site"]} == {
        "osaka": (0, 1),
        "tokyo": (1, 2),
    }
    assert {r["agent"]: r["rate"] for r in data["by_operator"]} == {"山田": 1.0, "佐藤": 0.0, "田中": 0.0}


def test_call_page_shows_the_check_and_each_utterances_times(sqlite_home: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from akashi.web.app import create_app
    from tests.web.conftest import api_login, seed

    with Akashi.open(sqlite_home) as ak:
        seeded = seed(ak, tmp_path)
        cid = seeded.calls["tanaka_call"]
        with session_scope(ak.engine) as s:
            call = s.get(Call, cid)
            assert call is not None
            call.notice_mode = "operator"  # its seeded operator says the call is recorded, but not why
        analyze_call(ak, cid, retranscribe=False)
        with TestClient(create_app(ak), base_url="http://testserver") as client:
            api_login(client, "admin")
            page = client.get(f"/calls/{cid}").text
            client.cookies.set("akashi_lang", "en")
            english = client.get(f"/calls/{cid}").text
    # the page speaks one language at a time: Japanese first, English when toggled
    assert "告知あり・目的なし" in page and "given without purpose" in english
    # each utterance with its start and end (0.0–1.2 s and 1.3–2.8 s)
    assert re.findall(r'class="at">([^<]*)</span>', page)[:2] == ["0:00–0:01", "0:01–0:03"]
