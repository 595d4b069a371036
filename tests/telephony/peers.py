"""Real peers for the telephony tests: SIPp processes and RTP endpoints on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np

from akashi.codecs import g711
from tests.ports import free_udp_port

RATE = 8000


def tone(freq: float, seconds: float, amp: float = 0.3) -> np.ndarray:
    """A sine tone as 16-bit samples."""
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * freq * t) * amp * 32767).astype(np.int16)


def bursts(seconds: float, at: list[float], freq: float, burst_s: float = 0.1) -> np.ndarray:
    """Silence with short tone bursts starting at the given offsets (markers for alignment)."""
    out = np.zeros(int(seconds * RATE), dtype=np.int16)
    b = tone(freq, burst_s, 0.5)
    for a in at:
        i = int(a * RATE)
        out[i : i + len(b)] = b[: len(out) - i]
    return out


def write_wav16(path: Path, pcm: np.ndarray) -> Path:
    """A mono 8 kHz 16-bit WAV."""
    import wave

    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.astype("<i2").tobytes())
    return path


async def baresip_ready(log: Path, timeout: float = 20.0) -> None:
    """Wait until the baresip writing ``log`` says it is ready (its SIP listener is bound by then).

    A fixed pause raced a loaded machine: a caller dialled before the operator's phone listened.
    """
    deadline = time.monotonic() + timeout
    while b"baresip is ready." not in (text := log.read_bytes() if log.exists() else b""):
        if time.monotonic() > deadline:
            tail = text[-600:].decode(errors="replace")
            raise AssertionError(f"baresip did not get ready within {timeout:g} s; its log ends:\n{tail}")
        await asyncio.sleep(0.05)


@dataclass
class RtpPeer(asyncio.DatagramProtocol):
    """One end of the media: sends a signal as PCMU RTP and records what it receives."""

    received: list[tuple[float, bytes]] = field(default_factory=list)
    transport: asyncio.DatagramTransport | None = None
    first_packet: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    sent_start: float = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.append((time.time(), data))
        self.first_packet.set()

    async def send_signal(
        self,
        pcm: np.ndarray,
        dest: tuple[str, int],
        *,
        drop_every: int = 0,
        pt: int = 0,
        jitter_ms: float = 0,
    ) -> float:
        """Send ``pcm`` as 20 ms packets in real time; returns the wall time of the first sample."""
        assert self.transport is not None
        payload = g711.encode(pcm, "PCMU")
        loop = asyncio.get_running_loop()
        start = loop.time()
        self.sent_start = time.time()
        ssrc, seq, ts = random.getrandbits(32), random.getrandbits(16), random.getrandbits(32)
        for i in range(0, len(payload) // 160):
            hdr = bytes([0x80, pt]) + seq.to_bytes(2, "big") + ts.to_bytes(4, "big") + ssrc.to_bytes(4, "big")
            lost = drop_every and i % drop_every == drop_every - 1
            if not lost:
                self.transport.sendto(hdr + payload[i * 160 : (i + 1) * 160], dest)
            seq = (seq + 1) & 0xFFFF
            ts = (ts + 160) & 0xFFFFFFFF
            delay = start + (i + 1) * 0.02 - loop.time()
            if jitter_ms:
                delay += random.uniform(0, jitter_ms / 1000)
            if delay > 0:
                await asyncio.sleep(delay)
        return self.sent_start

    def payloads(self, count: int) -> np.ndarray:
        """The first ``count`` PCMU packets received, decoded and joined in arrival order."""
        pkts = [p for _t, p in self.received if (p[1] & 0x7F) == 0][:count]
        return g711.decode(b"".join(p[12:] for p in pkts), "PCMU")

    def heard(self) -> np.ndarray:
        """What was received, decoded and laid out by arrival (for ordering checks)."""
        if not self.received:
            return np.zeros(0, dtype=np.int16)
        t0 = self.received[0][0]
        end = int((self.received[-1][0] - t0) * RATE) + 160
        out = np.zeros(end, dtype=np.int16)
        for t, pkt in self.received:
            if (pkt[1] & 0x7F) != 0:
                continue
            i = int((t - t0) * RATE)
            pcm = g711.decode(pkt[12:], "PCMU")
            out[i : i + len(pcm)] = pcm[: len(out) - i]
        return out

    def close(self) -> None:
        """Close the socket."""
        if self.transport is not None:
            self.transport.close()


@contextlib.asynccontextmanager
async def rtp_peer() -> AsyncIterator[RtpPeer]:
    """An RTP peer on a free loopback port."""
    loop = asyncio.get_running_loop()
    _t, peer = await loop.create_datagram_endpoint(RtpPeer, local_addr=("127.0.0.1", 0))
    try:
        yield peer
    finally:
        peer.close()


class Sipp:
    """A SIPp process (always under coreutils ``timeout``)."""

    def __init__(self, sipp: str, workdir: Path, name: str, scenario: str) -> None:
        self.sipp = sipp
        self.dir = workdir
        self.name = name
        self.xml = workdir / f"{name}.xml"
        self.xml.write_text(scenario)
        self.proc: asyncio.subprocess.Process | None = None
        self.port = free_udp_port()

    async def start(self, *args: str, limit_s: int = 60) -> None:
        """Start SIPp with the scenario and extra arguments."""
        log = open(self.dir / f"{self.name}.out", "wb")  # noqa: SIM115 - handed to the child
        self.proc = await asyncio.create_subprocess_exec(
            "timeout",
            "-s",
            "KILL",
            str(limit_s),
            self.sipp,
            "-sf",
            str(self.xml),
            "-i",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-nostdin",
            "-trace_err",
            "-trace_msg",
            # its own media port: the default (6000) would clash between SIPp processes
            *([] if "-mp" in args else ["-mp", str(free_udp_port())]),
            *args,
            stdout=log,
            stderr=log,
            cwd=self.dir,
        )
        if self._answers_first():
            await self._bound("-t" in args and args[args.index("-t") + 1].startswith("t"))

    def _answers_first(self) -> bool:
        """Whether the scenario starts by receiving (a phone, a trunk): only then must SIPp be bound before
        anyone sends; one that sends first needs no wait (over TCP it binds no listening port at all)."""
        first = re.search(r"<(send|recv)\b", self.xml.read_text())
        return first is not None and first.group(1) == "recv"

    async def _bound(self, tcp: bool, timeout: float = 5) -> None:
        """Wait until SIPp has bound its SIP port, or has exited.

        A SIPp that answers calls must be listening before Akashi sends its INVITE: a request sent earlier
        waits for a retransmission (0.5 s, then longer), which eats into a test's ring time.
        """
        assert self.proc is not None
        table = Path("/proc/net/tcp" if tcp else "/proc/net/udp")
        want = f"0100007F:{self.port:04X}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.returncode is None:
            try:
                rows = table.read_text().splitlines()[1:]
            except OSError:
                return
            if any(row.split()[1] == want for row in rows):
                return
            await asyncio.sleep(0.02)

    async def wait(self, timeout: float = 60) -> int:
        """Exit status (0: scenario passed)."""
        assert self.proc is not None
        return await asyncio.wait_for(self.proc.wait(), timeout)

    def log(self) -> str:
        """Messages and errors SIPp wrote, for assertion messages."""
        out = []
        for f in sorted(self.dir.glob(f"{self.name}*")):
            if f.suffix in (".log", ".out"):
                out.append(f"== {f.name}\n" + f.read_text(errors="replace")[-4000:])
        return "\n".join(out)

    def kill(self) -> None:
        """Stop it if still running: SIPp too, not only its ``timeout`` wrapper.

        Killing ``timeout`` alone (SIGKILL cannot be forwarded) left SIPp running as an orphan for the
        rest of the suite; ``timeout`` puts itself and SIPp in a process group of its own, so kill that.
        """
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
