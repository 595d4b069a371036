"""``/calls/rows``: what the open call list needs to keep itself current without a reload (issue 11 item 7).

``calls.js`` asks every few seconds while the page is visible, with the page's own filters and:

- ``after``: the newest call id the list already knows of; calls that match the filters and are newer come
  back as rendered rows (``insert=1``: the list shows newest first on its first page, so they go in at the
  top) or only as a count (any other order or page: the page offers a reload instead of moving rows); the
  answer's ``after`` is where the next question starts (without ``after``: the newest call id now);
- ``follow``: ids of rows whose transcription is still under way; each comes back with its state, and a row
  that has settled comes back rendered again (its flags, or 「フラグなし」).

A question that finds nothing new costs one ``max(id)`` and writes nothing. Rows that are sent are a search
result like any other: one ``search`` audit entry (``via: web-refresh``, the filters, the ids sent), committed
before the answer leaves, as :func:`akashi.access.search.audited_search` does for the page itself.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from sqlalchemy import func, select

from akashi.access import audit
from akashi.access.search import search_filters
from akashi.db.models import Call, Site
from akashi.db.queries import search_calls
from akashi.web.deps import DbDep, UserDep, require_user
from akashi.web.i18n import duration, translate
from akashi.web.i18n import label as code_label
from akashi.web.render import templates
from akashi.web.services.analysisview import SETTLED, analysis_states
from akashi.web.services.callfilters import CallFiltersDep
from akashi.web.services.calls import summary

router = APIRouter(dependencies=[Depends(require_user)], include_in_schema=False)

#: at most this many new rows in one answer (more: the page offers a reload)
MAX_NEW = 50
#: at most this many followed rows in one question
MAX_FOLLOW = 50
_NO_STORE = {"Cache-Control": "no-store"}


def _follow_ids(raw: str) -> list[int]:
    ids: list[int] = []
    for part in raw.split(","):
        if part.strip().isdigit() and len(ids) < MAX_FOLLOW:
            ids.append(int(part))
    return ids


@router.get("/calls/rows")
def call_rows(
    *,
    db: DbDep,
    auth: UserDep,
    filters: CallFiltersDep,
    after: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    insert: bool = False,
    follow: Annotated[str, Query(max_length=1000)] = "",
) -> JSONResponse:
    """New rows matching the list's filters and the state of rows still being analysed (JSON)."""
    p = auth.principal
    if filters.asks_words and not p.can_read_content:  # the page itself refused (and audited) this search
        return JSONResponse({"detail": "forbidden"}, status_code=403, headers=_NO_STORE)
    latest = int(db.scalar(select(func.max(Call.id))) or 0)
    out: dict[str, Any] = {"latest": latest, "new": 0, "more": False, "rows": [], "updated": []}
    lang = auth.lang
    looked_up: dict[str, dict[Any, str]] = {}  # sites by id and labels by name, read once rows are sent

    def render_row(call: Call, state: str) -> str:
        if not looked_up:
            rows = db.execute(select(Site.id, Site.name, Site.label)).all()
            looked_up["ids"] = {sid: name for sid, name, _label in rows}
            looked_up["labels"] = {name: label or name for _sid, name, label in rows}
        return templates.env.get_template("_call_row.html").render(
            c=summary(call, looked_up["ids"]),
            a=state,
            auth=auth,
            site_labels=looked_up["labels"],
            t=lambda key: translate(key, lang),
            label=lambda prefix, code: code_label(prefix, code, lang),
            duration=duration,
        )

    query = filters.query(order="-id", limit=MAX_NEW + 1, offset=0)
    sent_new: list[int] = []
    if after is not None and latest > after:
        rows, total = search_calls(db, p, query)
        fresh = [c for c in rows if c.id > after]
        out["total"] = total
        out["more"] = len(fresh) > MAX_NEW
        fresh = fresh[:MAX_NEW]
        out["new"] = len(fresh)
        if insert and fresh:
            states = analysis_states(db, [c.id for c in fresh])
            for c in fresh:
                state = states.get(c.id, "none")
                out["rows"].append(
                    {"id": c.id, "started": c.started_at.timestamp(), "html": render_row(c, state)}
                )
            sent_new = [c.id for c in fresh]
    # where the next question starts: past every call looked at, except that a call can come to match a
    # filter on flags or words later (once analysed), so those lists only move past the rows they were sent
    if after is None:
        out["after"] = latest
    elif filters.may_match_later or out["more"]:
        out["after"] = max([after, *sent_new])
    else:
        out["after"] = latest
    sent_updated: list[int] = []
    ids = _follow_ids(follow)
    if ids:
        states = analysis_states(db, ids)
        calls = {c.id: c for c in db.scalars(select(Call).where(Call.id.in_(ids)))}
        for cid in ids:
            call = calls.get(cid)
            if call is None or not p.may_view_call(call):
                out["updated"].append({"id": cid, "state": "gone", "settled": True})
                continue
            state = states.get(cid, "none")
            item: dict[str, Any] = {
                "id": cid,
                "state": state,
                "label": translate(f"analysis_{state}", lang),
                "settled": state in SETTLED,
            }
            if state in SETTLED:
                item["html"] = render_row(call, state)
                sent_updated.append(cid)
            out["updated"].append(item)
    if sent_new or sent_updated:
        audit(
            db,
            user=p.name,
            action="search",
            target_type="calls",
            client=auth.client,
            detail={
                "via": "web-refresh",
                "filters": search_filters(query),
                "order": filters.chosen_order.value,
                "new": sent_new,
                "updated": sent_updated,
            },
        )
        db.commit()  # no row leaves before the record of who was shown it
    return JSONResponse(out, headers=_NO_STORE)
