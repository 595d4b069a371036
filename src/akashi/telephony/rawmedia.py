"""Calls in codecs Akashi does not decode: both legs' RTP kept as received, and their ingest.

The container (``.akrtp``) is ``AKRTP1\\n``, a little-endian u32 length and that many bytes of
UTF-8 JSON (codec name, payload type, clock rate, fmtp, ``t0``), then records of
``u8 leg`` (0: what the customer sent, 1: what the customer heard), ``f64`` arrival time (UTC
seconds), ``u32`` RTP timestamp, ``u16`` length and the whole RTP packet as it arrived.
"""

from __future__ import annotations

import json
import struct
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
    from akashi.ingest import record_call, store_call_media

    put = store_call_media(ak, media, record, media_type=MEDIA_TYPE, suffix="akrtp")
    ended = record.ended_at
    return record_call(
        ak,
        record,
        ended=ended,
        duration_s=(ended - record.started_at).total_seconds() if ended else 0.0,
        media_object_id=put.object_id,
        codec=record.codec,
        channels=2,
        extra={**record.extra, "media_container": "akrtp1"},
        transcribe=False,
    )
