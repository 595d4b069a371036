"""Typed dependencies: the installation, database sessions, the logged-in user and CSRF checks.

Every protected route depends on :func:`require_user`; a route is public only by not depending on it,
and the test suite checks the list of public routes.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from akashi.access import Principal
from akashi.access.sessions import COOKIE, LANG_COOKIE, find_session
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.web.cache import WebCaches
from akashi.web.i18n import pick_language

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"


class LoginRequired(Exception):
    """No live session: API answers 401, pages redirect to the login page."""

    def __init__(self, reason: str = "no_session") -> None:
        super().__init__(reason)
        self.reason = reason


class SecondFactorRequired(Exception):
    """Password accepted, TOTP code still missing."""


class CsrfFailed(Exception):
    """A state-changing request came without the session's CSRF token."""


@dataclass(frozen=True)
class Auth:
    """The caller: principal, CSRF token of the session, page language, client address."""

    principal: Principal
    session_id: str
    csrf_token: str
    lang: str
    client: str
    display_name: str


def get_akashi(request: Request) -> Akashi:
    """The installation this app serves."""
    ak = request.app.state.akashi
    assert isinstance(ak, Akashi)
    return ak


AkashiDep = Annotated[Akashi, Depends(get_akashi)]


def get_caches(request: Request) -> WebCaches:
    """The bounded caches this app owns (derived WAVs, waveform peaks)."""
    caches = request.app.state.caches
    assert isinstance(caches, WebCaches)
    return caches


CachesDep = Annotated[WebCaches, Depends(get_caches)]


def db(ak: AkashiDep) -> Iterator[Session]:
    """A database session committed when the route returns, before the response is sent.

    ``DbDep`` gives it ``scope="function"``: with FastAPI's default ("request") the commit ran after the
    client already had its answer, so a failed commit lost an audit entry or a saved form silently.
    """
    with session_scope(ak.engine) as s:
        yield s


DbDep = Annotated[Session, Depends(db, scope="function")]


def client_of(request: Request) -> str:
    """Where the request came from, for the audit log."""
    host = request.client.host if request.client else "?"
    agent = request.headers.get("user-agent", "")[:80]
    return f"{host} {agent}".strip()


def language(request: Request) -> str:
    """The page language of this request."""
    return pick_language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def _lookup(ak: Akashi, token: str | None) -> tuple[Principal, str, str, bool, str] | None:
    with session_scope(ak.engine) as s:
        found = find_session(s, token, ak.settings.web.session_idle_minutes)
        if found is None:
            return None
        row, user = found
        return (
            Principal.of(user),
            row.id,
            row.csrf_token,
            row.second_factor_ok,
            user.display_name or user.name,
        )


async def _session_auth(request: Request, *, allow_pending: bool) -> Auth:
    ak = get_akashi(request)
    token = request.cookies.get(COOKIE)
    found = await run_in_threadpool(_lookup, ak, token)
    if found is None:
        raise LoginRequired("expired" if token else "no_session")
    principal, sid, csrf, second_ok, display = found
    if not second_ok and not allow_pending:
        raise SecondFactorRequired
    if request.method not in SAFE_METHODS:
        given = request.headers.get(CSRF_HEADER)
        if given is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            form = await request.form()
            field = form.get(CSRF_FIELD)
            given = field if isinstance(field, str) else None
        if given is None or not hmac.compare_digest(given.encode(), csrf.encode()):
            raise CsrfFailed
    return Auth(principal, sid, csrf, language(request), client_of(request), display)


async def require_user(request: Request) -> Auth:
    """The logged-in user (password and, when enrolled, TOTP done); CSRF checked on writes."""
    return await _session_auth(request, allow_pending=False)


async def require_pending_user(request: Request) -> Auth:
    """A user who gave the password but not yet the TOTP code (the TOTP page only)."""
    return await _session_auth(request, allow_pending=True)


UserDep = Annotated[Auth, Depends(require_user)]
