"""SIP URIs and name-addr values (From, To, Contact), sans-I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass

from akashi.telephony.sip.grammar import SipParseError, find_param, split_hostport


@dataclass(frozen=True)
class NameAddr:
    """A From/To/Contact value: display name, URI and header parameters (``tag``...)."""

    display: str
    uri: str
    params: tuple[tuple[str, str], ...]

    def param(self, name: str) -> str | None:
        """A header parameter ('' for a flag)."""
        return find_param(self.params, name)

    def __str__(self) -> str:
        ps = "".join(f";{k}={v}" if v else f";{k}" for k, v in self.params)
        disp = f"{self.display} " if self.display else ""
        return f"{disp}<{self.uri}>{ps}"


def parse_name_addr(value: str, field_name: str = "name-addr") -> NameAddr:
    """Parse ``"Name" <sip:u@h>;tag=x`` or ``sip:u@h;tag=x``."""
    v = value.strip()
    display = ""
    if "<" in v:
        lt = v.find("<")
        if v.startswith('"'):
            end = _closing_quote(v, field_name)
            display = v[: end + 1]
            rest = v[end + 1 :].lstrip()
            if not rest.startswith("<"):
                raise SipParseError(field_name, "text between display name and <")
            lt = v.index("<", end)
        else:
            display = v[:lt].strip()
        gt = v.find(">", lt)
        if gt < 0:
            raise SipParseError(field_name, "unterminated <")
        uri = v[lt + 1 : gt].strip()
        tail = v[gt + 1 :]
    else:
        uri, _, tail = v.partition(";")
        tail = ";" + tail if tail else ""
        uri = uri.strip()
        if any(c.isspace() for c in uri):
            raise SipParseError(field_name, "whitespace in URI")
    if ":" not in uri or not uri.split(":", 1)[0]:
        raise SipParseError(field_name, f"bad URI {uri[:60]!r}")
    params: list[tuple[str, str]] = []
    for p in tail.split(";")[1:]:
        k, _, pv = p.partition("=")
        k = k.strip()
        if not k:
            continue
        params.append((k, pv.strip()))
    return NameAddr(display, uri, tuple(params))


def _closing_quote(v: str, field_name: str) -> int:
    i = 1
    while i < len(v):
        if v[i] == "\\":
            i += 2
            continue
        if v[i] == '"':
            return i
        i += 1
    raise SipParseError(field_name, "unbalanced quotes")


@dataclass(frozen=True)
class SipUri:
    """The parts of a sip:/sips: URI the B2BUA needs."""

    scheme: str
    user: str
    host: str
    port: int | None
    params: tuple[tuple[str, str], ...]

    def param(self, name: str) -> str | None:
        """A URI parameter ('' for a flag)."""
        return find_param(self.params, name)

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = f":{self.port}" if self.port else ""
        ps = "".join(f";{k}={v}" if v else f";{k}" for k, v in self.params)
        return f"{self.scheme}:{user}{host}{port}{ps}"


def parse_uri(uri: str) -> SipUri:
    """Parse a sip:, sips: or tel: URI."""
    scheme, colon, rest = uri.strip().partition(":")
    scheme = scheme.lower()
    if not colon or scheme not in ("sip", "sips", "tel"):
        raise SipParseError("URI", f"unsupported scheme in {uri[:60]!r}")
    if scheme == "tel":
        number, _, ps = rest.partition(";")
        return SipUri("tel", number, "", None, _uri_params(ps))
    rest = rest.split("?", 1)[0]
    hostpart, _, ps = rest.partition(";")
    user = ""
    if "@" in hostpart:
        user, _, hostpart = hostpart.rpartition("@")
        user = user.split(":", 1)[0]
    host, port = split_hostport(hostpart, "URI")
    return SipUri(scheme, _unescape(user), host.lower(), port, _uri_params(ps))


#: what a dialled number may hold once percent-decoded and stripped of visual separators
NUMBER = re.compile(r"^[0-9+*#]{1,32}$")
#: RFC 3966 visual separators, dropped before the check: ``tel:03-1234-5678`` is 0312345678
VISUAL_SEPARATORS = str.maketrans("", "", "-.()")


def phone_number(user: str) -> str | None:
    """The dialled number in a URI user part (already percent-decoded), or None when it is not one.

    Only digits, ``+``, ``*`` and ``#`` are a number (at most 32 of them); the RFC 3966 visual
    separators ``-``, ``.``, ``(`` and ``)`` are dropped first. Anything else (``:``, ``;``, ``@``, CR,
    LF, spaces, user parameters) makes it no number: such a user is never copied into another request.
    """
    number = user.translate(VISUAL_SEPARATORS)
    return number if NUMBER.fullmatch(number) else None


def _uri_params(ps: str) -> tuple[tuple[str, str], ...]:
    out = []
    for p in ps.split(";") if ps else []:
        k, _, v = p.partition("=")
        if k:
            out.append((k, v))
    return tuple(out)


def _unescape(s: str) -> str:
    return re.sub(r"%([0-9A-Fa-f]{2})", lambda m: chr(int(m.group(1), 16)), s)
