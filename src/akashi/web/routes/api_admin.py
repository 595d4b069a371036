"""``/api/v1/admin``: users, sites, audit log, verification, configuration and notice preview."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from akashi.access import Principal
from akashi.context import Akashi
from akashi.errors import NotFoundError
from akashi.notices.audio import synthesize_cached
from akashi.web.deps import AkashiDep, DbDep, UserDep, require_user
from akashi.web.refusals import audit_refusals
from akashi.web.services import admin as adminsvc
from akashi.web.services import adminconfig
from akashi.web.services.admin import UserIn, UserOut, UserPatch
from akashi.web.services.adminconfig import AgentsIn, CameraIn, LexiconIn, NoticeIn, RetentionIn, RoutesIn

router = APIRouter(
    prefix="/admin", tags=["admin"], dependencies=[Depends(require_user), Depends(audit_refusals)]
)


class SiteIn(BaseModel):
    """A new site."""

    name: str = Field(..., min_length=1, max_length=64, pattern=r"^[\w.-]+$")
    label: str = Field("", max_length=200)


@router.get("/users", response_model=list[UserOut], responses={403: {}})
def users(db: DbDep, auth: UserDep) -> list[UserOut]:
    """Every user (admins)."""
    return adminsvc.list_users(db, auth.principal)


@router.post("/users", response_model=UserOut, status_code=201, responses={400: {}, 403: {}, 404: {}})
def create_user(body: UserIn, db: DbDep, auth: UserDep) -> UserOut:
    """Add a user (admins)."""
    return adminsvc.create_user(db, auth.principal, body, auth.client)


@router.patch("/users/{user_id}", response_model=UserOut, responses={403: {}, 404: {}})
def patch_user(
    user_id: Annotated[int, PathParam(ge=1, le=2**62)], body: UserPatch, db: DbDep, auth: UserDep
) -> UserOut:
    """Change a user's role, sites, password or state (admins); their sessions end."""
    return adminsvc.update_user(db, auth.principal, user_id, body, auth.client)


@router.post("/sites", status_code=204, responses={400: {}, 403: {}})
def create_site(body: SiteIn, db: DbDep, auth: UserDep) -> None:
    """Add a site (admins)."""
    adminsvc.create_site(db, auth.principal, body.name, body.label, auth.client)


