"""Audit entries for outbound calls refused at the SIP edge (toll fraud, password guessing).

Telephony hands each refusal to the callback made here (:func:`refusal_auditor`); the entry is
written off the event loop so that a slow database never delays SIP or RTP.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy import Engine

from akashi.access.audit import audit_now
from akashi.telephony.authguard import OutboundRefusal

log = logging.getLogger(__name__)

#: the audit action of a refused outbound attempt
ACTION = "sip_outbound_refused"


def write_refusal(engine: Engine, r: OutboundRefusal) -> None:
    """Append the audit entry of one refusal (its own transaction)."""
    audit_now(
        engine,
        user=f"sip:{r.sip_user}",
        action=ACTION,
        target_type="number",
        target_id=r.dialled,
        outcome="denied",
        client=r.source,
        detail={
            "reason": r.reason,
            "class": r.detail,
            "agent": r.agent,
            "trunk": r.trunk,
            "message": r.message,
        },
    )


def refusal_auditor(engine: Engine) -> Callable[[OutboundRefusal], None]:
    """A callback that audits each refusal in a worker thread (synchronously when no loop runs)."""

    def done(fut: asyncio.Future[None]) -> None:
        exc = fut.exception()
        if exc is not None:
            log.error("発信拒否を監査ログに書けません / cannot audit a refused outbound call: %s", exc)

    def report(r: OutboundRefusal) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            write_refusal(engine, r)
            return
        loop.run_in_executor(None, write_refusal, engine, r).add_done_callback(done)

    return report
