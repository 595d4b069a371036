"""Incident-scoped access for counsel: grant a user one incident until a time, revoke, list.

Admins grant any incident, managers the incidents of their sites; the grantee must have the role
``counsel``. Grants and revocations are audited on the incident, refusals as ``denied``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from akashi.access.audit import audit
from akashi.access.evidence import refuse
from akashi.access.principal import Principal
from akashi.db.base import utcnow
from akashi.db.models import Incident, User
from akashi.db.models_grants import IncidentGrant
from akashi.errors import AkashiError, NotFoundError

GRANT_ROLES = frozenset({"admin", "manager"})
MAX_GRANT = timedelta(days=3 * 366)
JST = ZoneInfo("Asia/Tokyo")


@dataclass(frozen=True)
class GrantOut:
    """One grant as the pages, the API and the CLI show it."""

    id: int
    incident_id: int
    user: str
    until: datetime
    granted_by: str
    created_at: datetime
    revoked_at: datetime | None
    revoked_by: str | None
    active: bool


def parse_until(value: str) -> datetime:
    """``YYYY-MM-DD`` (access through that whole JST day) or an ISO 8601 time (no zone: JST), as UTC."""
    value = value.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            t = datetime.combine(day + timedelta(days=1), time(0), tzinfo=JST)
        else:
            t = datetime.fromisoformat(value)
            t = t if t.tzinfo else t.replace(tzinfo=JST)
        return t.astimezone(UTC)
    except (ValueError, OverflowError):
        raise AkashiError(
            f"期限の日付が読めません: {value[:40]}", "until must be a date (YYYY-MM-DD) or an ISO 8601 time"
        ) from None


def _engine(s: Session) -> Engine:
    engine = s.get_bind()
    assert isinstance(engine, Engine)
    return engine


def _incident_for_granting(s: Session, p: Principal, incident_id: int, action: str, client: str) -> Incident:
    inc = s.get(Incident, incident_id)
    if inc is None:
        raise NotFoundError(f"案件 {incident_id} はありません", f"no incident {incident_id}")
    if p.role not in GRANT_ROLES:
        raise refuse(
            _engine(s),
            p,
            action,
            "incident",
            incident_id,
            client,
            f"role_{p.role}_no_grant",
            message=(
                "案件の閲覧権限を付与・取消できるのは管理者とマネージャーです",
                "only admins and managers may grant or revoke access to an incident",
            ),
        )
    if not p.sees_site(inc.site_id):
        raise refuse(
            _engine(s),
            p,
            action,
            "incident",
            incident_id,
            client,
            "out_of_scope",
            message=("この拠点の案件の権限は操作できません", "this incident belongs to a site outside yours"),
        )
    return inc


def grant_incident(
    s: Session, p: Principal, incident_id: int, user_name: str, until: datetime, client: str
) -> int:
    """Let ``user_name`` (role counsel) view, play and export the incident's evidence until ``until``."""
    _incident_for_granting(s, p, incident_id, "incident_grant", client)
    user = s.scalar(select(User).where(User.name == user_name))
    if user is None or user.disabled:
        raise NotFoundError(f"利用者が見つかりません: {user_name}", f"no such user: {user_name}")
    if user.role != "counsel":
        raise AkashiError(
            f"案件単位の権限は役割 counsel の利用者にだけ付与できます: {user_name} ({user.role})",
            f"incident access is granted to users with the role counsel only: {user_name} is {user.role}",
        )
    now = utcnow()
    if until.tzinfo is None or until <= now or until - now > MAX_GRANT:
        raise AkashiError(
            "期限は現在より後、3 年以内にしてください", "until must be in the future and within 3 years"
        )
    grant = IncidentGrant(incident_id=incident_id, user_id=user.id, until=until, granted_by=p.name)
    s.add(grant)
    s.flush()
    audit(
        s,
        user=p.name,
        action="incident_grant",
        target_type="incident",
        target_id=incident_id,
        client=client,
        detail={"grant_id": grant.id, "grantee": user.name, "until": until.isoformat()},
    )
    return grant.id


def revoke_grants(s: Session, p: Principal, incident_id: int, user_name: str, client: str) -> int:
    """End every live grant of ``user_name`` on the incident now; returns how many were ended."""
    _incident_for_granting(s, p, incident_id, "incident_revoke", client)
    user = s.scalar(select(User).where(User.name == user_name))
    if user is None:
        raise NotFoundError(f"利用者が見つかりません: {user_name}", f"no such user: {user_name}")
    now = utcnow()
    live = s.scalars(
        select(IncidentGrant).where(
            IncidentGrant.incident_id == incident_id,
            IncidentGrant.user_id == user.id,
            IncidentGrant.revoked_at.is_(None),
            IncidentGrant.until > now,
        )
    ).all()
    for g in live:
        g.revoked_at = now
        g.revoked_by = p.name
    audit(
        s,
        user=p.name,
        action="incident_revoke",
        target_type="incident",
        target_id=incident_id,
        client=client,
        detail={"grantee": user.name, "grant_ids": [g.id for g in live]},
    )
    return len(live)


def list_grants(s: Session, p: Principal, incident_id: int) -> list[GrantOut]:
    """Every grant of an incident, newest first (for those who may grant)."""
    if p.role not in GRANT_ROLES:
        return []
    inc = s.get(Incident, incident_id)
    if inc is None or not p.sees_site(inc.site_id):
        return []
    now = utcnow()
    rows = s.execute(
        select(IncidentGrant, User.name)
        .join(User, User.id == IncidentGrant.user_id)
        .where(IncidentGrant.incident_id == incident_id)
        .order_by(IncidentGrant.id.desc())
    ).all()
    return [
        GrantOut(
            id=g.id,
            incident_id=g.incident_id,
            user=name,
            until=g.until,
            granted_by=g.granted_by,
            created_at=g.created_at,
            revoked_at=g.revoked_at,
            revoked_by=g.revoked_by,
            active=g.revoked_at is None and g.until > now,
        )
        for g, name in rows
    ]
