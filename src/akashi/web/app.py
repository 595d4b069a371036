"""The FastAPI application: JSON API under ``/api/v1`` and Japanese/English pages.

``create_app(ak)`` is what ``akashi serve`` mounts. Services reach routes only through the typed
dependencies of :mod:`akashi.web.deps` (the installation sits in ``app.state.akashi``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from akashi.context import Akashi
from akashi.errors import AccessDenied, AkashiError, NotFoundError
from akashi.web.cache import WebCaches
from akashi.web.deps import CsrfFailed, LoginRequired, SecondFactorRequired, language
from akashi.web.limits import (
    TOO_LARGE_EN,
    TOO_LARGE_JA,
    BodyLimit,
    bounded_path_ids,
    human_size,
    limit_of,
    safe_validation_errors,
)
from akashi.web.render import render_error
from akashi.web.routes import (
    account,
    admin_audit,
    agents_admin,
    api_admin,
    api_calls,
    api_misc,
    auth,
    calls_live,
    pages,
    pages_admin,
)
from akashi.web.routes import checklist as setup_checklist
from akashi.web.routes import demo as demo_traffic
from akashi.web.routes import live as live_board
from akashi.web.routes import mining as voice_mining
from akashi.web.routes import setup as first_run
from akashi.web.throttle import LoginThrottle

STATIC = Path(__file__).parent / "static"
API = "/api/v1"

# Routes reachable without a session. Everything else depends on require_user; tests check this list.
PUBLIC_PATHS = frozenset(
    {
        "/login",
        "/login/totp",  # needs the half-open session of a password login
        "/lang/{lang}",
        "/healthz",
        "/favicon.ico",  # the tab icon, a static file
        "/setup",  # first run: guarded by the one-time setup token instead (web/setup.py)
        f"{API}/auth/login",
        f"{API}/openapi.json",
        f"{API}/health",
    }
)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API)


def _error(request: Request, status: int, code: str, ja: str, en: str) -> Response:
    if _is_api(request):
        return JSONResponse({"detail": {"code": code, "ja": ja, "en": en}}, status_code=status)
    return render_error(request, status, ja if language(request) == "ja" else en)


def create_app(ak: Akashi) -> FastAPI:
    """Build the web application for one installation."""
    app = FastAPI(
        title="Akashi API",
        version="1",
        description="証 Akashi: 通話・カメラ録画の検索・再生・証拠書き出し / search, play, export",
        openapi_url=f"{API}/openapi.json",
        docs_url=None,  # the bundled Swagger UI loads from a CDN; the schema alone is published
        redoc_url=None,
        dependencies=[Depends(bounded_path_ids)],
    )
    app.state.akashi = ak
    app.state.caches = WebCaches()  # bounded; one set per app, never module globals
    app.state.login_throttle = LoginThrottle(ak.settings.web.login_attempts_per_minute)

    def too_large(request: Request, limit: int) -> Response:
        size = human_size(limit)
        response = _error(
            request, 413, "too_large", TOO_LARGE_JA.format(limit=size), TOO_LARGE_EN.format(limit=size)
        )
        response.headers["Connection"] = "close"  # the rest of the body is not worth reading
        return response

    # Bodies are counted while they are read: past the limit the request gets 413 (see limits.py).
    app.add_middleware(
        BodyLimit,
        body_bytes=ak.settings.web.max_body_bytes,
        upload_bytes=ak.settings.web.max_upload_bytes,
        respond=too_large,
    )

    @app.exception_handler(413)
    async def _too_large(request: Request, exc: Exception) -> Response:
        return too_large(request, limit_of(request, ak.settings.web.max_body_bytes))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        # FastAPI's default answer repeats every submitted value ("input"): a 20 MB value, a password.
        return JSONResponse({"detail": safe_validation_errors(exc)}, status_code=422)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if _is_api(request):
            return _error(request, 401, exc.reason, "ログインしてください", "log in first")
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        extra = "&expired=1" if exc.reason == "expired" else ""
        return RedirectResponse(f"/login?next={target}{extra}", status_code=303)

    @app.exception_handler(SecondFactorRequired)
    async def _totp(request: Request, exc: SecondFactorRequired) -> Response:
        if _is_api(request):
            return _error(request, 401, "totp_required", "確認コードが必要です", "verification code required")
        return RedirectResponse("/login/totp", status_code=303)

    @app.exception_handler(CsrfFailed)
    async def _csrf(request: Request, exc: CsrfFailed) -> Response:
        return _error(request, 403, "csrf", "CSRF トークンが正しくありません", "missing or wrong CSRF token")

    @app.exception_handler(AccessDenied)
    async def _denied(request: Request, exc: AccessDenied) -> Response:
        return _error(request, 403, "forbidden", exc.ja, exc.en)

    @app.exception_handler(NotFoundError)
    async def _missing(request: Request, exc: NotFoundError) -> Response:
        return _error(request, 404, "not_found", exc.ja, exc.en)

    @app.exception_handler(AkashiError)
    async def _akashi(request: Request, exc: AkashiError) -> Response:
        return _error(request, 400, "error", exc.ja, exc.en)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if not request.url.path.startswith("/static"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> HTMLResponse:
        return HTMLResponse("ok")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(STATIC / "favicon.ico", media_type="image/x-icon")

    @app.get(f"{API}/health", tags=["public"])
    def health() -> dict[str, str]:
        """Liveness probe (public)."""
        return {"status": "ok"}

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(auth.router)
    app.include_router(api_calls.router, prefix=API)
    app.include_router(api_misc.router, prefix=API)
    app.include_router(api_admin.router, prefix=API)
    app.include_router(calls_live.router)  # before pages: /calls/rows is not a call id
    app.include_router(pages.router)
    app.include_router(agents_admin.router)  # before pages_admin: /admin/agents is its own page
    app.include_router(admin_audit.router)  # /admin/audit and /admin/verify
    app.include_router(pages_admin.router)
    app.include_router(account.router)
    app.include_router(first_run.router)
    app.include_router(setup_checklist.router)
    app.include_router(demo_traffic.router)
    app.include_router(voice_mining.router)
    app.include_router(live_board.router)
    return app
