"""Bounds on what a request may make the server do: body sizes, validation answers, identifiers.

- Bodies: every request body is limited while it is read (:class:`BodyLimit` counts it chunk by
  chunk, so a 100 MB body is refused after the first megabyte and never buffered; a declared
  ``Content-Length`` over the limit is refused before anything is read); ``web.max_body_bytes``
  (1 MiB) for everything, ``web.max_upload_bytes`` for the upload routes in :data:`UPLOAD_PATHS`.
  Too large: 413 with a short Japanese/English message, and the connection is closed.
- Validation errors (422) name the field and the rule, never the submitted value (a 20 MB value must
  not be sent back, and a password must not be either).
- A numeric path identifier outside the database's 64-bit range is an unknown record (404) before any
  query runs: SQLite raises ``OverflowError`` and PostgreSQL ``NumericValueOutOfRange`` otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class BodyTooLarge(HTTPException):
    """The request body passed its limit while it was read (raised from ``receive``)."""

    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail="body too large")
        self.limit = limit


def limit_of(request: Request, default: int) -> int:
    """The body limit :class:`BodyLimit` applied to ``request`` (for the 413 message)."""
    limit = request.scope.get(SCOPE_KEY)
    return limit if isinstance(limit, int) else default


SCOPE_KEY = "akashi.max_body_bytes"
TooLargeResponder = Callable[[Request, int], Response]


class BodyLimit:
    """ASGI middleware: refuse request bodies over the limit of their path, counting as they arrive.

    ``respond(request, limit)`` makes the 413 answer (the app's own error page or JSON). Inside the
    app the refusal is a :class:`BodyTooLarge` raised by ``receive``, so a route or dependency that
    reads the body stops there; it reaches the app's 413 handler, or this middleware when the app
    let it through unanswered.
    """

    def __init__(self, app: ASGIApp, body_bytes: int, upload_bytes: int, respond: TooLargeResponder) -> None:
        self.app = app
        self.body_bytes = body_bytes
        self.upload_bytes = upload_bytes
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the body of an HTTP request; pass anything else through."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_bytes if scope.get("path") in UPLOAD_PATHS else self.body_bytes
        scope[SCOPE_KEY] = limit
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdecimal() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send, limit)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        log.info("request body over %d bytes refused: %s %s", limit, scope.get("method"), scope.get("path"))
        response = self.respond(Request(scope), limit)
        await response(scope, receive, send)


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
