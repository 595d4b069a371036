"""The session cookie: HttpOnly, SameSite=Lax, Secure behind TLS (``web.secure_cookies``)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from akashi.access.sessions import COOKIE
from akashi.context import Akashi


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
