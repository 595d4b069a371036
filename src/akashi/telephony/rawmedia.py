"""Calls in codecs Akashi does not decode: both legs' RTP kept as received, and their ingest.

The container (``.akrtp``) is ``AKRTP1\\n``, a little-endian u32 length and that many bytes of
UTF-8 JSON (codec name, payload type, clock rate, fmtp, ``t0``), then records of
``u8 leg`` (0: what the customer sent, 1: what the customer heard), ``f64`` arrival time (UTC
seconds), ``u32`` RTP timestamp, ``u16`` length and the whole RTP packet as it arrived.
"""

from __future__ import annotations

import json
import struct
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from akashi.errors import ProtocolError

if TYPE_CHECKING:
    from akashi.context import Akashi
    from akashi.ingest import CallRecord

MAGIC = b"AKRTP1\n"
MEDIA_TYPE = "application/x-akashi-rtp"
_HEAD = struct.Struct("<I")
_REC = struct.Struct("<BdIH")


def write_container(
    path: Path, header: dict[str, Any], caller: list[tuple[float, bytes]], heard: list[tuple[float, bytes]]
) -> None:
    """Write both legs' packets (merged in arrival order) with ``header`` as the container."""
    head = json.dumps(header, ensure_ascii=False).encode()
    recs = sorted([(t, 0, p) for t, p in caller] + [(t, 1, p) for t, p in heard], key=lambda r: (r[0], r[1]))
    with path.open("wb") as f:
        f.write(MAGIC + _HEAD.pack(len(head)) + head)
        for t, leg, pkt in recs:
            if len(pkt) < 12 or len(pkt) > 0xFFFF:
                continue  # not RTP: nothing to keep
            ts = int.from_bytes(pkt[4:8], "big")
            f.write(_REC.pack(leg, t, ts, len(pkt)) + pkt)


def read_container(data: bytes) -> tuple[dict[str, Any], list[tuple[int, float, int, bytes]]]:
    """The header and the ``(leg, arrival, rtp_timestamp, packet)`` records of a container."""
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + _HEAD.size:
        raise ProtocolError("RTP 保存形式ではありません", "not an Akashi RTP container")
    pos = len(MAGIC)
    (hlen,) = _HEAD.unpack_from(data, pos)
    pos += _HEAD.size
    try:
        header = json.loads(data[pos : pos + hlen])
    except ValueError as exc:
        raise ProtocolError("RTP 保存形式の見出しが壊れています", "broken RTP container header") from exc
    pos += hlen
    out = []
    while pos + _REC.size <= len(data):
        leg, t, ts, ln = _REC.unpack_from(data, pos)
        pos += _REC.size
        if pos + ln > len(data):
            break
        out.append((leg, t, ts, data[pos : pos + ln]))
        pos += ln
    return header, out


def ingest_raw_call(ak: Akashi, media: Path, record: CallRecord) -> int:
    """Store a container encrypted and record the call (no transcription: Akashi cannot decode it).

    The same Call row as :func:`akashi.ingest.ingest_call` makes, with ``codec`` the codec name,
    ``channels`` 2 (two legs) and the container described in ``extra["media_container"]``.
    """
    from akashi.db.base import session_scope, utcnow
    from akashi.db.models import Call
    from akashi.db.queries import national_digits
    from akashi.ingest import agent_for, site_id_for

    retain = record.started_at + timedelta(days=ak.settings.retention.calls_days)
    with media.open("rb") as f:
        put = ak.store.put(
            f,
            kind="call_audio",
            media_type=MEDIA_TYPE,
            filename=f"{record.started_at:%Y%m%dT%H%M%S}-{national_digits(record.caller) or 'unknown'}.akrtp",
            site=record.site or None,
            meta={"caller": record.caller, "dialled": record.dialled, "call_ids": record.call_ids},
            retain_until=retain,
        )
    ended = record.ended_at
    extra = dict(record.extra)
    extra["media_container"] = "akrtp1"
    with session_scope(ak.engine) as s:
        site_id = site_id_for(s, record.site)
        agent = agent_for(s, record.agent, record.agent_sip_user, site_id)
        call = Call(
            started_at=record.started_at,
            answered_at=record.answered_at,
            ended_at=ended,
            direction=record.direction,
            caller=record.caller,
            dialled=record.dialled,
            caller_digits=national_digits(record.caller),
            dialled_digits=national_digits(record.dialled),
            agent_id=agent.id if agent else None,
            agent_name=agent.name if agent else record.agent,
            site_id=site_id,
            duration_s=(ended - record.started_at).total_seconds() if ended else 0.0,
            status=record.status,
            source=record.source,
            hangup_side=record.hangup_side,
            call_ids=list(record.call_ids),
            notice_mode=record.notice_mode,
            notice_started_at=record.notice_started_at,
            notice_ended_at=record.notice_ended_at,
            bridged_at=record.bridged_at,
            media_object_id=put.object_id,
            codec=record.codec,
            channels=2,
            analysis_state="none",
            extra=extra,
            created_at=utcnow(),
        )
        s.add(call)
        s.flush()
        return int(call.id)
