"""The address advertised in Contact, Via and SDP."""

from __future__ import annotations

import ipaddress

import pytest

from akashi.telephony.addresses import advertised_host, primary_ip


def test_the_public_address_wins() -> None:
    assert advertised_host("203.0.113.7", "0.0.0.0") == "203.0.113.7"


def test_a_concrete_listen_address_is_advertised_as_it_is() -> None:
    assert advertised_host("", "127.0.0.1") == "127.0.0.1"


@pytest.mark.parametrize("wildcard", ["0.0.0.0", "::", ""])
def test_a_wildcard_is_never_advertised(wildcard: str) -> None:
    host = advertised_host("", wildcard)
    assert host == primary_ip()
    assert not ipaddress.ip_address(host).is_unspecified
