"""Tables of the analysis area: per-call keywords (for tags and trends).

The full-text index over ``transcript_segments`` is not a mapped table: on SQLite it is the FTS5
virtual table ``transcript_fts`` (trigram tokenizer) kept in sync by triggers, on PostgreSQL a
``pg_trgm`` GIN index; both are created by migration ``0002_analysis`` and used by :mod:`akashi.db.fts`.
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from akashi.db.base import Base


class CallKeyword(Base):
    """A noun or noun phrase that characterises a call, with how often it was said."""

    __tablename__ = "call_keywords"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    word: Mapped[str] = mapped_column(String(128))
    count: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (Index("ix_call_keywords_word", "word"),)
