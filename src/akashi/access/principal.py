"""Who is acting, and what their role, sites and incident grants allow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Engine, false, select, true
from sqlalchemy.orm import Session, object_session

from akashi.access.audit import audit_now
from akashi.access.passwords import hash_password, needs_rehash, verify_password
from akashi.db.base import session_scope, utcnow
from akashi.db.models import ROLES, Call, Camera, Incident, IncidentItem, User
from akashi.db.models_grants import IncidentGrant
from akashi.errors import AccessDenied

MEDIA_ROLES = frozenset({"admin", "manager", "operator", "counsel"})
EXPORT_ROLES = frozenset({"admin", "manager", "counsel"})
AUDIT_ROLES = frozenset({"admin", "auditor"})
# Transcripts, keywords and flagged words are content, like the audio: auditors read metadata only.
CONTENT_ROLES = frozenset({"admin", "manager", "operator", "counsel"})


@dataclass(frozen=True)
class CameraRange:
    """A camera time range of a granted incident."""

    camera_id: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Principal:
    """A logged-in user. ``site_ids`` None means every site (admins, auditors).

    A ``counsel`` user has no sites: what they may read is exactly the items of the incidents
    granted to them and not expired (``incident_ids``, ``granted_calls``, ``granted_ranges``),
    loaded when the principal is built (each request, each CLI command).
    """

    id: int
    name: str
    role: str
    site_ids: frozenset[int] | None
    agent_id: int | None = None
    incident_ids: frozenset[int] = frozenset()
    granted_calls: frozenset[int] = frozenset()
    granted_ranges: tuple[CameraRange, ...] = ()

    @classmethod
    def of(cls, user: User) -> Principal:
        """Build from a ``users`` row (a counsel's live grants are read in the row's session)."""
        if user.role not in ROLES:
            raise AccessDenied(f"不明な役割です: {user.role}", f"unknown role: {user.role}")
        if user.role == "counsel":
            s = object_session(user)
            if s is None:
                return cls(user.id, user.name, user.role, frozenset(), None)
            incidents, calls, ranges = live_grants(s, user.id)
            return cls(user.id, user.name, user.role, frozenset(), None, incidents, calls, ranges)
        sites = None if user.role in ("admin", "auditor") else frozenset(s.id for s in user.sites)
        return cls(user.id, user.name, user.role, sites, user.agent_id)

    @classmethod
    def system(cls, name: str = "system") -> Principal:
        """The installation itself (CLI run by the machine's administrator without --as)."""
        return cls(0, name, "admin", None, None)

    @property
    def can_play(self) -> bool:
        """May listen to or watch media (counsel: only what the grant covers)."""
        return self.role in MEDIA_ROLES

    @property
    def can_export(self) -> bool:
        """May make evidence packages (counsel: only what the grant covers)."""
        return self.role in EXPORT_ROLES

    @property
    def can_audit(self) -> bool:
        """May read the audit log and run verify."""
        return self.role in AUDIT_ROLES

    @property
    def can_read_content(self) -> bool:
        """May read what was said: transcripts, keywords, flagged words, search by words."""
        return self.role in CONTENT_ROLES

    def sees_site(self, site_id: int | None) -> bool:
        """True when the site is in scope (an unassigned site is visible to all-site roles only)."""
        return self.site_ids is None or (site_id is not None and site_id in self.site_ids)

    def may_view_call(self, call: Call) -> bool:
        """Role and site rules for one call's metadata."""
        if self.role == "counsel":
            return call.id in self.granted_calls
        if self.role == "operator":
            return (
                self.agent_id is not None and call.agent_id == self.agent_id and self.sees_site_or_own(call)
            )
        return self.sees_site(call.site_id)

    def may_view_camera(self, camera: Camera) -> bool:
        """A camera whose pages, live view, any range and export are in scope: the one camera rule.

        Operators and counsel browse no cameras (counsel reach granted ranges through
        :meth:`may_view_segment`); everyone else sees the cameras of their sites.
        """
        if self.role in ("operator", "counsel"):
            return False
        return self.sees_site(camera.site_id)

    def may_view_incident(self, incident: Incident) -> bool:
        """An incident in scope: counsel their granted ones, operators none, others their sites'."""
        if self.role == "counsel":
            return incident.id in self.incident_ids
        return self.role != "operator" and self.sees_site(incident.site_id)

    def may_view_segment(self, camera: Camera, start: datetime, end: datetime) -> bool:
        """A stored camera segment in scope: its camera's site, or for counsel a granted range."""
        if self.role == "counsel":
            return any(
                r.camera_id == camera.id and start < r.end and end > r.start for r in self.granted_ranges
            )
        return self.may_view_camera(camera)

    def sees_site_or_own(self, call: Call) -> bool:
        """Operators see their own calls even if a site was not assigned to them."""
        return self.site_ids is None or not self.site_ids or call.site_id in self.site_ids

    def calls_clause(self) -> ColumnElement[bool]:
        """SQL filter for the calls this principal may see."""
        if self.role == "counsel":
            return Call.id.in_(sorted(self.granted_calls)) if self.granted_calls else false()
        if self.role == "operator":
            if self.agent_id is None:
                return false()
            clause = Call.agent_id == self.agent_id
            if self.site_ids:
                clause = clause & Call.site_id.in_(self.site_ids)
            return clause
        if self.site_ids is None:
            return true()
        return Call.site_id.in_(self.site_ids) if self.site_ids else false()

    def incidents_clause(self) -> ColumnElement[bool]:
        """SQL filter of :meth:`may_view_incident`: counsel their granted ones, operators none, others their sites'."""
        if self.role == "operator":
            return false()
        if self.role == "counsel":
            return Incident.id.in_(sorted(self.incident_ids)) if self.incident_ids else false()
        if self.site_ids is None:
            return true()
        return Incident.site_id.in_(sorted(self.site_ids)) if self.site_ids else false()

    def cameras_clause(self) -> ColumnElement[bool]:
        """SQL filter for the cameras this principal may browse (counsel reach clips through incidents)."""
        if self.role in ("operator", "counsel"):
            return false()
        if self.site_ids is None:
            return true()
        return Camera.site_id.in_(self.site_ids) if self.site_ids else false()


def live_grants(
    s: Session, user_id: int, now: datetime | None = None
) -> tuple[frozenset[int], frozenset[int], tuple[CameraRange, ...]]:
    """Incidents granted to a user and not revoked or expired, with their calls and camera ranges."""
    now = now or utcnow()
    incidents = frozenset(
        s.scalars(
            select(IncidentGrant.incident_id).where(
                IncidentGrant.user_id == user_id,
                IncidentGrant.revoked_at.is_(None),
                IncidentGrant.until > now,
            )
        )
    )
    if not incidents:
        return incidents, frozenset(), ()
    items = s.scalars(select(IncidentItem).where(IncidentItem.incident_id.in_(sorted(incidents)))).all()
    calls = frozenset(it.call_id for it in items if it.call_id is not None)
    ranges = tuple(
        CameraRange(it.camera_id, it.started_at, it.ended_at)
        for it in items
        if it.camera_id is not None and it.started_at is not None and it.ended_at is not None
    )
    return incidents, calls, ranges


def visible_calls(principal: Principal) -> ColumnElement[bool]:
    """Filter for Call queries."""
    return principal.calls_clause()


def _lock_minutes(failures: int, threshold: int) -> int:
    return int(min(60, 2 ** max(0, failures - threshold)))


#: The one refusal of a password login, for every reason (an account's existence is not revealed).
LOGIN_REFUSED = (
    "ユーザー名またはパスワードが違うか、ログインが一時的にロックされています。しばらくしてからやり直してください",
    "wrong user name or password, or login temporarily locked after repeated failures; try again later",
)


def authenticate(
    session: Session, name: str, password: str, client: str, *, lockout_after: int = 5
) -> Principal:
    """Check a password; count failures and lock out with growing backoff. Every attempt is audited.

    ``session`` is used to read the user; outcomes are written in their own transactions so a
    refusal is recorded even when the caller rolls back.
    """
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    now = utcnow()
    user = session.scalar(select(User).where(User.name == name))
    # Whatever the reason (unknown user, wrong password, locked, disabled), the answer and its cost are
    # the same: a locked account also pays for a hash, so neither words nor timing reveal that it exists.
    ok = verify_password(user.password_hash if user else None, password)
    if user is not None and user.locked_until is not None and user.locked_until > now:
        audit_now(
            engine, user=name, action="login", outcome="denied", client=client, detail={"reason": "locked"}
        )
        raise AccessDenied(*LOGIN_REFUSED)
    if user is None or not ok or user.disabled:
        reason = "unknown_user" if user is None else ("disabled" if user.disabled else "bad_password")
        if user is not None:
            with session_scope(engine) as s:
                u = s.get(User, user.id)
                assert u is not None
                u.failed_logins += 1
                if u.failed_logins >= lockout_after:
                    u.locked_until = now + timedelta(minutes=_lock_minutes(u.failed_logins, lockout_after))
        audit_now(
            engine, user=name, action="login", outcome="denied", client=client, detail={"reason": reason}
        )
        raise AccessDenied(*LOGIN_REFUSED)
    with session_scope(engine) as s:
        u = s.get(User, user.id)
        assert u is not None
        u.failed_logins = 0
        u.locked_until = None
        if needs_rehash(u.password_hash):
            u.password_hash = hash_password(password)
    audit_now(engine, user=name, action="login", outcome="ok", client=client)
    session.expire_all()
    user = session.get(User, user.id)
    assert user is not None
    return Principal.of(user)


def load_principal(session: Session, name: str) -> Principal:
    """The principal of an existing user (CLI ``--as NAME``)."""
    user = session.scalar(select(User).where(User.name == name))
    if user is None or user.disabled:
        raise AccessDenied(f"利用者が見つかりません: {name}", f"no such user: {name}")
    return Principal.of(user)
