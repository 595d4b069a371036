"""Login, two-factor, logout and language switch: pages and the JSON API."""

from __future__ import annotations

import hmac
import logging
import secrets
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from akashi.access import Principal, audit, authenticate
from akashi.access.audit import audit_now
from akashi.context import Akashi
from akashi.db.base import session_scope, utcnow
from akashi.db.models import AuditEntry, User
from akashi.db.models_web import WebSession
from akashi.errors import AccessDenied
from akashi.web.deps import AkashiDep, Auth, UserDep, client_of, require_pending_user
from akashi.web.i18n import LANGS, translate
from akashi.web.render import render
from akashi.web.sessions import COOKIE, LANG_COOKIE, NewSession, create_session, end_session, token_id
from akashi.web.throttle import LoginThrottle, LoginThrottleDep
from akashi.web.totp import matching_step, open_secret

log = logging.getLogger(__name__)
router = APIRouter()
THROTTLED = (
    "ログインの試行が多すぎます。しばらくしてからやり直してください",
    "too many login attempts from this address; try again later",
)
PRELOGIN_COOKIE = "akashi_prelogin"
PendingDep = Annotated[Auth, Depends(require_pending_user)]


def secure_cookies(ak: Akashi, request: Request) -> bool:
    """Whether cookies get the Secure flag (``web.secure_cookies``; auto: when reached over TLS)."""
    mode = ak.settings.web.secure_cookies
    if mode != "auto":
        return mode == "always"
    proto = request.headers.get("x-forwarded-proto", request.url.scheme)
    return proto.split(",")[0].strip() == "https"


def set_session_cookie(ak: Akashi, request: Request, response: Response, token: str) -> None:
    """The session cookie: HttpOnly, SameSite=Lax, Secure behind TLS, no Max-Age (browser session)."""
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="lax", secure=secure_cookies(ak, request), path="/"
    )


def _safe_next(target: str | None) -> str:
    """Only local paths: a login link must not send the user to another site."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    return target if not parts.netloc and not parts.scheme else "/"


def _login(ak: Akashi, name: str, password: str, client: str) -> tuple[Principal, NewSession, bool]:
    with session_scope(ak.engine) as s:
        principal = authenticate(s, name, password, client, lockout_after=ak.settings.web.lockout_after)
        user = s.get(User, principal.id)
        assert user is not None
        needs_totp = bool(user.totp_secret)
        new = create_session(s, principal.id, client, second_factor_ok=not needs_totp)
        return principal, new, needs_totp


def _host(request: Request) -> str:
    return request.client.host if request.client else "?"


async def _throttled(ak: Akashi, throttle: LoginThrottle, request: Request, name: str) -> int:
    """Take a login slot for the caller's address; the seconds to wait when refused, else 0.

    The first refusal of an address is logged and audited; the ones after it are only counted, so a
    flood cannot grow the audit log either.
    """
    verdict = throttle.attempt(_host(request))
    if verdict.allowed:
        return 0
    if verdict.first_refusal:
        log.warning("login throttled: %s over %d attempts per minute", _host(request), throttle.per_minute)
        client = client_of(request)
        await run_in_threadpool(
            audit_now, ak.engine, user=name[:128], action="login", outcome="denied", client=client,
            detail={"reason": "throttled", "per_minute": throttle.per_minute},
        )  # fmt: skip
    return verdict.retry_after_s


def _check_totp(ak: Akashi, auth: Auth, code: str) -> bool:
    with session_scope(ak.engine) as s:
        row = s.get(WebSession, auth.session_id)
        user = s.get(User, auth.principal.id)
        if row is None or user is None or not user.totp_secret:
            return False
        step = matching_step(open_secret(ak.settings, user.totp_secret), code, user.totp_last_step)
        ok = step is not None
        if ok:
            user.totp_last_step = step  # this code (and older ones) can never be used again
        audit(s, user=user.name, action="login_totp", outcome="ok" if ok else "denied", client=auth.client)
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
        limit = ak.settings.web.lockout_after
        if failures >= limit:
            user.locked_until = utcnow() + timedelta(minutes=min(60, 2 ** (failures - limit)))
            s.delete(row)
        return False


@router.get("/login", include_in_schema=False)
def login_page(request: Request, next: str = "/", expired: int = 0) -> Response:
    """The login form (public). A pre-login token in a cookie protects the form against CSRF."""
    token = request.cookies.get(PRELOGIN_COOKIE) or secrets.token_urlsafe(24)
    resp = render(request, None, "login.html", next=_safe_next(next), prelogin=token, expired=bool(expired))
    resp.set_cookie(PRELOGIN_COOKIE, token, httponly=True, samesite="strict", path="/login")
    return resp


@router.post("/login", include_in_schema=False)
async def login_submit(
    *,
    request: Request,
    ak: AkashiDep,
    throttle: LoginThrottleDep,
    username: Annotated[str, Form(max_length=128)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the password; go on to the TOTP page when the user enrolled one."""
    expected = request.cookies.get(PRELOGIN_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), csrf_token.encode()):
        return render(
            request,
            None,
            "login.html",
            status=403,
            next=_safe_next(next),
            prelogin=expected,
            error=translate("login_failed", "ja"),
            expired=False,
        )
    lang = request.cookies.get(LANG_COOKIE, "ja")
    if wait := await _throttled(ak, throttle, request, username):
        page = render(
            request, None, "login.html", status=429, next=_safe_next(next), prelogin=expected,
            error=THROTTLED[1] if lang == "en" else THROTTLED[0], expired=False,
        )  # fmt: skip
        page.headers["Retry-After"] = str(wait)
        return page
    try:
        _p, new, needs_totp = await run_in_threadpool(_login, ak, username, password, client_of(request))
    except AccessDenied as exc:
        return render(
            request,
            None,
            "login.html",
            status=401,
            next=_safe_next(next),
            prelogin=expected,
            error=exc.en if lang == "en" else exc.ja,
            expired=False,
        )
    throttle.succeeded(_host(request))
    resp = RedirectResponse("/login/totp" if needs_totp else _safe_next(next), status_code=303)
    set_session_cookie(ak, request, resp, new.token)
    resp.delete_cookie(PRELOGIN_COOKIE, path="/login")
    return resp


