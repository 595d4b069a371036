"""What ``akashi verify`` reports: each difference found, the totals, and the external anchor.

The bottom of the verify modules: :mod:`akashi.store.verify` fills a :class:`VerifyReport` from the
store and its ledger, and :mod:`akashi.store.checkpoint_verify` adds what the checkpoints outside
the box say; both import this module, and it imports neither.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from akashi.db.base import utcnow


@dataclass(frozen=True)
class Problem:
    """One difference between the store and its ledger."""

    kind: str
    ja: str
    en: str
    object_id: str | None = None
    seq: int | None = None

    def text(self) -> str:
        """One line: where, then Japanese and English."""
        where = (
            f"object {self.object_id}" if self.object_id else f"ledger #{self.seq}" if self.seq else "store"
        )
        if self.kind.startswith("audit_"):
            where = f"監査ログ / audit log #{self.seq}"
        return f"[{self.kind}] {where}: {self.ja} / {self.en}"


@dataclass
class VerifyReport:
    """The result of :func:`verify_store`. ``ok`` is True only when nothing at all differs."""

    checked: int = 0
    tombstones: int = 0
    ledger_entries: int = 0
    audit_entries: int = 0
    problems: list[Problem] = field(default_factory=list)
    started_at: datetime = field(default_factory=utcnow)
    finished_at: datetime | None = None
    #: The newest external checkpoint the chains were checked against (store/checkpoint_verify.py).
    anchor: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """Everything intact."""
        return not self.problems

    def add(
        self, kind: str, ja: str, en: str, *, object_id: str | None = None, seq: int | None = None
    ) -> None:
        """Record a problem."""
        self.problems.append(Problem(kind, ja, en, object_id, seq))

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "ok": self.ok,
            "checked": self.checked,
            "tombstones": self.tombstones,
            "ledger_entries": self.ledger_entries,
            "audit_entries": self.audit_entries,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "problems": [asdict(p) for p in self.problems],
            "anchor": self.anchor,
        }

    def to_json(self) -> str:
        """The report as JSON text (``akashi verify --json``)."""
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=2)

    def to_text(self) -> str:
        """The report for people: a summary line, then one line per problem."""
        head = (
            f"OK: 証拠 {self.checked} 件と台帳 {self.ledger_entries} 行はすべて一致しました"
            f"（削除記録 {self.tombstones} 件、監査ログ {self.audit_entries} 行） / all {self.checked} objects"
            f" and {self.ledger_entries} ledger entries intact ({self.tombstones} retention tombstones,"
            f" {self.audit_entries} audit log entries)"
            if self.ok
            else f"NG: {len(self.problems)} 件の問題 / {len(self.problems)} problem(s)"
            f" ({self.checked} objects, {self.ledger_entries} ledger entries,"
            f" {self.audit_entries} audit log entries checked)"
        )
        if self.anchor is not None:
            head += "\n" + anchor_text(self.anchor)
        return "\n".join([head, *(p.text() for p in self.problems)])

    def __str__(self) -> str:
        return self.to_text()


def anchor_text(anchor: dict[str, Any] | None) -> str:
    """One line for the verify report: how far back the chains are anchored outside the box."""
    if not anchor or not anchor.get("checkpoint"):
        n = (anchor or {}).get("checkpoints_found", 0)
        return (
            f"外部アンカーなし: 外部で固定されたチェックポイントがありません（{n} 件はこの機械の中だけ）"
            f" / not anchored: no checkpoint outside this machine ({n} only inside it)"
            " — store.tsa_url / Object Lock / store.checkpoint_remote を設定し akashi checkpoint を実行"
        )
    when = anchor.get("tsa_time") or anchor.get("created_at")
    signer = (
        ""
        if anchor.get("tsa_verified") or not anchor.get("tsa_time")
        else "（TSA 署名者未確認 / TSA signer unverified）"
    )
    return (
        f"外部チェックポイント: {when} まで固定{signer}（台帳 #{anchor['ledger_seq']}, 監査 #{anchor['audit_seq']};"
        f" {', '.join(anchor.get('places', []))}）、以降の台帳 {anchor.get('unanchored_ledger_entries', 0)} 行は未固定"
        f" / anchored up to {when} (ledger #{anchor['ledger_seq']}, audit #{anchor['audit_seq']};"
        f" {', '.join(anchor.get('places', []))}); {anchor.get('unanchored_ledger_entries', 0)} later ledger"
        " entries not yet anchored"
    )
