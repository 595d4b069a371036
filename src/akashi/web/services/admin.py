"""Administration: users, roles and sites, the audit log, store verification, configuration views."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from akashi.access import Principal, audit, hash_password, verify_audit
from akashi.access.audit import entry_dict
from akashi.access.passwords import MIN_LENGTH
from akashi.access.sessions import end_user_sessions
from akashi.analysis.lexicon import load_lexicon
from akashi.config.watch import pending_restart
from akashi.db.base import utcnow
from akashi.db.models import ROLES, Agent, AuditEntry, Setting, Site, User
from akashi.demo.site import offered_sites
from akashi.errors import AccessDenied, AkashiError, NotFoundError
from akashi.web.i18n import jst
from akashi.web.services.adminconfig import RESTART_NOTE, cameras_view, notice_lint
from akashi.web.services.calls import jst_day_start

if TYPE_CHECKING:
    from akashi.context import Akashi

VERIFY_KEY = "last_verify"


class UserIn(BaseModel):
    """A new user."""

    name: str = Field(..., min_length=1, max_length=128, pattern=r"^[\w.@-]+$")
    password: str = Field(..., min_length=MIN_LENGTH, max_length=1024)
    role: str = Field(..., pattern="^(admin|manager|operator|auditor|counsel)$")
    display_name: str = Field("", max_length=200)
    sites: list[str] = Field(default_factory=list, max_length=100)
    agent: str | None = Field(None, max_length=128, description="Agent name (operators: links their calls)")


class UserPatch(BaseModel):
    """Changes to a user; omitted fields stay."""

    role: str | None = Field(None, pattern="^(admin|manager|operator|auditor|counsel)$")
    display_name: str | None = Field(None, max_length=200)
    sites: list[str] | None = Field(None, max_length=100)
    disabled: bool | None = None
    password: str | None = Field(None, min_length=MIN_LENGTH, max_length=1024)
    unlock: bool | None = None


class UserOut(BaseModel):
    """A user as the admin page shows it (never the hash or TOTP secret)."""

    id: int
    name: str
    display_name: str
    role: str
    sites: list[str]
    agent: str | None
    disabled: bool
    locked: bool
    totp: bool


def require_admin(p: Principal) -> None:
    """Only admins manage users and configuration."""
    if p.role != "admin":
        raise AccessDenied("管理者のみ操作できます", "admins only")


def require_auditor(p: Principal) -> None:
    """Admins and auditors read the audit log and run verification."""
    if not p.can_audit:
        raise AccessDenied("監査ログを閲覧する権限がありません", "you may not read the audit log")


def _user_out(s: Session, u: User) -> UserOut:
    agent = s.get(Agent, u.agent_id) if u.agent_id else None
    return UserOut(
        id=u.id,
        name=u.name,
        display_name=u.display_name,
        role=u.role,
        sites=sorted(x.name for x in u.sites),
        agent=agent.name if agent else None,
        disabled=u.disabled,
        locked=bool(u.locked_until and u.locked_until > utcnow()),
        totp=bool(u.totp_secret),
    )


def list_users(s: Session, p: Principal) -> list[UserOut]:
    """Every user."""
    require_admin(p)
    return [_user_out(s, u) for u in s.scalars(select(User).order_by(User.name))]


def _sites(s: Session, names: list[str]) -> list[Site]:
    found = list(s.scalars(select(Site).where(Site.name.in_(names))))
    missing = set(names) - {x.name for x in found}
    if missing:
        raise NotFoundError(
            f"拠点がありません: {', '.join(sorted(missing))}", f"no such site: {', '.join(sorted(missing))}"
        )
    return found


def create_user(s: Session, p: Principal, body: UserIn, client: str) -> UserOut:
    """Add a user (argon2id hash of the password)."""
    require_admin(p)
    if s.scalar(select(User.id).where(User.name == body.name)) is not None:
        raise AkashiError(f"利用者 {body.name} は既にいます", f"user {body.name} already exists")
    agent_id = None
    if body.agent:
        agent = s.scalar(select(Agent).where(Agent.name == body.agent))
        if agent is None:
            agent = Agent(name=body.agent)
            s.add(agent)
            s.flush()
        agent_id = agent.id
    u = User(
        name=body.name,
        role=body.role,
        password_hash=hash_password(body.password),
        display_name=body.display_name,
        agent_id=agent_id,
    )
    u.sites = _sites(s, body.sites)
    s.add(u)
    s.flush()
    audit(
        s,
        user=p.name,
        action="user_create",
        target_type="user",
        target_id=u.id,
        client=client,
        detail={"name": u.name, "role": u.role, "sites": body.sites},
    )
    return _user_out(s, u)


def update_user(s: Session, p: Principal, user_id: int, body: UserPatch, client: str) -> UserOut:
    """Change role, sites, display name, password, disabled or lockout."""
    require_admin(p)
    u = s.get(User, user_id)
    if u is None:
        raise NotFoundError(f"利用者 {user_id} はいません", f"no user {user_id}")
    changed: dict[str, Any] = {}
    if body.role is not None and body.role in ROLES:
        u.role = changed["role"] = body.role
    if body.display_name is not None:
        u.display_name = body.display_name
    if body.sites is not None:
        u.sites = _sites(s, body.sites)
        changed["sites"] = body.sites
    if body.disabled is not None:
        u.disabled = changed["disabled"] = body.disabled
    if body.unlock:
        u.failed_logins = 0
        u.locked_until = None
        changed["unlock"] = True
    if body.password is not None:
        u.password_hash = hash_password(body.password)
        changed["password"] = True
    if {"role", "sites", "disabled", "password"} & changed.keys():
        end_user_sessions(s, u.id)  # rights changed: log the user out everywhere
    audit(
        s,
        user=p.name,
        action="user_update",
        target_type="user",
        target_id=u.id,
        client=client,
        detail=changed,
    )
    return _user_out(s, u)


def reset_user(
    s: Session, p: Principal, user_id: int, *, password: str | None, totp: bool, client: str
) -> UserOut:
    """Set a new password and/or remove the TOTP enrolment of a user who lost theirs.

    Audited as ``user_reset`` (what was reset, never the password); the user is logged out everywhere.
    """
    require_admin(p)
    u = s.get(User, user_id)
    if u is None:
        raise NotFoundError(f"利用者 {user_id} はいません", f"no user {user_id}")
    if password is None and not totp:
        raise AkashiError(
            "新しいパスワードを入力するか、二段階認証の解除を選んでください",
            "enter a new password or choose to remove two-factor sign-in",
        )
    changed: dict[str, Any] = {}
    if password is not None:
        if len(password) < MIN_LENGTH:
            raise AkashiError(
                f"パスワードは {MIN_LENGTH} 文字以上にしてください",
                f"a password needs {MIN_LENGTH} characters or more",
            )
        u.password_hash = hash_password(password)
        u.failed_logins = 0
        u.locked_until = None
        changed["password"] = True
    if totp:
        changed["totp"] = bool(u.totp_secret)
        u.totp_secret = None
    end_user_sessions(s, u.id)
    audit(
        s, user=p.name, action="user_reset", target_type="user", target_id=u.id, client=client, detail=changed
    )
    return _user_out(s, u)


def create_site(s: Session, p: Principal, name: str, label: str, client: str) -> None:
    """Add a site."""
    require_admin(p)
    if s.scalar(select(Site.id).where(Site.name == name)) is not None:
        raise AkashiError(f"拠点 {name} は既にあります", f"site {name} already exists")
    s.add(Site(name=name, label=label))
    audit(s, user=p.name, action="site_create", target_type="site", target_id=name, client=client)


def audit_log(
    s: Session,
    p: Principal,
    *,
    user: str | None = None,
    action: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    outcome: str | None = None,
    from_: date | None = None,
    to: date | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """Audit entries, newest first, filtered."""
    require_auditor(p)
    stmt = select(AuditEntry)
    if user:
        stmt = stmt.where(AuditEntry.user_name == user)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if target_type:
        stmt = stmt.where(AuditEntry.target_type == target_type)
    if target_id:
        stmt = stmt.where(AuditEntry.target_id == target_id)
    if outcome:
        stmt = stmt.where(AuditEntry.outcome == outcome)
    if from_:
        stmt = stmt.where(AuditEntry.ts >= jst_day_start(from_))
    if to:
        stmt = stmt.where(AuditEntry.ts < jst_day_start(to) + timedelta(days=1))
    total = s.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = s.scalars(stmt.order_by(AuditEntry.seq.desc()).limit(limit).offset(offset))
    return {
        "total": int(total),
        "items": [{**entry_dict(r), "ts_jst": jst(r.ts)} for r in rows],
    }


def audit_actions(s: Session, p: Principal, chosen: str = "") -> list[str]:
    """The actions present in the audit log (for its filter), with ``chosen`` kept even if absent."""
    require_auditor(p)
    found = set(s.scalars(select(AuditEntry.action).distinct()))
    return sorted(found | ({chosen} if chosen else set()))


def audit_target_types(s: Session, p: Principal, chosen: str = "") -> list[str]:
    """The target types present in the audit log (for its filter), with ``chosen`` kept."""
    require_auditor(p)
    found = {x for x in s.scalars(select(AuditEntry.target_type).distinct()) if x}
    return sorted(found | ({chosen} if chosen else set()))


def verify_status(s: Session, p: Principal) -> dict[str, Any] | None:
    """The last verification result recorded in the database, or None."""
    require_auditor(p)
    row = s.get(Setting, VERIFY_KEY)
    return dict(row.value) if row else None


def run_verify(ak: Akashi, s: Session, p: Principal, client: str) -> dict[str, Any]:
    """Verify the store against the ledger now and record the result."""

    require_auditor(p)
    report = ak.store.verify()
    result = {
        "ok": bool(report.ok) and not verify_audit(s),
        "at": utcnow().isoformat(),
        "report": report.to_json(),
        "audit_chain_problems": len(verify_audit(s)),
    }
    row = s.get(Setting, VERIFY_KEY)
    if row is None:
        s.add(Setting(key=VERIFY_KEY, value=result))
    else:
        row.value = result
    audit(s, user=p.name, action="verify", outcome="ok" if result["ok"] else "failed", client=client)
    return result


def config_view(ak: Akashi, s: Session, p: Principal) -> dict[str, Any]:
    """The configuration an admin reviews: SIP routes, agents, notices, cameras, retention, lexicon.

    Secrets (camera URLs, SIP passwords) are never shown.
    """
    require_admin(p)

    st = ak.settings
    try:
        lex = load_lexicon(st.analysis.lexicon or None)
        lexicon: list[dict[str, Any]] = [
            {"name": c.name, "kind": c.kind, "severity": c.severity, "terms": [t.text for t in c.terms]}
            for c in lex.categories
        ]
        lexicon_source = lex.source
    except AkashiError as exc:
        lexicon, lexicon_source = [], f"error: {exc}"
    return {
        "sites": [{"name": x.name, "label": x.label} for x in offered_sites(s)],
        "sip": {
            "enabled": st.sip.enabled,
            "listen": st.sip.listen,
            "routes": [r.model_dump(exclude={"ring_password"}) for r in st.sip.routes],  # never the secret
            "trunks": [{"name": t.name, "host": t.host, "transport": t.transport} for t in st.sip.trunks],
        },
        "agents": [
            {
                "name": a.name,
                "sip_user": a.sip_user,
                "site": a.site,
                "configured": True,
                "has_secret": bool(a.password.get_secret_value()),  # whether, never what
            }
            for a in st.agents
        ]
        + [
            {
                "name": a.name,
                "sip_user": a.sip_user or "",
                "site": "",
                "configured": False,
                "has_secret": False,
            }
            for a in s.scalars(select(Agent).order_by(Agent.name))
            if a.name not in {x.name for x in st.agents}
        ],
        "announcements": {
            k: {"mode": v.mode, "text": v.text, "voice": v.voice, "lint": notice_lint(v.text)}
            for k, v in st.announcements.items()
        },
        "cameras": cameras_view(ak),
        "retention": {"calls_days": st.retention.calls_days, "camera_days": st.camera_policy.retain_days},
        "lexicon": lexicon,
        "lexicon_source": lexicon_source,
        "restart_note": RESTART_NOTE,
        "restart_needed": pending_restart(ak),  # keys changed since start that only a restart applies
    }
