"""SIPREC (RFC 7865/7866): Akashi as the session recording server of an SBC's or PBX's calls.

Sans-I/O parts: :mod:`.multipart` (the INVITE's multipart/mixed body), :mod:`.metadata` (the
``application/rs-metadata+xml`` document), :mod:`.sdp` (an offer of several labelled streams),
:mod:`.roles` (which stream is the customer's and which the operator's). :mod:`.session` records one
recording session; :mod:`.server` recognises SIPREC INVITEs and admits them (``sip.siprec_networks``).
"""

from __future__ import annotations

from akashi.errors import ProtocolError


class SiprecError(ProtocolError):
    """A SIPREC body (multipart, metadata or SDP) could not be used; the field is named."""

    def __init__(self, field_name: str, detail: str) -> None:
        self.field = field_name
        self.detail = detail
        super().__init__(
            f"SIPREC の {field_name} が不正です: {detail}", f"invalid SIPREC {field_name}: {detail}"
        )
