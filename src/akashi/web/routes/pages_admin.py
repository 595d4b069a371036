"""Admin pages: users and sites, configuration review, audit log, store verification."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import RedirectResponse, Response

from akashi.errors import AccessDenied, AkashiError, NotFoundError
from akashi.web.deps import AkashiDep, DbDep, UserDep, require_user
from akashi.web.refusals import audit_refusals
from akashi.web.render import render
from akashi.web.services import admin as adminsvc
from akashi.web.services import adminconfig
from akashi.web.services.admin import UserIn, UserPatch
from akashi.web.services.adminconfig import (
    AgentsIn,
    CameraIn,
    FormError,
    LexiconIn,
    NoticeIn,
    RetentionIn,
    RoutesIn,
    parse_form,
)
from akashi.web.services.adminforms import FormProblem, lexicon_problem, problem, saved_form

SITE_NAME = re.compile(r"[\w.-]{1,64}")
NOTICE_NAME = re.compile(r"[\w-]{1,64}")

router = APIRouter(
    prefix="/admin", dependencies=[Depends(require_user), Depends(audit_refusals)], include_in_schema=False
)


def _page(
    request: Request,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    *,
    status: int = 200,
    problem: FormProblem | None = None,
    saved: str = "",
) -> Response:
    return render(
        request,
        auth,
        "admin.html",
        status=status,
        users=adminsvc.list_users(db, auth.principal),
        cfg=adminsvc.config_view(ak, db, auth.principal),
        verify=adminsvc.verify_status(db, auth.principal),
        lexicon_text=adminconfig.lexicon_text(ak, auth.principal, auth.client)["text"],
        problem=problem,
        saved=saved,
    )


def _refused(request: Request, ak: AkashiDep, db: DbDep, auth: UserDep, found: FormProblem) -> Response:
    """The admin page again with the refusal beside its field and what was typed kept (nothing saved)."""
    db.rollback()
    return _page(request, ak, db, auth, status=400, problem=found)


def _done(form: str) -> Response:
    return RedirectResponse(f"/admin?saved={form}#{form}", status_code=303)


def _split(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


@router.get("")
def admin(
    request: Request,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    saved: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """Users, sites and configuration (admins); auditors go to the audit log; others are told why not."""
    if auth.principal.role != "admin":
        if not auth.principal.can_audit:
            raise AccessDenied(
                "管理画面は管理者だけが開けます（監査ログは管理者と監査担当者）。必要なら管理者に依頼してください。",
                "The admin pages are for administrators (the audit log for auditors too); ask an administrator.",
            )
        return RedirectResponse("/admin/audit", status_code=303)
    return _page(request, ak, db, auth, saved=saved_form(saved))


@router.post("/users")
def add_user(
    *,
    request: Request,
    ak: AkashiDep,
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
    kept = {"name": name, "role": role, "display_name": display_name, "sites": sites, "agent": agent}
    try:
        body = parse_form(
            UserIn,
            {
                "name": name,
                "password": password,
                "role": role,
                "display_name": display_name,
                "sites": _split(sites),
                "agent": agent.strip() or None,
            },
        )
        adminsvc.create_user(db, auth.principal, body, auth.client)
    except AccessDenied:
        raise
    except NotFoundError as exc:  # an unknown site
        return _refused(request, ak, db, auth, problem("users", exc, "sites", kept=kept))
    except AkashiError as exc:
        return _refused(request, ak, db, auth, problem("users", exc, "name", kept=kept))
    return _done("users")


@router.post("/users/{user_id}")
def edit_user(
    *,
    request: Request,
    user_id: int,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    role: Annotated[str, Form(max_length=16)],
    sites: Annotated[str, Form(max_length=2000)] = "",
    disabled: Annotated[str, Form(max_length=3)] = "",
    unlock: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    """Change role, sites, disabled, lockout."""
    kept = {"role": role, "sites": sites, "disabled": disabled == "on"}
    try:
        patch = parse_form(
            UserPatch,
            {"role": role, "sites": _split(sites), "disabled": disabled == "on", "unlock": unlock == "on"},
        )
        adminsvc.update_user(db, auth.principal, user_id, patch, auth.client)
    except (AccessDenied, NotFoundError) as exc:
        if isinstance(exc, NotFoundError) and "拠点" in exc.ja:  # an unknown site, not an unknown user
            return _refused(
                request, ak, db, auth, problem("user", exc, "sites", target=str(user_id), kept=kept)
            )
        raise
    except AkashiError as exc:
        return _refused(request, ak, db, auth, problem("user", exc, "role", target=str(user_id), kept=kept))
    return _done("users")


@router.post("/users/{user_id}/reset")
def reset_user(
    *,
    request: Request,
    user_id: int,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    password: Annotated[str, Form(max_length=1024)] = "",
    totp: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    """Set a new password and/or remove the user's TOTP enrolment (audited; the user is logged out)."""
    try:
        adminsvc.reset_user(
            db, auth.principal, user_id, password=password or None, totp=totp == "on", client=auth.client
        )
    except (AccessDenied, NotFoundError):
        raise
    except AkashiError as exc:
        return _refused(request, ak, db, auth, problem("user", exc, "password", target=str(user_id)))
    return _done("users")


