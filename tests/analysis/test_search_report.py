"""Transcript search (FTS5 trigram on SQLite, pg_trgm on PostgreSQL) and the mining report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select, update

from akashi.analysis.report import build_report
from akashi.analysis.text import search_reading
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.fts import normalise_text, text_filter
from akashi.db.models import Call, TranscriptSegment
from akashi.db.models_analysis import CallKeyword

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # 10:00 JST, a Monday


def _call(ak: Akashi, texts: list[str], **kw: object) -> int:
    with session_scope(ak.engine) as s:
        call = Call(started_at=kw.pop("started_at", T0), direction="in", **kw)
        s.add(call)
        s.flush()
        for i, t in enumerate(texts):
            s.add(TranscriptSegment(call_id=call.id, channel="customer", start_s=i, end_s=i + 1, text=t))
        return call.id


def _search(ak: Akashi, q: str) -> list[int]:
    with session_scope(ak.engine) as s:
        return sorted(s.scalars(select(Call.id).where(text_filter(s, q, search_reading(q)))))


def test_text_search(home: Path) -> None:
    with Akashi.open(home) as ak:
        a = _call(ak, ["今すぐ土下座しろ", "ふざけるな"])
        b = _call(ak, ["返金していただけますか"])
        c = _call(ak, ["100%の返金_保証って書いてある"])
        assert _search(ak, "土下座") == [a]
        assert _search(ak, "返金") == [b, c]  # two characters: LIKE fallback
        assert _search(ak, "金") == [b, c]
        assert _search(ak, "土下座 しろ") == [a]  # spaces are not in stored text
        assert _search(ak, "していただけ") == [b]
        assert _search(ak, "100%") == [c]
        assert _search(ak, "%の") == [c]
        assert _search(ak, "_保") == [c]
        assert _search(ak, '"') == []
        assert _search(ak, 'しろ"') == []
        assert _search(ak, "存在しない言葉") == []
        assert _search(ak, "  ") == [a, b, c]
        # The index follows updates and deletions of segments.
        with session_scope(ak.engine) as s:
            s.execute(
                update(TranscriptSegment).where(TranscriptSegment.call_id == b).values(text="責任者を出せ")
            )
            s.execute(delete(TranscriptSegment).where(TranscriptSegment.call_id == a))
        assert _search(ak, "土下座") == []
        assert _search(ak, "責任者") == [b]
        assert _search(ak, "していただけ") == []


def test_search_by_reading(home: Path) -> None:
    from akashi.analysis.text import reading_of

    with Akashi.open(home) as ak:
        with session_scope(ak.engine) as s:
            call = Call(started_at=T0, direction="in")
            s.add(call)
            s.flush()
            for text in ("今すぐどげざしろ", "ネットにさらすぞ"):  # what the recogniser wrote, in kana
                s.add(
                    TranscriptSegment(
                        call_id=call.id,
                        channel="customer",
                        start_s=0,
                        end_s=1,
                        text=text,
                        reading=reading_of(text),
                    )
                )
            plain = Call(started_at=T0, direction="in")
            s.add(plain)
            s.flush()
            s.add(
                TranscriptSegment(
                    call_id=plain.id,
                    channel="customer",
                    start_s=0,
                    end_s=1,
                    text="下座席",
                    reading=reading_of("下座席"),
                )
            )
        assert _search(ak, "土下座") == [call.id]  # written in kanji, found through the reading
        assert _search(ak, "晒す") == [call.id]
        assert _search(ak, "どげざ") == [call.id]


def test_normalise_text() -> None:
    assert normalise_text(" お電話 ありがとう　ございます ") == "お電話ありがとうございます"
    assert normalise_text("ＳＮＳ で 拡散") == "SNSで拡散"
    assert normalise_text("Call me ABC 123 です") == "Call me ABC 123です"


def test_report(home: Path) -> None:
    with Akashi.open(home) as ak:
        day = timedelta(days=1)
        ids = [
            _call(
                ak,
                [],
                started_at=T0,
                caller_digits="0312345678",
                agent_name="山田",
                flags=["脅迫", "暴言"],
                analysis_state="done",
            ),
            _call(
                ak,
                [],
                started_at=T0 + day,
                caller_digits="0312345678",
                agent_name="山田",
                flags=["脅迫", "notice_missing"],
                analysis_state="done",
            ),
            _call(
                ak,
                [],
                started_at=T0 + 2 * day,
                caller_digits="0312345678",
                agent_name="佐藤",
                flags=[],
                analysis_state="done",
            ),
            _call(
                ak,
                [],
                started_at=T0 + 8 * day,
                caller_digits="0900000000",
                agent_name="佐藤",
                flags=["notice_missing"],
                analysis_state="pending",
            ),
            _call(
                ak,
                [],
                started_at=T0 + 40 * day,
                caller_digits="0312345678",
                agent_name="山田",
                flags=["暴言"],
                analysis_state="done",
            ),
        ]
        with session_scope(ak.engine) as s:
            s.add_all(
                [
                    CallKeyword(call_id=ids[0], word="返金", count=2),
                    CallKeyword(call_id=ids[1], word="返金", count=1),
                    CallKeyword(call_id=ids[1], word="配送", count=1),
                    CallKeyword(call_id=ids[3], word="配送", count=3),
                ]
            )
        r = build_report(ak.engine, T0, T0 + 30 * day, repeat_calls=3)
    assert r["calls"] == 4
    assert r["analysed"] == 3
    assert r["flagged_calls"] == 2
    assert r["per_category"] == {"脅迫": 2, "暴言": 1}
    assert [d["day"] for d in r["per_day"]] == ["2026-11-02", "2026-11-03"]
    assert r["per_day"][0]["categories"] == {"脅迫": 1, "暴言": 1}
    assert r["repeat_callers"] == [{"caller": "0312345678", "calls": 3}]
    assert r["agents"] == [
        {"agent": "山田", "calls": 2, "flagged_calls": 2},
        {"agent": "佐藤", "calls": 2, "flagged_calls": 0},
    ]
    assert r["notice_missing"] == 2
    weeks = {w["week"]: w["keywords"] for w in r["top_keywords_per_week"]}
    assert weeks["2026-W45"] == [{"word": "返金", "count": 3}, {"word": "配送", "count": 1}]
    assert weeks["2026-W46"] == [{"word": "配送", "count": 3}]


def test_search_is_indexed(home: Path) -> None:
    from sqlalchemy import text

    with Akashi.open(home) as ak, session_scope(ak.engine) as s:
        if ak.engine.dialect.name == "postgresql":
            names = set(
                s.scalars(text("SELECT indexname FROM pg_indexes WHERE tablename = 'transcript_segments'"))
            )
            assert "ix_transcript_segments_text_trgm" in names
        else:
            stmt = select(Call.id).where(text_filter(s, "土下座"))
            sql = str(stmt.compile(ak.engine, compile_kwargs={"literal_binds": True}))
            plan = " ".join(str(r) for r in s.execute(text("EXPLAIN QUERY PLAN " + sql)))
            assert "transcript_fts" in plan
            assert "VIRTUAL TABLE INDEX" in plan
