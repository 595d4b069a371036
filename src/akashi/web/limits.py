"""Bounds on what a request may make the server do: body sizes, validation answers, identifiers.

- Bodies: every request body is limited while it is read (FastAPI's ``max_body_size``, counted chunk
  by chunk, so a 100 MB body is refused after the first megabyte and never buffered);
  ``web.max_body_bytes`` (1 MiB) for everything, ``web.max_upload_bytes`` for the upload routes in
  :data:`UPLOAD_PATHS`. Too large: 413 with a short Japanese/English message.
- Validation errors (422) name the field and the rule, never the submitted value (a 20 MB value must
  not be sent back, and a password must not be either).
- A numeric path identifier outside the database's 64-bit range is an unknown record (404) before any
  query runs: SQLite raises ``OverflowError`` and PostgreSQL ``NumericValueOutOfRange`` otherwise.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from akashi.errors import NotFoundError

log = logging.getLogger(__name__)

#: Routes that take a file-sized body (the harassment lexicon: up to 500,000 characters of TOML,
#: which is about 4.5 MB once a form percent-encodes Japanese). Everything else gets ``max_body_bytes``.
UPLOAD_PATHS = frozenset({"/admin/lexicon", "/api/v1/admin/lexicon"})

#: The largest identifier a database row can have (SQLite INTEGER and PostgreSQL BIGINT).
MAX_ID = 2**63 - 1

#: At most this many validation errors are listed in a 422 answer; a ``loc`` part or a message is cut
#: to the lengths below (a ``loc`` part can be a key the client chose).
MAX_ERRORS = 20
MAX_LOC_PART = 64
MAX_MSG = 200

TOO_LARGE_JA = "リクエストの本文が大きすぎます（上限 {limit}）"
TOO_LARGE_EN = "request body too large (limit {limit})"


def human_size(n: int) -> str:
    """``1048576`` → ``"1 MiB"``; a limit as people read it."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size and n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} bytes"


class UploadLimit:
    """ASGI middleware: the upload routes get ``upload_bytes`` instead of the app's body limit.

    It sits inside FastAPI's app-wide limiter; Starlette lets an inner limiter replace the limit of
    the request being read, so the bytes are still counted once, as they arrive.
    """

    def __init__(self, app: ASGIApp, upload_bytes: int) -> None:
        self.app = app
        self.upload_bytes = upload_bytes
        self.upload_app = RequestBodyLimitMiddleware(app, max_body_size=upload_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pick the limit by path."""
        if scope["type"] == "http" and scope.get("path") in UPLOAD_PATHS:
            await self.upload_app(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def body_limit_of(request: Request, default: int) -> int:
    """The limit that applied to this request's body (for the 413 message)."""
    limit = request.scope.get("starlette.max_body_size")
    return limit if isinstance(limit, int) else default


def safe_validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """The errors of ``exc`` with location, message and type only: never the input, never ``ctx``.

    ``ctx`` can hold the offending value (``{"error": ValueError("... <value> ...")}``) and ``input``
    always does; keys the client chose are cut short, and at most :data:`MAX_ERRORS` are listed.
    """
    out: list[dict[str, Any]] = []
    for err in list(exc.errors())[:MAX_ERRORS]:
        loc = [part if isinstance(part, int) else str(part)[:MAX_LOC_PART] for part in err.get("loc", ())]
        out.append({"loc": loc, "msg": str(err.get("msg", ""))[:MAX_MSG], "type": str(err.get("type", ""))})
    return out


def bounded_path_ids(request: Request) -> None:
    """App-wide dependency: integer path parameters beyond :data:`MAX_ID` are unknown records (404).

    Runs before the route's own parameters are converted, so no query ever sees the number.
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.path_params:
        return
    for param in route.dependant.path_params:
        if param.field_info.annotation is not int:
            continue
        raw = request.path_params.get(param.alias)
        if not isinstance(raw, str):
            continue
        digits = raw.strip().lstrip("+-")
        if digits.isdecimal() and len(digits) > 18 and abs(int(raw)) > MAX_ID:
            raise NotFoundError("該当する記録はありません", "no such record")
