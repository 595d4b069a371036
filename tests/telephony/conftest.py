"""Fixtures of the telephony tests: an in-process B2BUA on loopback with its own home."""

from __future__ import annotations

import asyncio
import errno
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from akashi.context import Akashi
from akashi.telephony.service import TelephonyService
from tests.conftest import make_home, require_binary
from tests.ports import free_udp_tcp_port
from tests.telephony.peers import bursts, write_wav16

NOTICE_S = 1.0
NOTICE_HZ = 1000.0
#: the tests' "nobody can answer" message: half a second of 2 kHz (the product's default is spoken text)
UNAVAILABLE_S = 0.5
UNAVAILABLE_HZ = 2000.0


@pytest.fixture
def notice_wav(tmp_path: Path) -> Path:
    """The test notice: one second of 1 kHz tone (easy to find in what the caller heard)."""
    return write_wav16(tmp_path / "notice.wav", bursts(NOTICE_S, [0.0], NOTICE_HZ, burst_s=NOTICE_S))


def sip_toml(
    sip_port: int,
    targets: list[int],
    *,
    notice: Path | None,
    mode: str = "automatic",
    strategy: str = "parallel",
    ring_timeout_s: int = 5,
    rtp_timeout_s: float = 20,
    extra: str = "",
    agent_password: str = "",
    ring_params: str = "",
    sip_extra: str = "",
    store_processes: int = 0,
    unavailable: Path | None = None,
    route_extra: str = "",
) -> str:
    """akashi.toml lines of a loopback B2BUA whose route rings SIPp operators on ``targets``.

    ``unavailable``: a WAV for the message heard when nobody answers after the notice (None: the
    built-in spoken one). ``route_extra``: more lines of the route (live protection's settings...).
    """
    unavailable_toml = f'[announcements.unavailable]\naudio = "{unavailable}"\n' if unavailable else ""
    # below the ephemeral range (32768-60999) where RTP peers bind port 0, and below the ports free_udp_port hands to SIPp
    base = random.randrange(10000, 30000, 1000)
    # SIPp 3.6.1 answers only MD5 challenges (it reads the first algorithm of all of them): its
    # agent phones get MD5 alone unless a test asks otherwise
    digest = "" if "digest_algorithms" in sip_extra else '\ndigest_algorithms = ["MD5"]'
    # a shared test machine's scheduling stalls would pass for overload: admission control by load
    # is off unless a test sets its thresholds (tests/security/test_admission_overload.py)
    if "admission_" not in sip_extra:
        digest += "\nadmission_max_loop_lag_ms = 0\nadmission_max_cpu = 0"
    ring = ", ".join(f'"sip:{200 + i + 1}@127.0.0.1:{p}{ring_params}"' for i, p in enumerate(targets))
    return f"""
[sip]
enabled = true
listen = "127.0.0.1:{sip_port}"
public_address = "127.0.0.1"
rtp_ports = "{base}-{base + 998}"
rtp_timeout_s = {rtp_timeout_s}
store_processes = {store_processes}
{sip_extra}{digest}
[[sip.routes]]
match = "0312345678"
ring = [{ring}]
strategy = "{strategy}"
ring_timeout_s = {ring_timeout_s}
announcement = "default"
site = "tokyo"
{route_extra}

[announcements.default]
mode = "{mode}"
audio = "{notice or ""}"

{unavailable_toml}
[[agents]]
name = "佐藤 花子"
sip_user = "201"
site = "tokyo"
password = "{agent_password}"

[[agents]]
name = "鈴木 一郎"
sip_user = "202"
site = "osaka"
{extra}"""


Start = Callable[..., Awaitable[TelephonyService]]


@pytest.fixture
async def b2bua(tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Start]:
    """Start an in-process :class:`TelephonyService` with a home made from :func:`sip_toml` args."""
    monkeypatch.delenv("AKASHI_HOME", raising=False)
    require_binary("sipp")
    started: list[tuple[TelephonyService, asyncio.Event, asyncio.Task[None], Akashi]] = []

    async def start(targets: list[int], **kw: object) -> TelephonyService:
        if "unavailable" not in kw:
            kw["unavailable"] = write_wav16(
                tmp_path / "unavailable.wav",
                bursts(UNAVAILABLE_S, [0.0], UNAVAILABLE_HZ, burst_s=UNAVAILABLE_S),
            )
        for attempt in range(3):
            # SIP listens on UDP and TCP: a port free for both now may still be taken by another
            # process before Akashi binds it; that (and only that) is worth another port
            port = free_udp_tcp_port()
            toml = sip_toml(port, targets, **kw)  # type: ignore[arg-type]
            home = make_home(tmp_path / f"home{attempt or ''}", sqlite_url, extra_toml=toml)
            ak = Akashi.open(home)
            svc = TelephonyService(ak)
            stop = asyncio.Event()
            task = asyncio.create_task(svc.run(stop))
            ready = asyncio.create_task(svc.ready.wait())
            # a loaded CI machine starts slowly; a start that fails says why at once
            await asyncio.wait({ready, task}, timeout=120, return_when=asyncio.FIRST_COMPLETED)
            if svc.ready.is_set():
                started.append((svc, stop, task, ak))
                return svc
            ready.cancel()
            ak.close()
            if not task.done():
                task.cancel()
                raise AssertionError("the B2BUA did not start within 120 s")
            exc = task.exception()
            if not (isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE):
                raise AssertionError("the B2BUA failed to start") from exc
        raise AssertionError("no free SIP port after 3 tries")

    yield start
    for _svc, stop, task, ak in started:
        stop.set()
        await asyncio.wait_for(task, 30)
        ak.close()
