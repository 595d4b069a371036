"""Admin pages: users and sites, configuration review, audit log, store verification."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response

from akashi.web import adminconfig, adminsvc
from akashi.web.adminconfig import (
    AgentsIn,
    CameraIn,
    LexiconIn,
    NoticeIn,
    RetentionIn,
    RouteIn,
    RoutesIn,
    parse_form,
)
from akashi.web.adminsvc import UserIn, UserPatch
from akashi.web.deps import AkashiDep, DbDep, UserDep, require_user
from akashi.web.pages import _date
from akashi.web.refusals import audit_refusals
from akashi.web.render import render

router = APIRouter(
    prefix="/admin", dependencies=[Depends(require_user), Depends(audit_refusals)], include_in_schema=False
)


@router.get("")
def admin(request: Request, ak: AkashiDep, db: DbDep, auth: UserDep) -> Response:
    """Users, sites and configuration (admins); auditors go to the audit log."""
    if auth.principal.role != "admin":
        adminsvc.require_auditor(auth.principal)
        return RedirectResponse("/admin/audit", status_code=303)
    return render(
        request,
        auth,
        "admin.html",
        users=adminsvc.list_users(db, auth.principal),
        cfg=adminsvc.config_view(ak, db, auth.principal),
        verify=adminsvc.verify_status(db, auth.principal),
        lexicon_text=adminconfig.lexicon_text(ak, auth.principal, auth.client)["text"],
    )


@router.post("/users")
def add_user(
    *,
    db: DbDep,
    auth: UserDep,
    name: Annotated[str, Form(max_length=128)],
    password: Annotated[str, Form(max_length=1024)],
    role: Annotated[str, Form(max_length=16)],
    display_name: Annotated[str, Form(max_length=200)] = "",
    sites: Annotated[str, Form(max_length=2000)] = "",
    agent: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    """Add a user from the admin page (sites comma-separated)."""
    body = UserIn(
        name=name,
        password=password,
        role=role,
        display_name=display_name,
        sites=[x.strip() for x in sites.split(",") if x.strip()],
        agent=agent.strip() or None,
    )
    adminsvc.create_user(db, auth.principal, body, auth.client)
    return RedirectResponse("/admin#users", status_code=303)


@router.post("/users/{user_id}")
def edit_user(
    *,
    user_id: int,
    db: DbDep,
    auth: UserDep,
    role: Annotated[str, Form(max_length=16)],
    sites: Annotated[str, Form(max_length=2000)] = "",
    disabled: Annotated[str, Form(max_length=3)] = "",
    unlock: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    """Change role, sites, disabled, lockout."""
    adminsvc.update_user(
        db,
        auth.principal,
        user_id,
        UserPatch(
            role=role,
            sites=[x.strip() for x in sites.split(",") if x.strip()],
            disabled=disabled == "on",
            unlock=unlock == "on",
        ),
        auth.client,
    )
    return RedirectResponse("/admin#users", status_code=303)


@router.post("/sites")
def add_site(
    db: DbDep,
    auth: UserDep,
    name: Annotated[str, Form(min_length=1, max_length=64, pattern=r"^[\w.-]+$")],
    label: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Add a site."""
    adminsvc.create_site(db, auth.principal, name, label, auth.client)
    return RedirectResponse("/admin#sites", status_code=303)


@router.get("/audit")
def audit_page(
    *,
    request: Request,
    db: DbDep,
    auth: UserDep,
    user: Annotated[str | None, Query(max_length=128)] = None,
    action: Annotated[str | None, Query(max_length=32)] = None,
    target_type: Annotated[str | None, Query(max_length=32)] = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
    outcome: Annotated[str | None, Query(max_length=16)] = None,
    from_: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    to: Annotated[str | None, Query(max_length=10)] = None,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
) -> Response:
    """The audit log with filters (admins and auditors)."""
    log = adminsvc.audit_log(
        db,
        auth.principal,
        user=user or None,
        action=action or None,
        target_type=target_type or None,
        target_id=target_id or None,
        outcome=outcome or None,
        from_=_date(from_),
        to=_date(to),
        limit=100,
        offset=(page - 1) * 100,
    )
    filters = {
        "user": user or "",
        "action": action or "",
        "target_type": target_type or "",
        "target_id": target_id or "",
        "outcome": outcome or "",
        "from": from_ or "",
        "to": to or "",
    }
    return render(
        request,
        auth,
        "audit.html",
        log=log,
        filters=filters,
        page=page,
        verify=adminsvc.verify_status(db, auth.principal),
    )


@router.post("/verify")
def verify(ak: AkashiDep, db: DbDep, auth: UserDep) -> Response:
    """Run verification now."""
    adminsvc.run_verify(ak, db, auth.principal, auth.client)
    return RedirectResponse("/admin/audit", status_code=303)


@router.post("/announcements/{name}")
def save_notice(
    *,
    name: Annotated[str, PathParam(min_length=1, max_length=64, pattern=r"^[\w-]+$")],
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    mode: Annotated[str, Form(max_length=16)],
    text: Annotated[str, Form(max_length=2000)],
) -> Response:
    """Change a notice's mode and text in akashi.toml."""
    adminconfig.admin_only(ak, auth.principal, "config_change", auth.client)
    body = parse_form(NoticeIn, {"mode": mode, "text": text})
    adminconfig.save_notice(ak, db, auth.principal, name, body, auth.client)
    return RedirectResponse("/admin#notices", status_code=303)


