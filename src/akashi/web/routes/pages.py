"""Server-rendered pages: dashboard, calls, call detail, cameras, incidents.

Forms post to page routes that call the same services as the API and redirect back (PRG).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy import select

from akashi.access.evidence import check_call
from akashi.access.grants import grant_incident, list_grants, parse_until, revoke_grants
from akashi.db.base import utcnow
from akashi.db.models import CallFlag
from akashi.demo.site import offered_sites
from akashi.errors import AccessDenied, AkashiError, NotFoundError
from akashi.web.deps import AkashiDep, DbDep, UserDep, require_user
from akashi.web.i18n import JST, translate
from akashi.web.render import render
from akashi.web.schemas import CallOrder, IncidentItemIn, IncidentPatch
from akashi.web.services import cameras as camsvc
from akashi.web.services import incidents
from akashi.web.services.adminconfig import FormError
from akashi.web.services.adminforms import FormProblem, problem
from akashi.web.services.analysisview import analysis_states, hold_facts
from akashi.web.services.callfilters import CallFiltersDep
from akashi.web.services.calls import (
    add_note,
    call_detail,
    call_site,
    list_calls,
    readable_dashboard,
    set_call_hold,
)
from akashi.web.services.dashboard import dashboard
from akashi.web.services.pagehelpers import (
    blank,
    call_analysis_info,
    is_time,
    linked_calls,
    parse_day,
    site_label,
)

router = APIRouter(dependencies=[Depends(require_user)], include_in_schema=False)
PAGE = 50


def _back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/")
def home(request: Request, db: DbDep, auth: UserDep) -> Response:
    """Dashboard."""
    data = readable_dashboard(auth.principal, dashboard(db, auth.principal))
    return render(request, auth, "dashboard.html", data=data, data_json=json.dumps(data["days"]))


@router.get("/calls")
def calls(
    *,
    request: Request,
    db: DbDep,
    auth: UserDep,
    filters: CallFiltersDep,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> Response:
    """Call search with filters, sorting and pages; a bad date is shown beside its field."""
    errors = filters.errors()
    query = filters.query(order=filters.chosen_order.value, limit=PAGE, offset=(page - 1) * PAGE)
    result = list_calls(db, auth.principal, query, client=auth.client, via="web")
    form = filters.form()
    keep = {k: v for k, v in form.items() if v and k not in errors}

    def link(**over: object) -> str:
        return "/calls?" + urlencode({**keep, **{k: v for k, v in over.items()}})

    sites = [x for x in offered_sites(db) if auth.principal.sees_site(x.id)]
    pages = max(1, -(-result.total // PAGE))
    categories = list(db.scalars(select(CallFlag.category).distinct().order_by(CallFlag.category).limit(100)))
    return render(
        request,
        auth,
        "calls.html",
        result=result,
        filters=form,
        page=page,
        pages=pages,
        link=link,
        sites=sites,
        orders=list(CallOrder),
        categories=categories,
        errors=errors,
        site_labels={x.name: x.label or x.name for x in sites},
        analysis=analysis_states(db, [c.id for c in result.items]),
    )


@router.get("/calls/{call_id}")
def call_page(call_id: int, request: Request, ak: AkashiDep, db: DbDep, auth: UserDep) -> Response:
    """One call: player, waveform, transcript, facts, notes, incident, hold, export."""
    return _call_view(call_id, request, ak, db, auth)


def _call_view(
    call_id: int,
    request: Request,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    *,
    status: int = 200,
    problem: FormProblem | None = None,
) -> Response:
    detail = call_detail(ak, db, auth.principal, call_id, auth.client)
    open_incidents = [i for i in incidents.list_incidents(db, auth.principal) if i.status == "open"]
    player = {
        "media": f"/api/v1/calls/{call_id}/media",
        "peaks": f"/api/v1/calls/{call_id}/peaks",
        "duration": detail.call.duration_s,
        "channels": detail.facts.get("channels", 2),
        "flags": [f.model_dump() for f in detail.flags],
    }
    return render(
        request,
        auth,
        "call.html",
        d=detail,
        c=detail.call,
        f=detail.facts,
        open_incidents=open_incidents,
        player=player,
        analysis=call_analysis_info(db, call_id),
        site_label=site_label(db, detail.call.site),
        hold=hold_facts(db, call_id) if detail.legal_hold else None,
        status=status,
        problem=problem,
    )


def _call_refused(
    call_id: int, request: Request, ak: AkashiDep, db: DbDep, auth: UserDep, found: FormProblem
) -> Response:
    """The call page again with the refusal beside its form and what was typed kept (nothing saved)."""
    db.rollback()
    return _call_view(call_id, request, ak, db, auth, status=400, problem=found)


@router.get("/calls/{call_id}/analysis")
def call_analysis(call_id: int, ak: AkashiDep, db: DbDep, auth: UserDep) -> JSONResponse:
    """The call's analysis state for the page to refresh itself (no content: not a view of the call)."""
    check_call(ak, db, auth.principal, call_id, "view", auth.client)
    info = call_analysis_info(db, call_id)
    label = translate(f"analysis_{info['state']}", auth.lang)
    return JSONResponse({**info, "label": label}, headers={"Cache-Control": "no-store"})


