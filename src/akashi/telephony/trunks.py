"""How Akashi reaches a trunk (or a phone): UDP, TCP or TLS, and the credentials it may send there."""

from __future__ import annotations

import functools
import ssl
from typing import TYPE_CHECKING

from akashi.config.telephony import RouteSettings, TrunkSettings
from akashi.errors import ProtocolError
from akashi.telephony.sip.digest import Credentials
from akashi.telephony.sip.grammar import split_hostport
from akashi.telephony.sip.uri import parse_uri

if TYPE_CHECKING:
    from akashi.telephony.call.host import CallHost

Addr = tuple[str, int]


def credentials(trunk: TrunkSettings) -> Credentials | None:
    """The trunk's digest credentials, bound to its host (and realm), or None without a username."""
    if not trunk.username:
        return None
    return Credentials(trunk.username, trunk.password.get_secret_value(), trunk.host, trunk.realm)


def credentials_for(trunks: list[TrunkSettings], uri: str) -> Credentials | None:
    """The credentials of the trunk ``uri`` points at (None when it points at no trunk, or one without)."""
    trunk = trunk_for(trunks, uri)
    return credentials(trunk) if trunk is not None else None


def _hostport(uri: str) -> tuple[str, int] | None:
    try:
        u = parse_uri(uri)
    except ProtocolError:
        return None
    return u.host, u.port or 5060


def ring_credentials(route: RouteSettings, uri: str) -> Credentials | None:
    """The route's ring-target credentials for ``uri``, bound to its host and port (and ``ring_realm``).

    None without a ``ring_username``, or when ``uri`` is on no host of the route's ``ring`` URIs:
    the credentials never go anywhere else.
    """
    if not route.ring_username:
        return None
    where = _hostport(uri)
    if where is None or where not in {_hostport(r) for r in route.ring}:
        return None
    host = f"[{where[0]}]" if ":" in where[0] else where[0]
    secret = route.ring_password.get_secret_value()
    return Credentials(route.ring_username, secret, f"{host}:{where[1]}", route.ring_realm)


def trunk_for(trunks: list[TrunkSettings], uri: str) -> TrunkSettings | None:
    """The configured trunk a URI points at (same host and port), or None."""
    try:
        u = parse_uri(uri)
    except ProtocolError:
        return None
    for t in trunks:
        try:
            host, port = split_hostport(t.host, "trunk host")
        except ProtocolError:
            continue
        if host.strip("[]").lower() == u.host and (port is None or u.port is None or port == u.port):
            return t
    return None


def uri_transport(uri: str) -> str:
    """``UDP``, ``TCP`` or ``TLS``: what a URI asks for (``sips:`` or ``;transport=tls`` is TLS)."""
    try:
        u = parse_uri(uri)
    except ProtocolError:
        return "UDP"
    if u.scheme == "sips":
        return "TLS"
    kind = (u.param("transport") or "udp").upper()
    return kind if kind in ("TCP", "TLS") else "UDP"


@functools.lru_cache(maxsize=16)
def tls_context(cafile: str = "") -> ssl.SSLContext:
    """A client TLS context that verifies the server's certificate and name (``cafile``: its CAs)."""
    ctx = ssl.create_default_context(cafile=cafile or None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


async def connect(svc: CallHost, uri: str, dest: Addr) -> str:
    """Open the stream a request for ``uri`` needs (none for UDP); the Via transport to use.

    Raises OSError (ssl.SSLError included) when the connection or the TLS handshake fails: a TLS
    or TCP destination never falls back to UDP.
    """
    kind = uri_transport(uri)
    if kind == "TCP":
        await svc.sip.connect_tcp(dest)
    elif kind == "TLS":
        trunk = trunk_for(svc.settings.trunks, uri)
        ctx = tls_context(trunk.tls_ca if trunk is not None else svc.settings.tls_ca)
        await svc.sip.connect_tls(dest, ctx, parse_uri(uri).host)
    return kind


def contact(svc: CallHost, transport: str) -> str:
    """Akashi's Contact for a dialog or registration over ``transport`` (so the peer calls back the same way)."""
    if transport == "UDP":
        return svc.contact
    port = svc.tls_port if transport == "TLS" and svc.tls_port else svc.sip.local[1]
    return f"<sip:akashi@{svc.host}:{port};transport={transport.lower()}>"
