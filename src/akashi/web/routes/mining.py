"""The mining page (``/mining``) and its CSV exports (``/mining/{table}.csv``).

Who may see what, and the tables themselves: :mod:`akashi.web.services.mining`. Showing the page is not
audited (aggregates, like the dashboard); each CSV export is, committed before the file is returned.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from akashi.access import audit
from akashi.analysis import mining_report as mr
from akashi.db.base import utcnow
from akashi.web.deps import AkashiDep, DbDep, UserDep, require_user
from akashi.web.i18n import JST
from akashi.web.render import render
from akashi.web.services.mining import BAD_UNTIL, Table, allowed, csv_bytes, csv_rows, refusal, tables

router = APIRouter(dependencies=[Depends(require_user)], include_in_schema=False)


def _until(value: str | None) -> date | None:
    if not value:
        return utcnow().astimezone(JST).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


@router.get("/mining")
def mining_page(
    request: Request,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    until: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    """Rising terms by site, repeat callers, harassment by category/hour/weekday, long calls."""
    allowed(ak.engine, auth.principal, auth.client, None)
    day = _until(until)
    error = None
    if day is None:
        error = BAD_UNTIL[0] if auth.lang == "ja" else BAD_UNTIL[1]
        day = utcnow().astimezone(JST).date()
    w = mr.Window.ending(day)
    cfg = ak.settings.analysis
    data = tables(db, auth.principal, w, repeat_calls=cfg.repeat_calls, long_minutes=cfg.long_call_minutes)
    return render(
        request,
        auth,
        "mining.html",
        data=data,
        period=w.describe(),
        until=day.isoformat(),
        until_typed=until or "",
        error=error,
        long_minutes=cfg.long_call_minutes,
        repeat_calls=cfg.repeat_calls,
        tables=[t.value for t in Table],
    )


@router.get("/mining/{table}.csv")
def mining_csv(
    table: Table,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    until: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    """One table of the page as CSV (UTF-8 with BOM, for spreadsheets); the export is audited first."""
    allowed(ak.engine, auth.principal, auth.client, table)
    day = _until(until)
    if day is None:
        raise refusal(ak.engine, auth.principal, auth.client, table.value, "bad_until", BAD_UNTIL)
    w = mr.Window.ending(day)
    cfg = ak.settings.analysis
    data = tables(db, auth.principal, w, repeat_calls=cfg.repeat_calls, long_minutes=cfg.long_call_minutes)
    rows = csv_rows(table, data, auth.lang)
    p = auth.principal
    audit(
        db,
        user=p.name,
        action="export_aggregates",
        target_type="mining",
        target_id=table.value,
        client=auth.client,
        detail={
            "table": table.value,
            "rows": len(rows),
            **w.describe(),
            "sites": "all" if p.site_ids is None else sorted(p.site_ids),
        },
    )
    db.commit()  # no file leaves before the record of who exported what (raises when it cannot be written)
    name = f"akashi-mining-{table.value}-{day.isoformat()}.csv"
    return Response(
        csv_bytes(table, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
