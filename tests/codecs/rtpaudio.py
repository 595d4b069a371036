"""Test media for codecs other than G.711: tone bursts encoded with PyAV into 20 ms RTP payloads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from akashi.context import Akashi

Int16 = npt.NDArray[np.int16]


@dataclass(frozen=True)
class Spec:
    """How a codec is carried: SDP name, payload type, RTP clock, encoder, its rate and frame."""

    name: str
    pt: int
    clock: int
    encoder: str
    rate: int
    frame: int

    @property
    def step(self) -> int:
        """RTP timestamp step of one 20 ms packet."""
        return self.clock // 50

    @property
    def sdp(self) -> str:
        """The m= line tail and rtpmap of an SDP offering only this codec."""
        chans = "/2" if self.name == "opus" else ""
        return f"RTP/AVP {self.pt}\na=rtpmap:{self.pt} {self.name}/{self.clock}{chans}"


G722 = Spec("G722", 9, 8000, "g722", 16000, 320)
OPUS = Spec("opus", 111, 48000, "libopus", 48000, 960)


def bursts(rate: int, seconds: float, at: list[float], freq: float, burst_s: float = 0.2) -> Int16:
    """Silence with tone bursts starting at ``at`` (seconds): markers for alignment."""
    out = np.zeros(int(seconds * rate), dtype=np.int16)
    t = np.arange(int(burst_s * rate)) / rate
    b = (np.sin(2 * np.pi * freq * t) * 0.5 * 32767).astype(np.int16)
    for a in at:
        i = int(a * rate)
        out[i : i + len(b)] = b[: len(out) - i]
    return out


def encode(spec: Spec, pcm: Int16) -> list[bytes]:
    """Encode mono int16 at ``spec.rate`` into one payload per 20 ms."""
    import av

    ctx: Any = av.CodecContext.create(spec.encoder, "w")
    ctx.sample_rate = spec.rate
    ctx.layout = "mono"
    ctx.format = "s16"
    ctx.time_base = Fraction(1, spec.rate)
    ctx.open()
    out: list[bytes] = []
    usable = len(pcm) - len(pcm) % spec.frame
    for i in range(0, usable, spec.frame):
        frame = av.AudioFrame.from_ndarray(
            pcm[i : i + spec.frame].reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = spec.rate
        frame.pts = i
        out += [bytes(p) for p in ctx.encode(frame)]
    out += [bytes(p) for p in ctx.encode(None)]
    return out[: usable // spec.frame]


def rtp(pt: int, seq: int, ts: int, ssrc: int, payload: bytes) -> bytes:
    """An RTP packet (no CSRC, no extension)."""
    return (
        bytes([0x80, pt])
        + (seq & 0xFFFF).to_bytes(2, "big")
        + (ts & 0xFFFFFFFF).to_bytes(4, "big")
        + ssrc.to_bytes(4, "big")
        + payload
    )


def onsets(x: npt.NDArray[np.int16], rate: int, frame_s: float = 0.005, level: float = 2000.0) -> list[float]:
    """Times (s) where the 5 ms RMS rises above ``level`` after at least 50 ms below it."""
    n = int(rate * frame_s)
    usable = len(x) - len(x) % n
    rms = np.sqrt(np.mean(x[:usable].astype(np.float64).reshape(-1, n) ** 2, axis=1))
    out: list[float] = []
    quiet = 10**9
    for i, r in enumerate(rms):
        if r > level:
            if quiet * frame_s >= 0.05:
                out.append(i * frame_s)
            quiet = 0
        else:
            quiet += 1
    return out


def rms(x: npt.NDArray[np.int16], rate: int, start_s: float, end_s: float) -> float:
    """RMS of ``x`` between two times."""
    seg = x[int(start_s * rate) : int(end_s * rate)].astype(np.float64)
    return float(np.sqrt(np.mean(seg**2))) if len(seg) else 0.0


CALLER_AT = [0.2, 1.2]  # 440 Hz bursts the customer sends
HEARD_AT = [0.6, 1.6]  # 1000 Hz bursts the customer hears


def two_leg_container(path: Path, spec: Spec, t0: float, seconds: float = 2.0) -> Path:
    """A container as the recorder writes it: caller bursts on leg 0, operator bursts on leg 1."""
    from akashi.codecs.container import write_container

    legs = []
    for leg, (at, freq) in enumerate(((CALLER_AT, 440), (HEARD_AT, 1000))):
        payloads = encode(spec, bursts(spec.rate, seconds, at, freq))
        ts0, ssrc = 1000 * (leg + 1), 0x1000 + leg
        legs.append(
            [(t0 + i * 0.02, rtp(spec.pt, i, ts0 + i * spec.step, ssrc, p)) for i, p in enumerate(payloads)]
        )
    header = {"name": spec.name, "payload_type": spec.pt, "rate": spec.clock, "fmtp": "", "t0": t0}
    write_container(path, header, legs[0], legs[1])
    return path


def ingest_container(ak: Akashi, path: Path, spec: Spec, started: datetime, **fields: Any) -> int:
    """Store a container as the B2BUA's sink does; the new call's id."""
    from akashi.callfacts import CallFacts, CodecFacts
    from akashi.calloutcome import CallOutcome
    from akashi.telephony.rawmedia import ingest_raw_call

    record = CallOutcome(
        started_at=started,
        answered_at=started,
        ended_at=started + timedelta(seconds=2),
        direction="in",
        caller="03-1234-5678",
        codec=spec.name,
        facts=CallFacts(codec=CodecFacts(name=spec.name, rate=spec.clock)),
        **fields,
    )
    return ingest_raw_call(ak, path, record)
