"""Ingest of calls in codecs other than G.711: the ``.akrtp`` container (:mod:`akashi.codecs.container`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from akashi.codecs.container import MAGIC, MEDIA_TYPE
from akashi.codecs.decode import decodable

if TYPE_CHECKING:
    from akashi.calloutcome import CallOutcome
    from akashi.context import Akashi


def has_packets(media: Path) -> bool:
    """True when the container holds at least one packet (anything after its JSON header).

    Reads only the fixed head, so an hour-long call costs nothing; an unreadable head counts as
    audio (the transcriber then reports what is wrong with it).
    """
    with media.open("rb") as f:
        head = f.read(len(MAGIC) + 4)
    if len(head) < len(MAGIC) + 4 or not head.startswith(MAGIC):
        return True
    header_end = len(head) + int.from_bytes(head[len(MAGIC) :], "little")
    return media.stat().st_size > header_end


def ingest_raw_call(ak: Akashi, media: Path, record: CallOutcome) -> int:
    """Store a container encrypted and record the call; transcription is queued when the codec decodes.

    The same Call row as :func:`akashi.ingest.ingest_call` makes, with ``codec`` the codec name,
    ``channels`` 2 (two legs) and the container named in its facts' ``media_container``.
    """
    from akashi.ingest import record_call, store_call_media  # noqa: PLC0415 - runs in the store worker process: the recorder never loads the database layer

    record = record.as_rtp_container()
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
        transcribe=decodable(record.codec),
        has_audio=has_packets(media),
    )
