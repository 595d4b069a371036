"""Server-side login sessions: a random cookie token, stored only as its SHA-256, with an idle timeout."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from akashi.db.base import utcnow
from akashi.db.models import User
from akashi.db.models_web import WebSession

COOKIE = "akashi_session"
LANG_COOKIE = "akashi_lang"
TOUCH_EVERY = timedelta(seconds=30)  # write last_seen at most this often


def token_id(token: str) -> str:
    """The stored identifier of a cookie token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewSession:
    """What a fresh login hands to the browser."""

    token: str
    csrf_token: str


def create_session(s: Session, user_id: int, client: str, *, second_factor_ok: bool) -> NewSession:
    """Start a session for ``user_id``; ``second_factor_ok`` False until the TOTP code is given."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    s.add(
        WebSession(
            id=token_id(token),
            user_id=user_id,
            csrf_token=csrf,
            second_factor_ok=second_factor_ok,
            client=client[:200],
        )
    )
    return NewSession(token, csrf)


def find_session(s: Session, token: str | None, idle_minutes: int) -> tuple[WebSession, User] | None:
    """The live session of ``token`` and its user, or None (unknown, idle too long, user disabled).

    An idle session is deleted on sight.
    """
    if not token or len(token) > 200:
        return None
    row = s.get(WebSession, token_id(token))
    if row is None:
        return None
    now = utcnow()
    if now - row.last_seen_at > timedelta(minutes=idle_minutes):
        s.delete(row)
        return None
    user = s.get(User, row.user_id)
    if user is None or user.disabled:
        s.delete(row)
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        row.last_seen_at = now
    return row, user


def end_session(s: Session, token: str | None) -> None:
    """Log out: forget the session."""
    if token:
        s.execute(delete(WebSession).where(WebSession.id == token_id(token)))


def end_user_sessions(s: Session, user_id: int) -> None:
    """Forget every session of a user (password change, disabling)."""
    s.execute(delete(WebSession).where(WebSession.user_id == user_id))
