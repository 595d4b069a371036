"""The pieces of SIP grammar every other SIP module shares, sans-I/O.

This module sits at the bottom of :mod:`akashi.telephony.sip`: the one error type of the SIP
parsers (:class:`SipParseError`), ``host[:port]`` splitting and parameter lookup. It imports
nothing else from the package, so ``message`` and ``uri`` can both use it without importing
each other in a circle.
"""

from __future__ import annotations

from akashi.errors import ProtocolError


class SipParseError(ProtocolError):
    """A SIP message could not be parsed; ``field`` names the part that was wrong."""

    def __init__(self, field_name: str, detail: str) -> None:
        self.field = field_name
        self.detail = detail
        super().__init__(
            f"SIPメッセージの {field_name} が不正です: {detail}",
            f"invalid SIP {field_name}: {detail}",
        )


def split_hostport(text: str, field_name: str) -> tuple[str, int | None]:
    """Split ``host[:port]`` (IPv6 in brackets); :class:`SipParseError` names ``field_name`` when bad."""
    text = text.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(field_name, f"bad IPv6 reference {text!r}")
        host, rest = text[1:end], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise SipParseError(field_name, f"bad host {text!r}")
        port_s = rest[1:] if rest else ""
    else:
        host, _, port_s = text.partition(":")
    if not host or any(c.isspace() for c in host):
        raise SipParseError(field_name, f"bad host {text!r}")
    if port_s:
        if not port_s.isdigit() or not 0 < int(port_s) < 65536:
            raise SipParseError(field_name, f"bad port {port_s!r}")
        return host, int(port_s)
    return host, None


def find_param(params: tuple[tuple[str, str], ...], name: str) -> str | None:
    """The value of parameter ``name`` (lower case; '' for a flag), or None."""
    for k, v in params:
        if k.lower() == name:
            return v
    return None
