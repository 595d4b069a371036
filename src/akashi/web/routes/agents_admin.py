"""Admin page of agents (/admin/agents): rename an auto-created agent, or merge it into the real one.

Telephony names an agent after the phone's SIP user when nobody configured it ("202", a ring
group's number). Here the admin gives it its name or merges it into the agent it really was; the
logic and the audit entries live in :mod:`akashi.access.agents`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from akashi.access.agents import list_agents, merge_agents, rename_agent
from akashi.errors import AccessDenied, AkashiError, NotFoundError
from akashi.web.deps import DbDep, UserDep, require_user
from akashi.web.refusals import audit_refusals
from akashi.web.render import render

router = APIRouter(
    prefix="/admin/agents",
    dependencies=[Depends(require_user), Depends(audit_refusals)],
    include_in_schema=False,
)


def _page(
    request: Request, db: DbDep, auth: UserDep, *, status: int = 200, error: str = "", done: str = ""
) -> Response:
    return render(
        request,
        auth,
        "admin_agents.html",
        status=status,
        agents=list_agents(db, auth.principal),
        error=error,
        done=done,
    )


@router.get("")
def agents_page(
    request: Request, db: DbDep, auth: UserDep, done: Annotated[str, Query(max_length=16)] = ""
) -> Response:
    """Every agent with its phone, site and calls; auto-created ones first (admins only)."""
    return _page(request, db, auth, done=done if done in ("renamed", "merged") else "")


def _refused(request: Request, db: DbDep, auth: UserDep, exc: AkashiError) -> Response:
    db.rollback()
    return _page(request, db, auth, status=400, error=exc.en if auth.lang == "en" else exc.ja)


@router.post("/{agent_id}/rename")
def rename(
    *,
    request: Request,
    agent_id: int,
    db: DbDep,
    auth: UserDep,
    name: Annotated[str, Form(max_length=200)],
) -> Response:
    """Give an agent its real name (audited ``agent_rename``)."""
    try:
        rename_agent(db, auth.principal, agent_id, name, auth.client)
    except (AccessDenied, NotFoundError):
        raise
    except AkashiError as exc:
        return _refused(request, db, auth, exc)
    return RedirectResponse("/admin/agents?done=renamed", status_code=303)


@router.post("/{agent_id}/merge")
def merge(
    *,
    request: Request,
    agent_id: int,
    db: DbDep,
    auth: UserDep,
    target: Annotated[int, Form()],
) -> Response:
    """Merge the agent into ``target``: its calls and users move there, it is removed (audited ``agent_merge``)."""
    try:
        merge_agents(db, auth.principal, agent_id, target, auth.client)
    except (AccessDenied, NotFoundError):
        raise
    except AkashiError as exc:
        return _refused(request, db, auth, exc)
    return RedirectResponse("/admin/agents?done=merged", status_code=303)
