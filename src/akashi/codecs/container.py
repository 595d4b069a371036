"""The ``.akrtp`` container: both legs' RTP of a call kept as received (codecs other than G.711).

The container is ``AKRTP1\\n``, a little-endian u32 length and that many bytes of UTF-8 JSON
(codec ``name``, ``payload_type``, RTP clock ``rate``, ``fmtp``, ``t0``), then records of ``u8 leg``
(0: what the customer sent, 1: what the customer heard), ``f64`` arrival time (UTC seconds),
``u32`` RTP timestamp, ``u16`` length and the whole RTP packet as it arrived.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from akashi.errors import ProtocolError

MAGIC = b"AKRTP1\n"
MEDIA_TYPE = "application/x-akashi-rtp"
_HEAD = struct.Struct("<I")
_REC = struct.Struct("<BdIH")

Record = tuple[int, float, int, bytes]


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


def _broken(ja: str, en: str) -> ProtocolError:
    return ProtocolError(f"RTP 保存形式が壊れています: {ja}", f"broken RTP container: {en}")


def read_container(data: bytes) -> tuple[dict[str, Any], list[Record]]:
    """The header and the ``(leg, arrival, rtp_timestamp, packet)`` records of a container.

    Raises :class:`ProtocolError` naming what is wrong: not a container, a header that is cut
    short, not JSON or lacks ``name``/``payload_type``, a record cut short or of an unknown leg.
    """
    if not data.startswith(MAGIC):
        raise ProtocolError("RTP 保存形式ではありません", "not an Akashi RTP container")
    if len(data) < len(MAGIC) + _HEAD.size:
        raise _broken("見出しの長さがありません", "header length missing")
    pos = len(MAGIC)
    (hlen,) = _HEAD.unpack_from(data, pos)
    pos += _HEAD.size
    if pos + hlen > len(data):
        raise _broken("見出しが途中で切れています", f"header of {hlen} bytes cut short")
    try:
        header = json.loads(data[pos : pos + hlen])
    except ValueError as exc:
        raise _broken("見出しが JSON ではありません", "header is not JSON") from exc
    if (
        not isinstance(header, dict)
        or not isinstance(header.get("name"), str)
        or not isinstance(header.get("payload_type"), int)
    ):
        raise _broken("見出しに name/payload_type がありません", "header lacks name/payload_type")
    pos += hlen
    out: list[Record] = []
    while pos < len(data):
        if pos + _REC.size > len(data):
            raise _broken(f"{len(out)} 件目の記録が切れています", f"record {len(out)} cut short")
        leg, t, ts, ln = _REC.unpack_from(data, pos)
        pos += _REC.size
        if pos + ln > len(data):
            raise _broken(
                f"{len(out)} 件目のパケットが切れています", f"packet of record {len(out)} cut short"
            )
        if leg not in (0, 1):
            raise _broken(f"{len(out)} 件目の leg が不正です: {leg}", f"record {len(out)} has leg {leg}")
        out.append((leg, t, ts, data[pos : pos + ln]))
        pos += ln
    return header, out
