"""The numbers of a call: who calls (the From user) and what was dialled (Request-URI or To user)."""

from __future__ import annotations

from akashi.errors import ProtocolError
from akashi.telephony.sip.grammar import SipParseError
from akashi.telephony.sip.message import Request
from akashi.telephony.sip.uri import parse_name_addr, parse_uri, phone_number

#: the Warning of a 484: the dialled number holds something else than digits, "+", "*" and "#"
NOT_A_NUMBER = (
    '399 akashi "ダイヤル番号は数字と + * # だけ（32桁まで）です / '
    'dialled number must be digits, +, * or # (at most 32)"'
)


def uri_user(uri: str) -> str:
    """The user part of a SIP URI (the whole text when it does not parse)."""
    try:
        return parse_uri(uri).user
    except ProtocolError:
        return uri


def dialled_number(invite: Request) -> str | None:
    """The dialled number (the Request-URI's user, else the To user), or None when it is not a number.

    The user is percent-decoded and checked with :func:`phone_number`: an INVITE whose number is
    None gets 484, so nothing but digits, ``+``, ``*`` and ``#`` ever reaches a route or the trunk.
    """
    try:
        user = parse_uri(invite.uri).user
        if not user:
            user = parse_uri(parse_name_addr(invite.header("To")).uri).user
    except ProtocolError:
        return None
    return phone_number(user)


def dialled(invite: Request) -> str:
    """The dialled number of an INVITE already checked with :func:`dialled_number`."""
    number = dialled_number(invite)
    if number is None:  # the caller skipped the check: refuse rather than pass the user on
        raise SipParseError("Request-URI", "the dialled number is not a phone number")
    return number
