"""Dialled-number injection (issue 10, item 3), performed with SIPp as an attacker would.

A Request-URI user that percent-decodes to anything but a number (``127.0.0.1:PORT;`` that once
re-targeted the trunk leg, or CR LF that once injected a header) gets 484, inbound and outbound;
neither the trunk nor the other host receives anything, and no call is started.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest

from tests.conftest import require_binary
from tests.telephony import scenarios
from tests.telephony.conftest import Start, b2bua  # noqa: F401 - fixtures
from tests.telephony.peers import Sipp

pytestmark = [pytest.mark.sip]

AGENT_SECRET = "agent-secret-201"


class Listener(asyncio.DatagramProtocol):
    """A UDP socket that only records what reaches it (the trunk, or the host an attacker names)."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.got: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.got.append(data)

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])


@pytest.fixture
async def listeners() -> AsyncIterator[tuple[Listener, Listener]]:
    """(trunk, other host): two recording UDP sockets on loopback."""
    loop = asyncio.get_running_loop()
    made = [(await loop.create_datagram_endpoint(Listener, local_addr=("127.0.0.1", 0)))[1] for _ in range(2)]
    yield made[0], made[1]
    for m in made:
        assert m.transport is not None
        m.transport.close()


def attacker(agent: bool) -> str:
    """A SIPp UAC whose INVITE (to ``-s`` as given) must be answered 484 (then ACKed)."""
    xml = scenarios.caller(final=484)
    if agent:  # an agent's phone: the INVITE would go out through the trunk
        xml = xml.replace('"Customer" <sip:0901234567@', '"Sato" <sip:201@').replace(
            "<sip:0901234567@", "<sip:201@"
        )
    return xml


INJECTIONS = {
    # the user decodes to "127.0.0.1:PORT;": pasted into sip:USER@trunk it named another host
    "retarget": "127.0.0.1%3A{other}%3B",
    # the user decodes to a number, CR LF and a header of the attacker's choosing
    "header": "0312349999%0D%0AP-Asserted-Identity:%20%3Csip:110@127.0.0.1:{other}%3E",
    "lf-only": "0312349999%0AX-Evil:%201",
    "user-param": "0312349999;rn=127.0.0.1:{other}",
}


@pytest.mark.parametrize("agent", [True, False], ids=["outbound", "inbound"])
@pytest.mark.parametrize("kind", sorted(INJECTIONS))
async def test_injected_dialled_number_gets_484(
    b2bua: Start,  # noqa: F811 - fixture
    listeners: tuple[Listener, Listener],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    kind: str,
    agent: bool,
) -> None:
    """SIPp dials a crafted number: 484 with a Warning, nothing sent anywhere, no call, the refusal logged."""
    sipp = require_binary("sipp")
    trunk, other = listeners
    svc = await b2bua(
        [trunk.port],
        notice=None,
        agent_password=AGENT_SECRET,
        extra=f'[[sip.trunks]]\nname = "main"\nhost = "127.0.0.1:{trunk.port}"\n'
        'username = "akashi-trunk"\npassword = "trunkpass"\n',
    )
    ua = Sipp(sipp, tmp_path, "attacker", attacker(agent))
    caplog.set_level(logging.WARNING, logger="akashi.telephony.edgeaudit")  # where the 484 line is written
    number = INJECTIONS[kind].format(other=other.port)
    await ua.start(f"127.0.0.1:{svc.sip.local[1]}", "-s", number, "-key", "rtpport", "40000", "-m", "1")
    assert await ua.wait() == 0, ua.log()  # the scenario fails on anything but 484
    log = ua.log()
    assert "Address Incomplete" in log and "Warning: 399 akashi" in log
    assert "P-Asserted-Identity: <sip:110" not in log.replace(number, "")  # nothing echoed as a header
    # no call was started, so nothing can be on its way to the trunk or the other host
    assert not svc.calls
    assert trunk.got == [] and other.got == []
    assert any("refused (484)" in r.getMessage() for r in caplog.records)


async def test_plain_number_still_goes_out(
    b2bua: Start,  # noqa: F811 - fixture
    listeners: tuple[Listener, Listener],
    tmp_path: Path,
) -> None:
    """The control: a visual-separated number from a customer is routed (not 484) once the separators go."""
    sipp = require_binary("sipp")
    trunk, _other = listeners
    svc = await b2bua([trunk.port], notice=None)
    ua = Sipp(sipp, tmp_path, "caller", scenarios.caller(final=480))
    await ua.start(
        f"127.0.0.1:{svc.sip.local[1]}",
        "-s",
        "03-1234-5678",
        "-key",
        "rtpport",
        "40000",
        "-m",
        "1",
        limit_s=40,
    )
    # the route's phone is the trunk listener, which never answers: the caller is not refused with 484
    async with asyncio.timeout(30):
        while not trunk.got:
            await asyncio.sleep(0.05)
    assert trunk.got[0].startswith(b"INVITE sip:201@")
    ua.kill()