@router.post("/calls/{call_id}/notes")
def call_note(
    call_id: int,
    request: Request,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    text: Annotated[str, Form(max_length=10000)] = "",
) -> Response:
    """Add a note from the call page (an empty note is refused beside the box)."""
    try:
        if not text.strip():
            raise blank(("メモ", "note"), "text")
        add_note(ak, db, auth.principal, "call", call_id, text, auth.client)
    except (AccessDenied, NotFoundError):
        raise
    except AkashiError as exc:
        return _call_refused(
            call_id, request, ak, db, auth, problem("notes", exc, "text", kept={"text": text})
        )
    return _back(f"/calls/{call_id}#notes")


@router.post("/calls/{call_id}/hold")
def call_hold(
    *,
    call_id: int,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    request: Request,
    hold: Annotated[str, Form(pattern="^(on|off)$")],
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Place or release the legal hold from the call page (the reason is required, asked for inline)."""
    if not reason.strip():
        found = problem("hold", blank(("理由", "reason"), "reason"), "reason")
        return _call_refused(call_id, request, ak, db, auth, found)
    set_call_hold(ak, db, auth.principal, call_id, hold == "on", reason, auth.client)
    return _back(f"/calls/{call_id}")


@router.post("/calls/{call_id}/incident")
def call_incident(
    *,
    call_id: int,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    incident_id: Annotated[int, Form(ge=0)] = 0,
    title: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Link the call to an incident (an existing one, or a new one with ``title``)."""
    if not incident_id:
        site = call_site(ak, db, auth.principal, call_id, auth.client)
        incident_id = incidents.create_incident(
            db, auth.principal, title.strip() or f"通話 {call_id}", site, "", auth.client
        )
    incidents.add_item(ak, db, auth.principal, incident_id, IncidentItemIn(call_id=call_id), auth.client)
    return _back(f"/calls/{call_id}")


@router.get("/cameras")
def cameras(request: Request, db: DbDep, auth: UserDep) -> Response:
    """Grid of cameras per site with state, last segment and thumbnail when one exists."""
    cams = camsvc.list_cameras(db, auth.principal)
    groups: dict[str, list[dict[str, object]]] = {}
    for c in cams:
        groups.setdefault(str(c["site"] or "-"), []).append(c)
    return render(request, auth, "cameras.html", groups=groups)


@router.get("/cameras/{camera_id}")
def camera_page(
    camera_id: int,
    request: Request,
    db: DbDep,
    auth: UserDep,
    day: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    """One camera: the day's timeline with gaps, playback from any point, range export."""
    d = parse_day(day) or utcnow().astimezone(JST).date()
    tl = camsvc.timeline(db, auth.principal, camera_id, d)
    return render(request, auth, "camera.html", tl=tl, day=d.isoformat())


@router.get("/incidents")
def incident_list(request: Request, db: DbDep, auth: UserDep) -> Response:
    """Incidents of the user's sites."""
    return _incidents_view(request, db, auth)


def _incidents_view(
    request: Request, db: DbDep, auth: UserDep, *, status: int = 200, problem: FormProblem | None = None
) -> Response:
    sites = [x for x in offered_sites(db) if auth.principal.sees_site(x.id)]
    items = incidents.list_incidents(db, auth.principal)
    return render(request, auth, "incidents.html", status=status, items=items, sites=sites, problem=problem)


@router.post("/incidents")
def incident_create(
    request: Request,
    db: DbDep,
    auth: UserDep,
    title: Annotated[str, Form(max_length=200)] = "",
    site: Annotated[str, Form(max_length=64)] = "",
    notes: Annotated[str, Form(max_length=10000)] = "",
) -> Response:
    """Open an incident; an empty title or unknown site is refused beside its field, the input kept."""
    kept = {"title": title, "site": site}
    try:
        if not title.strip():
            raise blank(("件名", "title"), "title")
        new_id = incidents.create_incident(db, auth.principal, title, site or None, notes, auth.client)
    except AccessDenied:
        raise
    except AkashiError as exc:
        db.rollback()
        found = problem("incident", exc, "site" if isinstance(exc, NotFoundError) else "title", kept=kept)
        return _incidents_view(request, db, auth, status=400, problem=found)
    return _back(f"/incidents/{new_id}")


@router.get("/incidents/{incident_id}")
def incident_page(incident_id: int, request: Request, db: DbDep, auth: UserDep) -> Response:
    """One incident: its calls, camera ranges with their clips, notes and (for grantors) access grants."""
    return _incident_view(incident_id, request, db, auth)


def _incident_view(
    incident_id: int,
    request: Request,
    db: DbDep,
    auth: UserDep,
    *,
    status: int = 200,
    problem: FormProblem | None = None,
) -> Response:
    inc = incidents.get_incident(db, auth.principal, incident_id, auth.client)
    cams = camsvc.list_cameras(db, auth.principal)
    clips = incidents.item_clips(db, auth.principal, inc)
    grants = list_grants(db, auth.principal, incident_id)
    linked = linked_calls(db, auth.principal, [it.call_id for it in inc.items if it.call_id])
    return render(
        request,
        auth,
        "incident.html",
        status=status,
        inc=inc,
        cams=cams,
        clips=clips,
        grants=grants,
        linked=linked,
        problem=problem,
    )


def _incident_refused(
    incident_id: int, request: Request, db: DbDep, auth: UserDep, found: FormProblem
) -> Response:
    """The incident page again with the refusal beside its form and what was typed kept (nothing saved)."""
    db.rollback()
    return _incident_view(incident_id, request, db, auth, status=400, problem=found)


@router.post("/incidents/{incident_id}/grants")
def incident_grant(
    *,
    incident_id: int,
    request: Request,
    db: DbDep,
    auth: UserDep,
    user: Annotated[str, Form(max_length=128)] = "",
    until: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Grant a counsel user this incident until a day; a refusal is shown beside the field at fault."""
    kept = {"user": user, "until": until}
    try:
        if not user.strip():
            raise blank(("利用者", "user"), "user")
        try:
            day = parse_until(until)
        except AkashiError as exc:
            raise FormError(exc.ja, exc.en, field="until") from None
        grant_incident(db, auth.principal, incident_id, user.strip(), day, auth.client)
    except AccessDenied:
        raise
    except NotFoundError as exc:
        if _no_incident(exc):
            raise
        return _incident_refused(incident_id, request, db, auth, problem("grants", exc, "user", kept=kept))
    except AkashiError as exc:
        return _incident_refused(incident_id, request, db, auth, problem("grants", exc, "user", kept=kept))
    return _back(f"/incidents/{incident_id}#grants")


@router.post("/incidents/{incident_id}/grants/revoke")
def incident_revoke(
    incident_id: int,
    db: DbDep,
    auth: UserDep,
    user: Annotated[str, Form(min_length=1, max_length=128)],
) -> Response:
    """Revoke a user's access to this incident."""
    revoke_grants(db, auth.principal, incident_id, user.strip(), auth.client)
    return _back(f"/incidents/{incident_id}#grants")


@router.post("/incidents/{incident_id}/update")
def incident_update(
    *,
    incident_id: int,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    status: Annotated[str, Form(pattern="^(open|closed)$")],
    notes: Annotated[str | None, Form(max_length=10000)] = None,
    legal_hold: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    """Change status and hold (notes only when the form sends them: the page's one notes box is the thread)."""
    incidents.patch_incident(
        ak,
        db,
        auth.principal,
        incident_id,
        IncidentPatch(status=status, notes=notes, legal_hold=legal_hold == "on"),
        auth.client,
    )
    return _back(f"/incidents/{incident_id}")


def _no_incident(exc: NotFoundError) -> bool:
    """Whether ``exc`` says the incident itself is missing (a 404), not something named in the form."""
    return exc.en.startswith("no incident")


@router.post("/incidents/{incident_id}/notes")
def incident_note(
    incident_id: int,
    request: Request,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    text: Annotated[str, Form(max_length=10000)] = "",
) -> Response:
    """Comment on an incident (an empty note is refused beside the box)."""
    incidents.get_incident(db, auth.principal, incident_id, auth.client)
    if not text.strip():
        found = problem("notes", blank(("メモ", "note"), "text"), "text")
        return _incident_refused(incident_id, request, db, auth, found)
    add_note(ak, db, auth.principal, "incident", incident_id, text, auth.client)
    return _back(f"/incidents/{incident_id}#notes")


@router.post("/incidents/{incident_id}/range")
def incident_range(
    *,
    incident_id: int,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    request: Request,
    camera_id: Annotated[int, Form(ge=1)],
    start: Annotated[str, Form(max_length=32)] = "",
    end: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Link a camera range (``datetime-local`` values, read as JST); a refusal is shown beside the form."""
    kept = {"camera_id": camera_id, "start": start, "end": end}
    try:
        try:
            s, e = datetime.fromisoformat(start), datetime.fromisoformat(end)
        except ValueError:
            raise FormError(
                "日時は 2026-01-31T09:00:00 の形で入力してください",
                "enter the times as 2026-01-31T09:00:00",
                field="start" if not is_time(start) else "end",
            ) from None
        # datetime-local values carry no zone: they are JST; a value with an offset is converted
        s = s.replace(tzinfo=JST) if s.tzinfo is None else s.astimezone(JST)
        e = e.replace(tzinfo=JST) if e.tzinfo is None else e.astimezone(JST)
        item = IncidentItemIn(camera_id=camera_id, started_at=s, ended_at=e)
        incidents.add_item(ak, db, auth.principal, incident_id, item, auth.client)
    except AccessDenied:
        raise
    except NotFoundError as exc:
        if _no_incident(exc):
            raise
        return _incident_refused(
            incident_id, request, db, auth, problem("range", exc, "camera_id", kept=kept)
        )
    except AkashiError as exc:
        return _incident_refused(incident_id, request, db, auth, problem("range", exc, "end", kept=kept))
    return _back(f"/incidents/{incident_id}")