@router.get("/login/totp", include_in_schema=False)
def totp_page(request: Request, auth: PendingDep) -> Response:
    """The second-factor form."""
    return render(request, auth, "totp.html")


@router.post("/login/totp", include_in_schema=False)
async def totp_submit(
    request: Request, ak: AkashiDep, auth: PendingDep, code: Annotated[str, Form(max_length=12)]
) -> Response:
    """Check the TOTP code."""
    if await run_in_threadpool(_check_totp, ak, auth, code):
        return RedirectResponse("/", status_code=303)
    return render(request, auth, "totp.html", status=401, error=translate("login_failed", auth.lang))


@router.post("/logout", include_in_schema=False)
async def logout(request: Request, ak: AkashiDep, auth: PendingDep) -> Response:
    """End the session."""
    await run_in_threadpool(_logout, ak, request.cookies.get(COOKIE), auth)
    resp = RedirectResponse("/login", status_code=303)
    resp.delete_cookie(COOKIE, path="/")
    return resp


def _logout(ak: Akashi, token: str | None, auth: Auth) -> None:
    with session_scope(ak.engine) as s:
        end_session(s, token)
        audit(s, user=auth.principal.name, action="logout", client=auth.client)


@router.get("/lang/{lang}", include_in_schema=False)
def switch_language(lang: str, request: Request) -> Response:
    """Switch the page language (public: it only sets a cookie) and go back."""
    back = _safe_next(request.headers.get("referer") and urlsplit(request.headers["referer"]).path)
    resp = RedirectResponse(back, status_code=303)
    if lang in LANGS:
        resp.set_cookie(LANG_COOKIE, lang, samesite="lax", max_age=365 * 86400, path="/")
    return resp


# JSON API ---------------------------------------------------------------------------------------


class LoginRequest(BaseModel):
    """Credentials for the API login."""

    name: str = Field(..., min_length=1, max_length=128, description="User name")
    password: str = Field(..., min_length=1, max_length=1024)
    totp: str | None = Field(None, max_length=12, description="TOTP code, when the user enrolled one")


class Me(BaseModel):
    """The logged-in user."""

    id: int
    name: str
    display_name: str
    role: str
    site_ids: list[int] | None
    csrf_token: str = Field(..., description="Send as the X-CSRF-Token header on every write")


@router.post(
    "/api/v1/auth/login",
    tags=["auth"],
    responses={401: {"description": "refused"}, 429: {"description": "too many attempts from this address"}},
)
async def api_login(
    body: LoginRequest, request: Request, ak: AkashiDep, throttle: LoginThrottleDep
) -> Response:
    """Log in (public). Sets the session cookie; the answer carries the CSRF token for writes.

    More than ``web.login_attempts_per_minute`` attempts from one address: 429, nothing checked.
    """
    client = client_of(request)
    if wait := await _throttled(ak, throttle, request, body.name):
        resp = _json(429, {"detail": {"code": "throttled", "ja": THROTTLED[0], "en": THROTTLED[1]}})
        resp.headers["Retry-After"] = str(wait)
        return resp
    try:
        principal, new, needs_totp = await run_in_threadpool(_login, ak, body.name, body.password, client)
    except AccessDenied as exc:
        return _json(401, {"detail": {"code": "login_failed", "ja": exc.ja, "en": exc.en}})
    if needs_totp:
        pending = Auth(principal, _sid(new.token), new.csrf_token, "ja", client, principal.name)
        if not body.totp or not await run_in_threadpool(_check_totp, ak, pending, body.totp):
            await run_in_threadpool(_drop, ak, new.token)
            return _json(
                401,
                {
                    "detail": {
                        "code": "totp_required",
                        "ja": "確認コードが違います",
                        "en": "verification code missing or wrong",
                    }
                },
            )
    throttle.succeeded(_host(request))
    me = Me(
        id=principal.id,
        name=principal.name,
        display_name=principal.name,
        role=principal.role,
        site_ids=sorted(principal.site_ids) if principal.site_ids is not None else None,
        csrf_token=new.csrf_token,
    )
    resp = _json(200, me.model_dump())
    set_session_cookie(ak, request, resp, new.token)
    return resp


def _sid(token: str) -> str:
    return token_id(token)


def _drop(ak: Akashi, token: str) -> None:
    with session_scope(ak.engine) as s:
        end_session(s, token)


def _json(status: int, body: object) -> Response:
    return JSONResponse(body, status_code=status)


@router.post("/api/v1/auth/logout", tags=["auth"], status_code=204)
async def api_logout(request: Request, ak: AkashiDep, auth: UserDep) -> Response:
    """End this session."""
    await run_in_threadpool(_logout, ak, request.cookies.get(COOKIE), auth)
    resp = Response(status_code=204)
    resp.delete_cookie(COOKIE, path="/")
    return resp


@router.get("/api/v1/me", tags=["auth"], response_model=Me)
def api_me(auth: UserDep) -> Me:
    """Who is logged in, and the CSRF token of the session."""
    p = auth.principal
    return Me(
        id=p.id,
        name=p.name,
        display_name=auth.display_name,
        role=p.role,
        site_ids=sorted(p.site_ids) if p.site_ids is not None else None,
        csrf_token=auth.csrf_token,
    )
