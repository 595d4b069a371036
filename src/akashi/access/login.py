"""Logging in: the password step (which opens a session) and the second factor (TOTP) that completes it.

Both write the audit entries and lock an account after ``lockout_after`` failures; the web's login
routes only read the form and set the cookie.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, func, select

from akashi.access.audit import audit
from akashi.access.principal import Principal, authenticate
from akashi.access.sessions import NewSession, create_session
from akashi.access.totp import matching_step, open_secret
from akashi.config import Settings
from akashi.db.base import session_scope, utcnow
from akashi.db.models import AuditEntry, User
from akashi.db.models_web import WebSession


def password_login(
    engine: Engine, name: str, password: str, client: str, *, lockout_after: int
) -> tuple[Principal, NewSession, bool]:
    """Check the password and open a session; whether that session still needs the second factor."""
    with session_scope(engine) as s:
        principal = authenticate(s, name, password, client, lockout_after=lockout_after)
        user = s.get(User, principal.id)
        assert user is not None
        needs_totp = bool(user.totp_secret)
        new = create_session(s, principal.id, client, second_factor_ok=not needs_totp)
        return principal, new, needs_totp


def second_factor(
    engine: Engine,
    settings: Settings,
    session_id: str,
    user_id: int,
    code: str,
    client: str,
    *,
    lockout_after: int,
) -> bool:
    """Check a TOTP code for a half-open session; True completes the session (audited either way)."""
    with session_scope(engine) as s:
        row = s.get(WebSession, session_id)
        user = s.get(User, user_id)
        if row is None or user is None or not user.totp_secret:
            return False
        step = matching_step(open_secret(settings, user.totp_secret), code, user.totp_last_step)
        ok = step is not None
        if ok:
            user.totp_last_step = step  # this code (and older ones) can never be used again
        audit(s, user=user.name, action="login_totp", outcome="ok" if ok else "denied", client=client)
        if ok:
            row.second_factor_ok = True
            return True
        # Wrong codes lock the account like wrong passwords do. The password step resets the
        # password counter, so TOTP failures are counted from the audit log (since the last good code).
        s.flush()
        since = utcnow() - timedelta(minutes=15)
        last_ok = s.scalar(
            select(func.max(AuditEntry.seq)).where(
                AuditEntry.user_name == user.name,
                AuditEntry.action == "login_totp",
                AuditEntry.outcome == "ok",
            )
        )
        failures = s.scalar(
            select(func.count()).where(
                AuditEntry.user_name == user.name, AuditEntry.action == "login_totp",
                AuditEntry.outcome == "denied", AuditEntry.ts >= since, AuditEntry.seq > (last_ok or 0),
            )
        ) or 0  # fmt: skip
        limit = lockout_after
        if failures >= limit:
            user.locked_until = utcnow() + timedelta(minutes=min(60, 2 ** (failures - limit)))
            s.delete(row)
        return False
