"""Admin pages: users and sites, configuration review, audit log, store verification."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from akashi.web import adminsvc
from akashi.web.adminsvc import UserIn, UserPatch
from akashi.web.deps import AkashiDep, DbDep, UserDep, require_user
from akashi.web.pages import _date
from akashi.web.render import render

router = APIRouter(prefix="/admin", dependencies=[Depends(require_user)], include_in_schema=False)


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