@router.post("/sites")
def add_site(
    request: Request,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    name: Annotated[str, Form(max_length=64)],
    label: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Add a site."""
    kept = {"name": name, "label": label}
    try:
        adminsvc.require_admin(auth.principal)
        if not SITE_NAME.fullmatch(name):
            raise FormError(
                "拠点の ID は英数字と . _ - だけで書いてください（例: tokyo）",
                "a site ID is letters, digits, '.', '_' or '-' (e.g. tokyo)",
                field="name",
            )
        adminsvc.create_site(db, auth.principal, name, label, auth.client)
    except AccessDenied:
        raise
    except AkashiError as exc:
        return _refused(request, ak, db, auth, problem("sites", exc, "name", kept=kept))
    return _done("sites")


@router.post("/announcements/{name}")
def save_notice(
    *,
    request: Request,
    name: Annotated[str, PathParam(min_length=1, max_length=64, pattern=r"^[\w-]+$")],
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    mode: Annotated[str, Form(max_length=16)],
    text: Annotated[str, Form(max_length=2000)],
) -> Response:
    """Change a notice's mode and text in akashi.toml."""
    adminconfig.admin_only(ak, auth.principal, "config_change", auth.client)
    return _notice(request, ak, db, auth, "notices", name, mode, text)


def _notice(
    request: Request, ak: AkashiDep, db: DbDep, auth: UserDep, form: str, name: str, mode: str, text: str
) -> Response:
    kept = {"name": name, "mode": mode, "text": text}
    try:
        body = parse_form(NoticeIn, {"mode": mode, "text": text})
        adminconfig.save_notice(ak, db, auth.principal, name, body, auth.client)
    except AccessDenied:
        raise
    except AkashiError as exc:
        found = problem(form, exc, "text", target=name if form == "notices" else "", kept=kept)
        return _refused(request, ak, db, auth, found)
    return _done("notices")


@router.post("/announcements")
def add_notice(
    *,
    request: Request,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    name: Annotated[str, Form(max_length=64)],
    mode: Annotated[str, Form(max_length=16)],
    text: Annotated[str, Form(max_length=2000)],
) -> Response:
    """Add a notice (routes may then use it): the same save as editing one."""
    adminconfig.admin_only(ak, auth.principal, "config_change", auth.client)
    if not NOTICE_NAME.fullmatch(name):
        exc = FormError(
            "告知名は英数字と _ - だけで書いてください（例: after_hours）",
            "a notice name is letters, digits, '_' or '-' (e.g. after_hours)",
            field="name",
        )
        kept = {"name": name, "mode": mode, "text": text}
        return _refused(request, ak, db, auth, problem("new_notice", exc, kept=kept))
    return _notice(request, ak, db, auth, "new_notice", name, mode, text)


@router.post("/agents")
def save_agents(
    *,
    request: Request,
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
    rows = [
        {"name": n.strip() or u.strip(), "sip_user": u.strip(), "site": si.strip(), "password": pw}
        for n, u, si, pw in zip(name, sip_user, site, password, strict=False)
        if u.strip()
    ]
    try:
        adminconfig.save_agents(ak, db, auth.principal, parse_form(AgentsIn, {"agents": rows}), auth.client)
    except AccessDenied:
        raise
    except AkashiError as exc:
        kept = {"rows": [{k: v for k, v in r.items() if k != "password"} for r in rows], "row": _row(exc)}
        return _refused(request, ak, db, auth, problem("agents", exc, "sip_user", kept=kept))
    return _done("agents")


def _row(exc: AkashiError) -> int | None:
    row = getattr(exc, "row", None)
    return row if isinstance(row, int) else None


@router.post("/agents/{sip_user}/secret")
def new_agent_secret(
    request: Request,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    sip_user: Annotated[str, PathParam(min_length=1, max_length=128, pattern=r"^[\w.+-]+$")],
) -> Response:
    """Make an agent's digest secret and show it this once (never stored in the page cache)."""
    try:
        made = adminconfig.new_agent_secret(ak, db, auth.principal, sip_user, auth.client)
    except AccessDenied:
        raise
    except AkashiError as exc:  # an agent not in akashi.toml: said beside the agents' table
        return _refused(request, ak, db, auth, problem("agent_secret", exc))
    page = render(request, auth, "agent_secret.html", agent=made)
    page.headers["Cache-Control"] = "no-store"
    return page


@router.post("/routes")
def save_routes(
    *,
    request: Request,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    match: Annotated[list[str], Form(max_length=500)],
    ring: Annotated[list[str], Form(max_length=500)],
    site: Annotated[list[str], Form(max_length=500)],
    announcement: Annotated[list[str], Form(max_length=500)],
    strategy: Annotated[list[str], Form(max_length=500)],
    ring_timeout_s: Annotated[list[str], Form(max_length=500)],
    route_row: Annotated[list[str] | None, Form(max_length=500)] = None,
) -> Response:
    """Replace the inbound routes: one row per route, rows with an empty number dropped.

    The table edits a few columns; every other setting of a route (its unavailable notice, live
    protection, long-call guard...) is kept from the saved route the row came from (``route_row``,
    its position when the page was drawn; a form without it is matched on the dialled number).
    """
    adminconfig.admin_only(ak, auth.principal, "config_change", auth.client)
    saved = ak.settings.sip.routes
    origins = list(route_row or [])
    origins += [""] * (len(match) - len(origins))
    rows = [
        adminconfig.kept_route_settings(saved, o, m.strip())
        | {
            "match": m.strip(),
            "ring": _split(r),
            "site": si.strip(),
            "announcement": a,
            "strategy": st,
            "ring_timeout_s": to.strip(),
            "route_row": o,
        }
        for m, r, si, a, st, to, o in zip(
            match, ring, site, announcement, strategy, ring_timeout_s, origins, strict=False
        )
        if m.strip()
    ]
    try:
        body = {"routes": [{k: v for k, v in row.items() if k != "route_row"} for row in rows]}
        adminconfig.save_routes(ak, db, auth.principal, parse_form(RoutesIn, body), auth.client)
    except AccessDenied:
        raise
    except AkashiError as exc:
        return _refused(
            request, ak, db, auth, problem("routes", exc, "match", kept={"rows": rows, "row": _row(exc)})
        )
    return _done("routes")


@router.post("/retention")
def save_retention(
    request: Request,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    calls_days: Annotated[str, Form(max_length=16)],
    camera_days: Annotated[str, Form(max_length=16)],
) -> Response:
    """Set the retention periods."""
    adminconfig.admin_only(ak, auth.principal, "config_change", auth.client)
    kept = {"calls_days": calls_days, "camera_days": camera_days}
    try:
        body = parse_form(RetentionIn, {"calls_days": calls_days.strip(), "camera_days": camera_days.strip()})
        adminconfig.save_retention(ak, db, auth.principal, body, auth.client)
    except AccessDenied:
        raise
    except AkashiError as exc:
        return _refused(request, ak, db, auth, problem("retention", exc, "calls_days", kept=kept))
    return _done("retention")


@router.post("/lexicon")
def save_lexicon(
    request: Request,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    text: Annotated[str, Form(max_length=500_000)],
) -> Response:
    """Check and save the lexicon; a refused edit comes back whole with the line at fault."""
    adminconfig.admin_only(ak, auth.principal, "lexicon_change", auth.client)
    try:
        adminconfig.save_lexicon(ak, db, auth.principal, parse_form(LexiconIn, {"text": text}), auth.client)
    except AccessDenied:
        raise
    except AkashiError as exc:
        return _refused(request, ak, db, auth, lexicon_problem(exc, text))
    return _done("lexicon")


@router.post("/cameras")
def add_camera(
    *,
    request: Request,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
    name: Annotated[str, Form(max_length=64)],
    url: Annotated[str, Form(max_length=2000)],
    site: Annotated[str, Form(max_length=64)] = "",
    segment_seconds: Annotated[str, Form(max_length=16)] = "4",
) -> Response:
    """Add a camera (the URL is sealed and not shown again, nor kept in a refused form)."""
    adminconfig.admin_only(ak, auth.principal, "camera_add", auth.client)
    kept = {"name": name, "site": site, "segment_seconds": segment_seconds}
    try:
        body = parse_form(
            CameraIn, {"name": name, "url": url, "site": site, "segment_seconds": segment_seconds.strip()}
        )
        adminconfig.add_camera(ak, db, auth.principal, body, auth.client)
    except AccessDenied:
        raise
    except AkashiError as exc:
        return _refused(request, ak, db, auth, problem("cameras", exc, "name", kept=kept))
    return _done("cameras")


@router.post("/cameras/{name}/remove")
def remove_camera(
    name: Annotated[str, PathParam(min_length=1, max_length=64)], ak: AkashiDep, db: DbDep, auth: UserDep
) -> Response:
    """Stop recording a camera added from the browser or the CLI."""
    adminconfig.remove_camera(ak, db, auth.principal, name, auth.client)
    return _done("cameras")


@router.post("/cameras/{name}/pause")
def pause_camera(
    name: Annotated[str, PathParam(min_length=1, max_length=64)], ak: AkashiDep, db: DbDep, auth: UserDep
) -> Response:
    """Pause a camera (it stops recording until resumed; its footage stays)."""
    adminconfig.pause_camera(ak, db, auth.principal, name, True, auth.client)
    return _done("cameras")


@router.post("/cameras/{name}/resume")
def resume_camera(
    name: Annotated[str, PathParam(min_length=1, max_length=64)], ak: AkashiDep, db: DbDep, auth: UserDep
) -> Response:
    """Resume a paused camera."""
    adminconfig.pause_camera(ak, db, auth.principal, name, False, auth.client)
    return _done("cameras")
