"""Audit the refusals of routes whose services refuse by role without writing an entry themselves.

The administration services check a role (``admins only``, ``auditors and admins``) and raise
:class:`~akashi.errors.AccessDenied`. Routers of those services depend on :func:`audit_refusals`:
it sees the refusal on its way out and appends a ``denied`` entry naming the route, then lets it
go on to become the 403. Routes whose services audit their own refusals (calls, incidents, media)
do not use it, so nothing is audited twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from akashi.access import audit_now
from akashi.errors import AccessDenied
from akashi.web.deps import AkashiDep, UserDep


async def audit_refusals(request: Request, ak: AkashiDep, auth: UserDep) -> AsyncIterator[None]:
    """Router dependency: an :class:`AccessDenied` raised by the route is audited as ``denied``."""
    try:
        yield
    except AccessDenied:
        await run_in_threadpool(
            audit_now,
            ak.engine,
            user=auth.principal.name,
            action="admin",
            target_type="route",
            target_id=f"{request.method} {request.url.path}"[:64],
            outcome="denied",
            client=auth.client,
            detail={"reason": f"role_{auth.principal.role}"},
        )
        raise
