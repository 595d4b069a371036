"""The mining page (``/mining``) and its CSV exports (``/mining/{table}.csv``).

Who may see it:

- administrators (every site) and managers (their sites): every table;
- auditors: the tables of call metadata only (repeat callers, harassment counts by category, hour and
  weekday, long calls), never the rising terms, which are words said (like transcripts, keywords and
  flagged words, content is not for auditors: :data:`akashi.access.principal.CONTENT_ROLES`);
- operators and counsel: nobody's aggregates; refused and audited (operators find their own calls on
  ``/calls``, counsel read only the incidents granted to them).

Every table counts only the calls the user may see (the principal's calls clause). Showing the page is
not audited (it is aggregates, like the dashboard); each CSV export is, as ``export_aggregates`` with
the table, the period and the number of rows, committed before the file is returned.
"""

from __future__ import annotations

import csv
import io
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from akashi.access import Principal
from akashi.access.evidence import refuse
from akashi.analysis import mining_report as mr

MINING_ROLES = frozenset({"admin", "manager", "auditor"})
BAD_UNTIL = ("日付は 2026-01-31 の形で入力してください", "enter the date as 2026-01-31")


class Table(StrEnum):
    """The tables of the page, each exported as CSV."""

    terms = "terms"
    repeat = "repeat"
    category = "category"
    hour = "hour"
    weekday = "weekday"
    long = "long"


# CSV headers: Japanese first with English beside it, as on the page.
HEADERS: dict[Table, tuple[str, ...]] = {
    Table.terms: (
        "拠点 site",
        "言葉 term",
        "今週の通話 calls this week",
        "前4週の通話 calls 4 weeks before",
        "z",
    ),
    Table.repeat: (
        "発信者 caller",
        "通話数 calls",
        "通話 call",
        "開始 started (JST)",
        "通話時間(秒) talk_s",
        "録音の長さ(秒) duration_s",
        "担当者 agent",
        "拠点 site",
        "フラグ flags",
    ),
    Table.category: ("分類 category", "通話 calls"),
    Table.hour: ("時 hour (JST)", "通話 calls"),
    Table.weekday: ("曜日 weekday (JST)", "通話 calls"),
    Table.long: (
        "通話 call",
        "開始 started (JST)",
        "通話時間(秒) talk_s",
        "録音の長さ(秒) duration_s",
        "発信者 caller",
        "担当者 agent",
        "拠点 site",
        "フラグ flags",
    ),
}


def refusal(
    engine: Engine, p: Principal, client: str, target: str, why: str, message: tuple[str, str]
) -> Exception:
    """Audit a refused look at the aggregates; the error for the caller to raise."""
    return refuse(engine, p, "mining", "mining", target, client, why, message=message)


def allowed(engine: Engine, p: Principal, client: str, table: Table | None) -> None:
    """Refuse (audited) a role that may not see the page, or an auditor asking for words said."""
    target = table.value if table else "page"
    if p.role not in MINING_ROLES:
        raise refusal(
            engine,
            p,
            client,
            target,
            f"role_{p.role}",
            (
                "集計（よく出る言葉・繰り返し発信者・ハラスメント傾向）は管理者・管理職・監査担当者だけが見られます",
                "only administrators, managers and auditors may see the mining aggregates",
            ),
        )
    if table is Table.terms and not p.can_read_content:
        raise refusal(
            engine,
            p,
            client,
            target,
            f"role_{p.role}_no_content",
            (
                "監査担当者は通話の内容（言葉）の集計を見られません",
                "auditors may not see aggregates of the words said",
            ),
        )


def tables(
    s: Session, p: Principal, w: mr.Window, *, repeat_calls: int, long_minutes: float
) -> dict[str, Any]:
    """Every table of the page for ``p`` (the rising terms only for roles that read content)."""
    scope = p.calls_clause()
    harassment = mr.harassment(s, scope, w)
    return {
        "terms": mr.rising_by_site(s, scope, w) if p.can_read_content else None,
        "repeat": mr.repeat_callers(s, scope, w, repeat_calls),
        "category": harassment["category"],
        "hour": harassment["hour"],
        "weekday": harassment["weekday"],
        "long": mr.long_calls(s, scope, w, long_minutes),
    }


def csv_cell(value: object) -> object:
    """A CSV cell that a spreadsheet will not run: text starting like a formula gets a leading quote."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r", "|", "%"):
        return "'" + value
    return value


def csv_rows(table: Table, data: dict[str, Any], lang: str) -> list[tuple[object, ...]]:
    """The rows of one table, as the CSV carries them (one row per call for repeat callers)."""
    rows: list[tuple[object, ...]] = []
    if table is Table.terms:
        rows = [
            (r["site"] or "全拠点 all", r["term"], r["week"], r["earlier"], r["z"])
            for r in data["terms"] or []
        ]
    elif table is Table.repeat:
        for r in data["repeat"]:
            for c in r["items"]:
                rows.append(
                    (
                        r["caller"],
                        r["calls"],
                        c["id"],
                        c["started_jst"],
                        c["talk_s"],
                        c["duration_s"],
                        c["agent"],
                        c["site"],
                        c["flags"],
                    )
                )
    elif table is Table.category:
        rows = [(r["category"], r["calls"]) for r in data["category"]]
    elif table is Table.hour:
        rows = [(r["hour"], r["calls"]) for r in data["hour"]]
    elif table is Table.weekday:
        rows = [(r["weekday"] if lang == "ja" else r["weekday_en"], r["calls"]) for r in data["weekday"]]
    else:
        rows = [
            (
                c["id"],
                c["started_jst"],
                c["talk_s"],
                c["duration_s"],
                c["caller"],
                c["agent"],
                c["site"],
                c["flags"],
            )
            for c in data["long"]
        ]
    return rows


def csv_bytes(table: Table, rows: list[tuple[object, ...]]) -> bytes:
    """The CSV file of one table: UTF-8 with a BOM (for spreadsheets), headers Japanese first."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\r\n")
    out.writerow(HEADERS[table])
    out.writerows(tuple(csv_cell(v) for v in row) for row in rows)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")
