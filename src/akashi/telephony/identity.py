"""Who a call is from, as a trunk should see it and as Akashi stores it (sans-I/O).

Outbound (toward a trunk): the From carries the trunk's ``from_user`` at ``from_domain`` (else
Akashi's own advertised address), never the phone's LAN address; P-Asserted-Identity or
P-Preferred-Identity (``identity_header``) carries the registered number. A number dialled with the
``184`` prefix is withheld (RFC 3323 ``Privacy: id``, anonymous From, the prefix stripped); ``186``
is stripped and the number shown.

Inbound: from a trusted source (a trunk's host or ``sip.inbound_networks``) the caller number is
taken from P-Asserted-Identity when present; from anyone else that header is ignored, since anyone can
write it. ``Privacy: id`` or an anonymous From marks the call as withheld (非通知).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from akashi.config.telephony import TrunkSettings
from akashi.errors import ProtocolError
from akashi.telephony.sip.grammar import split_hostport
from akashi.telephony.sip.message import Request, SipMessage
from akashi.telephony.sip.uri import parse_name_addr, parse_uri, phone_number

#: the anonymous From of a withheld call (RFC 3323 4.1.1.3)
ANONYMOUS_FROM = '"Anonymous" <sip:anonymous@anonymous.invalid>'
#: Japanese per-call prefixes: 184 withholds the caller's number, 186 shows it
WITHHOLD_PREFIX = "184"
SHOW_PREFIX = "186"

Network = str | ipaddress.IPv4Network | ipaddress.IPv6Network


def split_privacy_prefix(dialled: str) -> tuple[str, bool | None]:
    """The number without a 184/186 prefix, and True (184: withheld), False (186: shown) or None."""
    for prefix, withheld in ((WITHHOLD_PREFIX, True), (SHOW_PREFIX, False)):
        rest = dialled[len(prefix) :]
        if dialled.startswith(prefix) and rest[:1] in ("0", "+"):
            return rest, withheld
    return dialled, None


@dataclass(frozen=True)
class OutboundIdentity:
    """The From and identity headers of a trunk leg."""

    from_: str
    headers: tuple[tuple[str, str], ...]
    withheld: bool


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def outbound_identity(
    trunk: TrunkSettings, agent_user: str, own_host: str, withheld: bool
) -> OutboundIdentity:
    """What a call placed on ``trunk`` by ``agent_user`` presents (``own_host``: Akashi's advertised address)."""
    user = trunk.from_user or agent_user
    domain = _host(trunk.from_domain or own_host)
    uri = f"sip:{user}@{domain}"
    headers: list[tuple[str, str]] = []
    if trunk.identity_header:
        name = "P-Asserted-Identity" if trunk.identity_header == "pai" else "P-Preferred-Identity"
        headers.append((name, f"<{uri}>"))
    if withheld:
        headers.append(("Privacy", "id"))
        return OutboundIdentity(ANONYMOUS_FROM, tuple(headers), True)
    return OutboundIdentity(f"<{uri}>", tuple(headers), False)


def trusted_source(
    source: tuple[str, int] | None, trunks: Sequence[TrunkSettings], networks: Sequence[Network]
) -> bool:
    """Whether ``source`` is a trunk's host (any port) or inside ``sip.inbound_networks``."""
    if source is None:
        return False
    try:
        addr = ipaddress.ip_address(source[0])
    except ValueError:
        return False
    for t in trunks:
        try:
            host, _port = split_hostport(t.host, "trunk host")
            if ipaddress.ip_address(host.strip("[]")) == addr:
                return True
        except (ProtocolError, ValueError):
            continue  # a trunk named by host name is trusted through sip.inbound_networks only
    return any(addr in ipaddress.ip_network(n, strict=False) for n in networks)


def _user(uri: str) -> str:
    try:
        u = parse_uri(uri)
    except ProtocolError:
        return ""
    return u.user


def inbound_caller(invite: Request, trusted: bool) -> tuple[str, bool]:
    """The caller number to store and whether the caller withheld it (非通知).

    From a trusted source a P-Asserted-Identity holding a phone number gives the number; otherwise the
    From user does. ``Privacy: id`` (or ``header``/``user``) or an anonymous From user means withheld.
    """
    from_user = _user(parse_name_addr(invite.header("From")).uri)
    privacy = {p.strip().lower() for v in invite.get_each("Privacy") for p in v.split(";")}
    withheld = bool(privacy & {"id", "user", "header"}) or from_user.lower() in ("anonymous", "")
    if trusted:
        for value in invite.get_each("P-Asserted-Identity"):
            for part in value.split(","):
                try:
                    uri = parse_name_addr(part.strip()).uri
                except ProtocolError:
                    continue
                number = (
                    phone_number(uri[4:].split(";")[0])
                    if uri.startswith("tel:")
                    else phone_number(_user(uri))
                )
                if number:
                    return number, withheld
    return from_user, withheld


def answered_by(target_user: str, answer: SipMessage | None) -> tuple[str, str]:
    """Who answered a ring target: the phone's user and the name the PBX gives it ('' when none).

    A ring group or hunt number (``202``) is answered on one of its phones; PBXs say which in the
    200's P-Asserted-Identity (``"Suzuki" <sip:203@pbx>``). Akashi rang that target itself, so the
    header is trusted here; without one (or without a number in it) the target's own user is the phone.
    """
    for value in answer.get_each("P-Asserted-Identity") if answer is not None else []:
        for part in value.split(","):
            try:
                na = parse_name_addr(part.strip())
            except ProtocolError:
                continue
            user = (
                phone_number(na.uri[4:].split(";")[0])
                if na.uri.startswith("tel:")
                else phone_number(_user(na.uri))
            )
            if user:
                return user, na.display.strip().strip('"').strip()
    return target_user, ""
