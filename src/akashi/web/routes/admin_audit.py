"""The audit log page (admins and auditors) and the button that runs store verification now."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from akashi.web.deps import AkashiDep, DbDep, UserDep, require_user
from akashi.web.refusals import audit_refusals
from akashi.web.render import render
from akashi.web.services import admin as adminsvc
from akashi.web.services.pagehelpers import date_errors, parse_day

router = APIRouter(
    prefix="/admin", dependencies=[Depends(require_user), Depends(audit_refusals)], include_in_schema=False
)


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
        from_=parse_day(from_),
        to=parse_day(to),
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
        errors=date_errors(**{"from": from_, "to": to}),
        actions=adminsvc.audit_actions(db, auth.principal, action or ""),
        target_types=adminsvc.audit_target_types(db, auth.principal, target_type or ""),
    )


@router.post("/verify")
def verify(ak: AkashiDep, db: DbDep, auth: UserDep) -> Response:
    """Run verification now."""
    adminsvc.run_verify(ak, db, auth.principal, auth.client)
    return RedirectResponse("/admin/audit", status_code=303)
