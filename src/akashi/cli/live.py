"""``akashi calls live``: the calls in progress the live board shows, for scripts."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from akashi.access.live import calls_in_progress
from akashi.cli.apps import calls_app, emit, open_akashi, principal_for
from akashi.db.base import session_scope
from akashi.errors import AccessDenied

#: Events listed per call (the start and the answer are in the call's own fields).
SHOWN = ("flag", "key", "warning", "long_call")


@calls_app.command("live")
def calls_live(
    as_user: str | None = typer.Option(None, "--as", help="As this user (admins and managers; their sites)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """通話中の通話（通話モニターと同じ）/ calls in progress, with their live flags, keys and warnings."""
    who = principal_for(as_user)
    if who.role not in ("admin", "manager"):
        raise AccessDenied(
            "通話モニターは管理者とマネージャーのみです", "the live board is for admins and managers"
        )
    ak = open_akashi()
    now = datetime.now(UTC)
    with session_scope(ak.engine) as s:
        calls = calls_in_progress(s, who, now=now)
    rows = [
        {
            "call_id": c.call_id,
            "site": c.site,
            "caller": c.caller,
            "agent": c.agent,
            "direction": c.direction,
            "started_at": c.started_at.isoformat(),
            "answered_at": c.answered_at.isoformat() if c.answered_at else None,
            "duration_s": round((now - (c.answered_at or c.started_at)).total_seconds(), 1),
            "events": [
                {"kind": e.kind, "at": e.at.isoformat(), "detail": e.detail}
                for e in c.events
                if e.kind in SHOWN
            ],
        }
        for c in calls
    ]
    lines = []
    for c, r in zip(calls, rows, strict=True):
        said = ", ".join(_said(e.kind, e.detail) for e in c.events if e.kind in SHOWN)
        lines.append(f"{c.call_id}\t{c.site}\t{c.agent}\t{c.caller}\t{r['duration_s']:.0f}s\t{said}")
    emit(rows, as_json, "\n".join([*lines, f"{len(rows)} 件 / calls in progress"]))


def _said(kind: str, detail: dict[str, object]) -> str:
    """``flag[脅迫]:殺すぞ``: the kind, what was found, the words."""
    cat = f"[{detail['category']}]" if detail.get("category") else ""
    return f"{kind}{cat}:{detail['text']}" if detail.get("text") else kind + cat
