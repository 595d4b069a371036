"""The address Akashi gives peers in Contact, Via and SDP when it listens on every interface."""

from __future__ import annotations

import socket

_ANY = ("0.0.0.0", "::", "")  # noqa: S104 - wildcard addresses, to advertise a real one


def advertised_host(public_address: str, listen_host: str) -> str:
    """``public_address`` when set; else the listen address, or the primary one for a wildcard."""
    if public_address:
        return public_address
    return primary_ip() if listen_host in _ANY else listen_host


def primary_ip() -> str:
    """The address of the interface the default route leaves by (127.0.0.1 without a route).

    A UDP socket's connect sends nothing: it only picks the source address.
    """
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))
        return str(s.getsockname()[0])
    except OSError:
        return "127.0.0.1"
    finally:
        s.close()
