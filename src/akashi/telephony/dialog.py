"""Dialogs (RFC 3261 section 12) as the B2BUA keeps them, one per leg."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from akashi.telephony.sip.build import new_branch, request
from akashi.telephony.sip.message import Request, Response
from akashi.telephony.sip.uri import parse_name_addr

Addr = tuple[str, int]


@dataclass
class Dialog:
    """One leg's dialog state."""

    call_id: str
    local: str  # our From/To value, with our tag
    remote: str  # theirs, with their tag once known
    remote_target: str
    dest: Addr
    via_host: str
    local_cseq: int = 1
    remote_cseq: int = 0
    route_set: list[str] = field(default_factory=list)
    contact: str = ""
    transport: str = "UDP"

    @classmethod
    def from_uas(cls, invite: Request, local_tag: str, via_host: str, contact: str) -> Dialog:
        """The dialog of an INVITE we answer."""
        to = invite.header("To")
        contact_v = invite.get("Contact")
        target = parse_name_addr(contact_v).uri if contact_v else parse_name_addr(invite.header("From")).uri
        assert invite.source is not None
        return cls(
            call_id=invite.call_id,
            local=f"{to};tag={local_tag}",
            remote=invite.header("From"),
            remote_target=target,
            dest=invite.source,
            via_host=via_host,
            remote_cseq=invite.cseq[0],
            route_set=invite.get_all("Record-Route"),
            contact=contact,
            transport=invite.transport,
        )

    def update_from_response(self, resp: Response) -> None:
        """A 1xx/2xx with To tag from the callee: learn its tag, target and route set."""
        self.remote = resp.header("To")
        c = resp.get("Contact")
        if c:
            self.remote_target = parse_name_addr(c).uri
        rr = resp.get_all("Record-Route")
        if rr:
            self.route_set = list(reversed(rr))

    def new_request(
        self,
        method: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        extra: list[tuple[str, str]] | None = None,
        cseq: int | None = None,
    ) -> Request:
        """An in-dialog request (a new CSeq unless given, a new branch)."""
        if cseq is None:
            self.local_cseq += 1
            cseq = self.local_cseq
        return request(
            method,
            self.remote_target,
            via=f"SIP/2.0/{self.transport} {self.via_host};branch={new_branch()};rport",
            from_=self.local,
            to=self.remote,
            call_id=self.call_id,
            cseq=cseq,
            contact=self.contact if method in ("INVITE", "UPDATE") else None,
            routes=self.route_set,
            body=body,
            content_type=content_type,
            extra=extra,
        )


_C = re.compile(rb"^c=IN IP([46]) \S+", re.M)
_M = re.compile(rb"^m=audio \d+", re.M)
_O = re.compile(rb"^o=(\S+) (\S+) (\S+) IN IP([46]) \S+", re.M)


def rewrite_sdp(body: bytes, address: str, port: int, origin: tuple[str, int, int] | None = None) -> bytes:
    """The same SDP, but media to Akashi's address and port (the rest passes through)."""
    ver = b"6" if ":" in address else b"4"
    a = address.encode()
    body = _C.sub(b"c=IN IP" + ver + b" " + a, body)
    body = _M.sub(b"m=audio " + str(port).encode(), body, count=1)
    if origin is not None:
        user, sid, v = origin
        body = _O.sub(f"o={user} {sid} {v} IN IP".encode() + ver + b" " + a, body, count=1)
    return body