@router.get("/audit", responses={403: {}})
def audit_log(
    *,
    db: DbDep,
    auth: UserDep,
    user: Annotated[str | None, Query(max_length=128)] = None,
    action: Annotated[str | None, Query(max_length=32)] = None,
    target_type: Annotated[str | None, Query(max_length=32)] = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
    outcome: Annotated[str | None, Query(max_length=16)] = None,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> dict[str, Any]:
    """Audit entries, newest first (admins and auditors)."""
    return adminsvc.audit_log(
        db,
        auth.principal,
        user=user,
        action=action,
        target_type=target_type,
        target_id=target_id,
        outcome=outcome,
        from_=from_,
        to=to,
        limit=limit,
        offset=offset,
    )


@router.get("/verify", responses={403: {}})
def verify_status(db: DbDep, auth: UserDep) -> dict[str, Any]:
    """The last store verification (admins and auditors)."""
    return {"last": adminsvc.verify_status(db, auth.principal)}


@router.post("/verify", responses={403: {}})
def run_verify(ak: AkashiDep, db: DbDep, auth: UserDep) -> dict[str, Any]:
    """Verify the store against its ledger now (admins and auditors)."""
    return adminsvc.run_verify(ak, db, auth.principal, auth.client)


@router.get("/config", responses={403: {}})
def config(ak: AkashiDep, db: DbDep, auth: UserDep) -> dict[str, Any]:
    """SIP routes, agents, notices, cameras, retention and the lexicon in force (admins; no secrets)."""
    return adminsvc.config_view(ak, db, auth.principal)


def _preview(ak: Akashi, name: str, principal: Principal) -> Path:
    adminsvc.require_admin(principal)
    ann = ak.settings.announcements.get(name)
    if ann is None:
        raise NotFoundError(f"告知 {name} はありません", f"no announcement {name}")
    if ann.audio:
        return Path(ann.audio)
    return synthesize_cached(ann.text, ak.settings.home / "cache" / "notices", voice=ann.voice or None)


@router.get(
    "/announcements/{name}/preview",
    response_class=FileResponse,
    responses={200: {"content": {"audio/wav": {}}}, 403: {}, 404: {}},
)
async def preview(
    name: Annotated[str, PathParam(max_length=64)], ak: AkashiDep, auth: UserDep
) -> FileResponse:
    """The recording notice as callers hear it (synthesised from the text when no file is set)."""
    path = await run_in_threadpool(_preview, ak, name, auth.principal)
    return FileResponse(path, media_type="audio/wav")


@router.put("/announcements/{name}", responses={400: {}, 403: {}})
def save_notice(
    name: Annotated[str, PathParam(min_length=1, max_length=64, pattern=r"^[\w-]+$")],
    body: NoticeIn,
    ak: AkashiDep,
    db: DbDep,
    auth: UserDep,
) -> dict[str, Any]:
    """Set a recording notice's mode and text in akashi.toml (admins); returns the guidance findings."""
    return adminconfig.save_notice(ak, db, auth.principal, name, body, auth.client)


@router.put("/agents", status_code=204, responses={400: {}, 403: {}})
def save_agents(body: AgentsIn, ak: AkashiDep, db: DbDep, auth: UserDep) -> None:
    """Replace the agents (name, SIP user, site) in akashi.toml (admins; a blank password keeps the saved one)."""
    adminconfig.save_agents(ak, db, auth.principal, body, auth.client)


@router.put("/routes", status_code=204, responses={400: {}, 403: {}})
def save_routes(body: RoutesIn, ak: AkashiDep, db: DbDep, auth: UserDep) -> None:
    """Replace the inbound SIP routes in akashi.toml (admins; running telephony takes them within seconds)."""
    adminconfig.save_routes(ak, db, auth.principal, body, auth.client)


@router.put("/retention", status_code=204, responses={400: {}, 403: {}})
def save_retention(body: RetentionIn, ak: AkashiDep, db: DbDep, auth: UserDep) -> None:
    """Set the retention periods in akashi.toml (admins)."""
    adminconfig.save_retention(ak, db, auth.principal, body, auth.client)


@router.get("/lexicon", responses={403: {}})
def lexicon(ak: AkashiDep, auth: UserDep) -> dict[str, str]:
    """The harassment lexicon TOML in force and where it is (admins)."""
    return adminconfig.lexicon_text(ak, auth.principal, auth.client)


@router.put("/lexicon", responses={400: {}, 403: {}})
def save_lexicon(body: LexiconIn, ak: AkashiDep, db: DbDep, auth: UserDep) -> dict[str, Any]:
    """Check and save the lexicon as <home>/lexicon.toml and use it (admins)."""
    return adminconfig.save_lexicon(ak, db, auth.principal, body, auth.client)


@router.post("/cameras", status_code=204, responses={400: {}, 403: {}})
def add_camera(body: CameraIn, ak: AkashiDep, db: DbDep, auth: UserDep) -> None:
    """Add a camera; its URL is sealed and never shown again (admins)."""
    adminconfig.add_camera(ak, db, auth.principal, body, auth.client)


@router.delete("/cameras/{name}", status_code=204, responses={403: {}, 404: {}})
def remove_camera(
    name: Annotated[str, PathParam(min_length=1, max_length=64)], ak: AkashiDep, db: DbDep, auth: UserDep
) -> None:
    """Stop recording a camera added from the browser or the CLI; its footage stays (admins)."""
    adminconfig.remove_camera(ak, db, auth.principal, name, auth.client)


@router.post("/cameras/{name}/pause", status_code=204, responses={403: {}, 404: {}})
def pause_camera(
    name: Annotated[str, PathParam(min_length=1, max_length=64)], ak: AkashiDep, db: DbDep, auth: UserDep
) -> None:
    """Pause a camera: it stops recording until resumed, without a restart; its footage stays (admins)."""
    adminconfig.pause_camera(ak, db, auth.principal, name, True, auth.client)


@router.post("/cameras/{name}/resume", status_code=204, responses={403: {}, 404: {}})
def resume_camera(
    name: Annotated[str, PathParam(min_length=1, max_length=64)], ak: AkashiDep, db: DbDep, auth: UserDep
) -> None:
    """Resume a paused camera (admins)."""
    adminconfig.pause_camera(ak, db, auth.principal, name, False, auth.client)
