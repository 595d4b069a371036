"""The body of a SIPREC request: its SDP and its recording metadata, wherever they are (sans-I/O).

An INVITE carries both in a multipart/mixed body; a re-INVITE may carry either or both; an UPDATE
(or a re-INVITE) carrying only ``application/rs-metadata+xml`` is a metadata update (RFC 7866 7.2).
"""

from __future__ import annotations

from dataclasses import dataclass

from akashi.telephony.sip.message import Request
from akashi.telephony.siprec import SiprecError
from akashi.telephony.siprec.metadata import MEDIA_TYPES, Metadata, parse_metadata
from akashi.telephony.siprec.multipart import boundary_of, media_type, split


@dataclass(frozen=True)
class SiprecBody:
    """What a request's body holds: an SDP (b"" when none) and metadata (None when none)."""

    sdp: bytes
    metadata: Metadata | None


def read_body(req: Request) -> SiprecBody:
    """The SDP and metadata of ``req``; :class:`SiprecError` naming what is wrong."""
    if not req.body:
        return SiprecBody(b"", None)
    ctype = req.get("Content-Type") or ""
    kind = media_type(ctype)
    if kind == "application/sdp":
        return SiprecBody(req.body, None)
    if kind in MEDIA_TYPES:
        return SiprecBody(b"", parse_metadata(req.body))
    if not kind.startswith("multipart/"):
        raise SiprecError("Content-Type", f"neither SDP, metadata nor multipart: {kind[:60]!r}")
    sdp = b""
    meta = None
    for part in split(req.body, boundary_of(ctype)):
        if part.content_type == "application/sdp" and not sdp:
            sdp = part.body
        elif part.content_type in MEDIA_TYPES and meta is None:
            meta = parse_metadata(part.body)
    return SiprecBody(sdp, meta)


def is_siprec(req: Request) -> bool:
    """An INVITE that opens a recording session: ``Require: siprec`` or the ``+sip.src`` Contact tag."""
    if any(tag.strip().lower() == "siprec" for tag in req.get_all("Require")):
        return True
    return any(_has_src_tag(c) for c in req.get_all("Contact"))


def _has_src_tag(contact: str) -> bool:
    """Whether a Contact value carries the RFC 7866 ``+sip.src`` feature tag (outside its ``<uri>``)."""
    rest = contact.rsplit(">", 1)[-1] if ">" in contact else contact
    return any(p.strip().lower().split("=", 1)[0] == "+sip.src" for p in rest.split(";")[1:])
