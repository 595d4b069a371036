"""Login, two-factor, logout and language switch: pages and the JSON API."""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from akashi.access import Principal, audit
from akashi.access.audit import audit_now
from akashi.access.login import password_login, second_factor
from akashi.access.sessions import COOKIE, LANG_COOKIE, NewSession, end_session, token_id
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.errors import AccessDenied
from akashi.firstrun import needs_setup
from akashi.web.cookies import set_session_cookie
from akashi.web.deps import AkashiDep, Auth, UserDep, client_of, require_pending_user
from akashi.web.i18n import LANGS, translate
from akashi.web.render import render
from akashi.web.throttle import LoginThrottle, LoginThrottleDep

log = logging.getLogger(__name__)
router = APIRouter()
THROTTLED = (
    "ログインの試行が多すぎます。しばらくしてからやり直してください",
    "too many login attempts from this address; try again later",
)
PRELOGIN_COOKIE = "akashi_prelogin"
PendingDep = Annotated[Auth, Depends(require_pending_user)]


def _safe_next(target: str | None) -> str:
    """Only local paths: a login link must not send the user to another site."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    return target if not parts.netloc and not parts.scheme else "/"


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


def _login(ak: Akashi, name: str, password: str, client: str) -> tuple[Principal, NewSession, bool]:
    return password_login(ak.engine, name, password, client, lockout_after=ak.settings.web.lockout_after)


def _second_factor(ak: Akashi, auth: Auth, code: str) -> bool:
    return second_factor(
        ak.engine, ak.settings, auth.session_id, auth.principal.id, code, auth.client,
        lockout_after=ak.settings.web.lockout_after,
    )  # fmt: skip


@router.get("/login", include_in_schema=False)
def login_page(request: Request, ak: AkashiDep, next: str = "/", expired: int = 0) -> Response:
    """The login form (public). A pre-login token in a cookie protects the form against CSRF.

    On a fresh install nobody can log in yet: the page points at the first-run setup instead."""
    token = request.cookies.get(PRELOGIN_COOKIE) or secrets.token_urlsafe(24)
    resp = render(request, None, "login.html", next=_safe_next(next), prelogin=token, expired=bool(expired),
                  needs_setup=needs_setup(ak.engine))  # fmt: skip
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
    if await run_in_threadpool(_second_factor, ak, auth, code):
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
        if not body.totp or not await run_in_threadpool(_second_factor, ak, pending, body.totp):
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