@router.post("/announcements")
def add_notice(
    *,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    name: Annotated[str, Form(min_length=1, max_length=64, pattern=r"^[\w-]+$")],
    mode: Annotated[str, Form(max_length=16)],
    text: Annotated[str, Form(max_length=2000)],
) -> Response:
    """Add a notice (routes may then use it): the same save as editing one."""
    return save_notice(name=name, ak=ak, db=db, auth=auth, mode=mode, text=text)


@router.post("/agents")
def save_agents(
    *,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    name: Annotated[list[str], Form(max_length=2000)],
    sip_user: Annotated[list[str], Form(max_length=2000)],
    site: Annotated[list[str], Form(max_length=2000)],
    password: Annotated[list[str], Form(max_length=2000)],
) -> Response:
    """Replace the agents: one row per agent, rows with an empty SIP user dropped."""
    adminconfig.admin_only(ak, auth.principal, "config_change", auth.client)
    agents = [
        {"name": n.strip() or u.strip(), "sip_user": u.strip(), "site": si.strip(), "password": pw}
        for n, u, si, pw in zip(name, sip_user, site, password, strict=False)
        if u.strip()
    ]
    adminconfig.save_agents(ak, db, auth.principal, parse_form(AgentsIn, {"agents": agents}), auth.client)
    return RedirectResponse("/admin#agents", status_code=303)


@router.post("/agents/{sip_user}/secret")
def new_agent_secret(
    request: Request,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    sip_user: Annotated[str, PathParam(min_length=1, max_length=128, pattern=r"^[\w.+-]+$")],
) -> Response:
    """Make an agent's digest secret and show it this once (never stored in the page cache)."""
    made = adminconfig.new_agent_secret(ak, db, auth.principal, sip_user, auth.client)
    page = render(request, auth, "agent_secret.html", agent=made)
    page.headers["Cache-Control"] = "no-store"
    return page


@router.post("/routes")
def save_routes(
    *,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    match: Annotated[list[str], Form(max_length=500)],
    ring: Annotated[list[str], Form(max_length=500)],
    site: Annotated[list[str], Form(max_length=500)],
    announcement: Annotated[list[str], Form(max_length=500)],
    strategy: Annotated[list[str], Form(max_length=500)],
    ring_timeout_s: Annotated[list[int], Form(max_length=500)],
) -> Response:
    """Replace the inbound routes: one row per route, rows with an empty number dropped."""
    adminconfig.admin_only(ak, auth.principal, "config_change", auth.client)
    rows = zip(match, ring, site, announcement, strategy, ring_timeout_s, strict=False)
    routes = [
        parse_form(
            RouteIn,
            {
                "match": m.strip(),
                "ring": [x.strip() for x in r.split(",") if x.strip()],
                "site": si.strip(),
                "announcement": a,
                "strategy": st,
                "ring_timeout_s": to,
            },
        )
        for m, r, si, a, st, to in rows
        if m.strip()
    ]
    adminconfig.save_routes(ak, db, auth.principal, parse_form(RoutesIn, {"routes": routes}), auth.client)
    return RedirectResponse("/admin#routes", status_code=303)


@router.post("/retention")
def save_retention(
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    calls_days: Annotated[int, Form()],
    camera_days: Annotated[int, Form()],
) -> Response:
    """Set the retention periods."""
    adminconfig.admin_only(ak, auth.principal, "config_change", auth.client)
    body = parse_form(RetentionIn, {"calls_days": calls_days, "camera_days": camera_days})
    adminconfig.save_retention(ak, db, auth.principal, body, auth.client)
    return RedirectResponse("/admin#retention", status_code=303)


@router.post("/lexicon")
def save_lexicon(
    ak: AkashiDep, db: DbDep, auth: UserDep, text: Annotated[str, Form(max_length=500_000)]
) -> Response:
    """Check and save the lexicon."""
    adminconfig.admin_only(ak, auth.principal, "lexicon_change", auth.client)
    adminconfig.save_lexicon(ak, db, auth.principal, parse_form(LexiconIn, {"text": text}), auth.client)
    return RedirectResponse("/admin#lexicon", status_code=303)


@router.post("/cameras")
def add_camera(
    *,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    name: Annotated[str, Form(min_length=1, max_length=64, pattern=r"^[\w.-]+$")],
    url: Annotated[str, Form(min_length=1, max_length=2000)],
    site: Annotated[str, Form(max_length=64, pattern=r"^[\w.-]*$")] = "",
    segment_seconds: Annotated[float, Form(ge=1.0, le=60.0)] = 4.0,
) -> Response:
    """Add a camera (the URL is sealed and not shown again)."""
    adminconfig.admin_only(ak, auth.principal, "camera_add", auth.client)
    body = parse_form(CameraIn, {"name": name, "url": url, "site": site, "segment_seconds": segment_seconds})
    adminconfig.add_camera(ak, db, auth.principal, body, auth.client)
    return RedirectResponse("/admin#cameras", status_code=303)


@router.post("/cameras/{name}/remove")
def remove_camera(
    name: Annotated[str, PathParam(min_length=1, max_length=64)], ak: AkashiDep, db: DbDep, auth: UserDep
) -> Response:
    """Stop recording a camera added from the browser or the CLI."""
    adminconfig.remove_camera(ak, db, auth.principal, name, auth.client)
    return RedirectResponse("/admin#cameras", status_code=303)
