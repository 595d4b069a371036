"""Full-text search over transcripts, Japanese-aware (no word spaces, so n-grams rather than words).

SQLite: the FTS5 table ``transcript_fts`` (trigram tokenizer) kept in sync with
``transcript_segments`` by triggers (migration ``0002_analysis``). PostgreSQL: ``ILIKE`` served by a
``pg_trgm`` GIN index. Queries are NFKC-normalised and spaces removed, as stored transcripts are;
queries shorter than three characters (trigrams need three) fall back to ``LIKE``.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import ColumnElement, bindparam, or_, select, text
from sqlalchemy.orm import Session

from akashi.db.models import Call, TranscriptSegment

TRIGRAM = 3


_SPACE = re.compile(r"\s+")
_ASCII_WORD = re.compile(r"[0-9A-Za-z]")


def normalise_text(q: str) -> str:
    """NFKC, and whitespace removed except between two ASCII words (Japanese has no word spaces).

    Transcripts are stored in this form and queries are put in it, so 「土下座 しろ」 finds 「土下座しろ」.
    """
    q = unicodedata.normalize("NFKC", q).strip()

    def keep(m: re.Match[str]) -> str:
        before = q[m.start() - 1] if m.start() > 0 else ""
        after = q[m.end()] if m.end() < len(q) else ""
        return " " if _ASCII_WORD.match(before) and _ASCII_WORD.match(after) else ""

    return _SPACE.sub(keep, q)


normalise_query = normalise_text


def _like_pattern(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _fts5_phrase(q: str) -> str:
    """``q`` as one FTS5 phrase (a quoted string; inner quotes doubled)."""
    return '"' + q.replace('"', '""') + '"'


def _has_fts_table(session: Session) -> bool:
    # A cheap catalogue lookup; a database migrated without 0002 falls back to LIKE.
    found = session.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'transcript_fts'")
    ).scalar()
    return bool(found)


def text_filter(session: Session, text_query: str, reading: str = "") -> ColumnElement[bool]:
    """A clause on ``Call.id``: calls whose transcript contains ``text_query``.

    Given the query's katakana ``reading`` (``akashi.analysis.text.search_reading``), segments whose
    stored reading contains it match too (three kana or more), so 「土下座」 also finds a transcript where
    the recogniser wrote 「どげざ」. The database layer does not tokenise Japanese itself.
    """
    q = normalise_query(text_query)
    if not q:
        return Call.id.is_not(None)
    written = _written_filter(session, q)
    if len(reading) < TRIGRAM:
        return written
    seg = TranscriptSegment
    by_reading = Call.id.in_(select(seg.call_id).where(seg.reading.like(_like_pattern(reading), escape="\\")))
    return or_(written, by_reading)


def _written_filter(session: Session, q: str) -> ColumnElement[bool]:
    dialect = session.get_bind().dialect.name
    seg = TranscriptSegment
    if dialect == "sqlite" and len(q) >= TRIGRAM and _has_fts_table(session):
        ids = (
            text(
                "SELECT s.call_id FROM transcript_fts JOIN transcript_segments AS s "
                "ON s.id = transcript_fts.rowid WHERE transcript_fts MATCH :fts_q"
            )
            .bindparams(bindparam("fts_q", _fts5_phrase(q), unique=True))
            .columns(seg.call_id)
        )
        return Call.id.in_(ids)
    if dialect == "postgresql":
        return Call.id.in_(select(seg.call_id).where(seg.text.ilike(_like_pattern(q), escape="\\")))
    return Call.id.in_(select(seg.call_id).where(seg.text.like(_like_pattern(q), escape="\\")))
