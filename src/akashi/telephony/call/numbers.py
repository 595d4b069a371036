"""The numbers of a call: who calls (the From user) and what was dialled (Request-URI, To or P-Called-Party-ID).

A carrier that sends calls to a registration addresses them to the Contact Akashi registered
(``sip:akashi@…``): the number the customer dialled is then in To (or, from IMS networks, in
P-Called-Party-ID). Each trunk's ``route_by`` says which one picks the route; calls from anyone else
are routed by the Request-URI.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from akashi.config.telephony import TrunkSettings
from akashi.errors import ProtocolError
from akashi.telephony.sip.grammar import SipParseError, split_hostport
from akashi.telephony.sip.message import Request
from akashi.telephony.sip.uri import parse_name_addr, parse_uri, phone_number

#: the Warning of a 484: the dialled number holds something else than digits, "+", "*" and "#"
NOT_A_NUMBER = (
    '399 akashi "ダイヤル番号は数字と + * # だけ（32桁まで）です / '
    'dialled number must be digits, +, * or # (at most 32)"'
)

#: the user of the Contact Akashi registers with trunks: a Request-URI naming it names no number
CONTACT_USER = "akashi"

RouteBy = Literal["request_uri", "to", "p_called_party_id"]


def uri_user(uri: str) -> str:
    """The user part of a SIP URI (the whole text when it does not parse)."""
    try:
        return parse_uri(uri).user
    except ProtocolError:
        return uri


def header_number(invite: Request, name: str) -> str | None:
    """The phone number in a name-addr header (``sip:`` user or ``tel:`` number), or None."""
    value = invite.get(name)
    if not value:
        return None
    try:
        uri = parse_name_addr(value.split(",")[0].strip()).uri
        if uri.lower().startswith("tel:"):
            return phone_number(uri[4:].split(";")[0])
        return phone_number(parse_uri(uri).user)
    except ProtocolError:
        return None


def inbound_trunk(trunks: Sequence[TrunkSettings], invite: Request) -> TrunkSettings | None:
    """The trunk an INVITE came from: its host is the source address; else, for a trunk named by host
    name, a call to Akashi's registered Contact (the first trunk that registers) or to a registering
    trunk's account (its ``username`` or ``from_user``); None for anyone else.
    """
    source = invite.source
    if source is not None:
        for t in trunks:
            try:
                host, _port = split_hostport(t.host, "trunk host")
            except ProtocolError:
                continue
            if host.strip("[]").lower() == source[0].lower():
                return t
    try:
        user = parse_uri(invite.uri).user
    except ProtocolError:
        return None
    if user == CONTACT_USER:
        return next((t for t in trunks if t.register_), None)
    # a carrier that rewrites the Request-URI to the registered account (its username or number)
    return next((t for t in trunks if t.register_ and user and user in (t.username, t.from_user)), None)


def route_by(trunk: TrunkSettings | None) -> RouteBy:
    """Which number routes a call from ``trunk`` (``auto``: To when the trunk registers)."""
    if trunk is None:
        return "request_uri"
    if trunk.route_by == "auto":
        return "to" if trunk.register_ else "request_uri"
    return trunk.route_by


def dialled_number(invite: Request, by: RouteBy = "request_uri") -> str | None:
    """The dialled number, or None when it is not a number.

    ``by``: ``to`` or ``p_called_party_id`` take that header's number when it holds one; otherwise (and
    for ``request_uri``) the Request-URI's user, else (no user, or Akashi's own Contact user) the To user.
    The user is percent-decoded and checked with :func:`phone_number`: an INVITE whose number is
    None gets 484, so nothing but digits, ``+``, ``*`` and ``#`` ever reaches a route or the trunk.
    """
    if by != "request_uri":
        number = header_number(invite, "To" if by == "to" else "P-Called-Party-ID")
        if number:
            return number
    try:
        user = parse_uri(invite.uri).user
        if not user or user == CONTACT_USER:
            user = parse_uri(parse_name_addr(invite.header("To")).uri).user
    except ProtocolError:
        return None
    return phone_number(user)


def called_number(invite: Request, trunks: Sequence[TrunkSettings]) -> str | None:
    """The number an inbound INVITE is routed by (its trunk's ``route_by``), or None when it is not one."""
    return dialled_number(invite, route_by(inbound_trunk(trunks, invite)))


def dialled(invite: Request, trunks: Sequence[TrunkSettings] = ()) -> str:
    """The dialled number of an INVITE already checked (with ``trunks``: as :func:`called_number` reads it)."""
    number = called_number(invite, trunks)
    if number is None:  # the caller skipped the check: refuse rather than pass the user on
        raise SipParseError("Request-URI", "the dialled number is not a phone number")
    return number
