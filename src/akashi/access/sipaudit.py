"""Audit entries for refusals at the SIP edge: outbound calls (toll fraud, password guessing), and
refused INVITEs and RTP (floods, call limits, ``sip.inbound_networks``, numbers that are not numbers,
media hijack), which telephony summarises first (:mod:`akashi.telephony.edgeaudit`).

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
from akashi.telephony.edgeaudit import EdgeRefusal

log = logging.getLogger(__name__)

#: the audit action of a refused outbound attempt
ACTION = "sip_outbound_refused"
#: the audit action of refused INVITEs (rate, call limits, inbound_networks, 484), summarised
INVITE_ACTION = "sip_invite_refused"
#: the audit action of a call's refused RTP (one entry per call)
RTP_ACTION = "rtp_refused"
#: who an edge refusal is from: nobody authenticated, only an address (in ``client``)
ANONYMOUS = "sip:anonymous"


def write_refusal(engine: Engine, r: OutboundRefusal | EdgeRefusal) -> None:
    """Append the audit entry of one refusal (its own transaction)."""
    if isinstance(r, EdgeRefusal):
        write_edge_refusal(engine, r)
        return
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


def write_edge_refusal(engine: Engine, r: EdgeRefusal) -> None:
    """Append the entry that stands for ``r.count`` refused INVITEs of a source, or a call's refused RTP."""
    detail = {"kind": r.kind, "count": r.count, "message": r.message, **r.detail}
    if r.kind == "rtp":
        detail["call_id"] = r.call[:256]  # the target column holds 64 characters; a Call-ID may be longer
        audit_now(
            engine, user=ANONYMOUS, action=RTP_ACTION, target_type="sip_call", target_id=r.call[:64],
            outcome="denied", client=r.source, detail=detail,
        )  # fmt: skip
        return
    detail |= {"status": r.status, "span_s": r.span_s}
    audit_now(
        engine, user=ANONYMOUS, action=INVITE_ACTION, target_type="address", target_id=r.source[:64],
        outcome="denied", client=r.source, detail=detail,
    )  # fmt: skip


def refusal_auditor(engine: Engine) -> Callable[[OutboundRefusal | EdgeRefusal], None]:
    """A callback that audits each refusal in a worker thread (synchronously when no loop runs)."""

    def done(fut: asyncio.Future[None]) -> None:
        exc = fut.exception()
        if exc is not None:
            log.error("拒否を監査ログに書けません / cannot audit a refusal at the SIP edge: %s", exc)

    def report(r: OutboundRefusal | EdgeRefusal) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            write_refusal(engine, r)
            return
        loop.run_in_executor(None, write_refusal, engine, r).add_done_callback(done)

    return report
