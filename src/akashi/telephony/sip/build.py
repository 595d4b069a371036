"""Building requests and responses from the parts a user agent keeps (sans-I/O)."""

from __future__ import annotations

import secrets

from akashi.telephony.sip.message import REASONS, Header, Request, Response, canonical

USER_AGENT = "Akashi"


def new_tag() -> str:
    """A fresh From/To tag."""
    return secrets.token_hex(5)


def new_branch() -> str:
    """A fresh RFC 3261 Via branch (magic cookie prefix)."""
    return "z9hG4bK" + secrets.token_hex(8)


def new_call_id(host: str) -> str:
    """A fresh Call-ID."""
    return f"{secrets.token_hex(10)}@{host}"


def response_to(
    req: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    contact: str | None = None,
    body: bytes = b"",
    content_type: str | None = None,
    extra: list[tuple[str, str]] | None = None,
) -> Response:
    """A response to ``req`` (RFC 3261 8.2.6): Via, From, To, Call-ID, CSeq copied.

    A request without a To tag gets one in every answer but 100 (RFC 3261 8.2.6.2): ``to_tag`` when
    given, else a fresh one, so OPTIONS pings and 405/420/481 answers outside a dialog carry a tag too
    (a peer that matches answers by tag, or builds a dialog from them, otherwise sees a malformed answer).
    """
    if to_tag is None and status > 100:
        to_tag = new_tag()
    resp = Response(status=status, reason=reason or REASONS.get(status, "Unknown"))
    for h in req.headers:
        key = canonical(h.name)
        if key in ("via", "from", "call-id", "cseq", "record-route"):
            if key == "record-route" and not 100 < status < 300:
                continue
            resp.headers.append(Header(h.name, h.value))
        elif key == "to":
            value = h.value
            if to_tag and ";tag=" not in value.replace(" ", "").lower():
                value = f"{value};tag={to_tag}"
            resp.headers.append(Header(h.name, value))
    if contact:
        resp.add("Contact", contact)
    for k, v in extra or []:
        resp.add(k, v)
    resp.add("Server", USER_AGENT)
    resp.set_body(body, content_type)
    return resp


def request(
    method: str,
    uri: str,
    *,
    via: str,
    from_: str,
    to: str,
    call_id: str,
    cseq: int,
    contact: str | None = None,
    routes: list[str] | None = None,
    body: bytes = b"",
    content_type: str | None = None,
    extra: list[tuple[str, str]] | None = None,
) -> Request:
    """A request with the mandatory headers in the usual order."""
    req = Request(method=method, uri=uri)
    req.add("Via", via)
    req.add("Max-Forwards", "70")
    for r in routes or []:
        req.add("Route", r)
    req.add("From", from_)
    req.add("To", to)
    req.add("Call-ID", call_id)
    req.add("CSeq", f"{cseq} {method}")
    if contact:
        req.add("Contact", contact)
    for k, v in extra or []:
        req.add(k, v)
    req.add("User-Agent", USER_AGENT)
    req.set_body(body, content_type)
    return req
