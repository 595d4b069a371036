"""The recorder: spool files, alignment by arrival time and RTP timestamp, the stereo WAV."""

from __future__ import annotations

import json
import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from akashi.codecs import g711
from akashi.telephony.recorder import CallMeta, CallSpool, align, finalise, read_spool
from akashi.telephony.sdp import Codec
from tests.ports import free_udp_port
from tests.telephony.conftest import Start


def _pkt(seq: int, ts: int, ssrc: int, payload: bytes, pt: int = 0) -> bytes:
    return bytes([0x80, pt]) + struct.pack("!HII", seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


def _stream(
    t0: float, n: int, *, ssrc: int = 7, ts0: int = 4_294_960_000, value: int = 0x10
) -> list[tuple[float, bytes]]:
    """n packets of 20 ms, timestamps wrapping past 2**32, payload bytes = packet index."""
    return [
        (t0 + i * 0.02, _pkt(i, ts0 + 160 * i, ssrc, bytes([(value + i) % 0x7F]) * 160)) for i in range(n)
    ]


def test_jitter_and_loss_never_shift() -> None:
    """Late packets stay in place, a lost one leaves silence, later ones keep their position."""
    recs = _stream(100.0, 50)
    rng = np.random.default_rng(1)
    delays = rng.uniform(0, 0.03, len(recs))
    jittered = [(t + float(d), p) for (t, p), d in zip(recs, delays, strict=True)]
    del jittered[10]  # lost
    jittered.sort(key=lambda r: r[0])
    out = align(jittered, 0, 99.5, 0xFF)
    start = 4000 + round(float(delays[np.arange(50) != 10].min()) * 8000)  # 0.5 s after t0 + least delay
    assert len(out) == start + 50 * 160
    for i in range(50):
        chunk = out[start + i * 160 : start + (i + 1) * 160]
        want = 0xFF if i == 10 else (0x10 + i) % 0x7F
        assert (chunk == want).all(), i


def test_new_ssrc_and_timestamp_jump_start_new_segments() -> None:
    """The notice (one SSRC) then the operator (another) are placed by their own arrival times."""
    notice = _stream(10.0, 25, ssrc=1, ts0=5, value=1)
    op = _stream(11.0, 25, ssrc=2, ts0=999_999, value=60)
    # the same SSRC jumping in timestamp (a phone resuming from hold) is re-anchored too
    resumed = [(t + 1.0, _pkt(100 + i, 50_000_000 + 160 * i, 2, p[12:])) for i, (t, p) in enumerate(op)]
    out = align(notice + op + resumed, 0, 10.0, 0xFF)
    assert out[0] == 1 and out[8000] == 60 and out[16000] == 60 and len(out) == 20000


def test_spool_tail_and_finalise(tmp_path: Path) -> None:
    """A torn last record is dropped; an unfinished call is finalised as interrupted."""
    meta = CallMeta(started_at=1000.0, caller="0901234567", answered_at=1000.0, codec="PCMU")
    sp = CallSpool(tmp_path / "c1", meta)
    for t, p in _stream(1000.0, 10):
        sp.caller.append(p, t)
    for t, p in _stream(1000.0, 5, ssrc=9, value=40):
        sp.heard.append(p, t)
    sp.flush()
    with open(tmp_path / "c1" / "caller.spool", "ab") as f:
        f.write(struct.pack("<dH", 1000.3, 172) + b"\x80\x00")  # killed mid-record
    assert len(read_spool(tmp_path / "c1" / "caller.spool")) == 10
    wav, final = finalise(tmp_path / "c1")
    assert final.status == "interrupted"
    assert final.ended_at is not None and abs(final.ended_at - 1000.18) < 1e-6
    raw = wav.read_bytes()
    fmt_tag, channels, rate = struct.unpack_from("<HHI", raw, 20)
    assert (fmt_tag, channels, rate) == (7, 2, 8000)
    i = raw.index(b"data")
    frames = np.frombuffer(raw[i + 8 :], dtype=np.uint8).reshape(-1, 2)
    assert len(frames) == 1600
    assert frames[0, 0] == 0x10 and frames[0, 1] == 40 and frames[900, 1] == 0xFF
    assert json.loads((tmp_path / "c1" / "meta.json").read_text())["finished"] is False


def test_notice_wav_is_read_and_resampled(tmp_path: Path) -> None:
    """Announcement audio at another rate is resampled to 8 kHz before encoding."""
    from akashi.telephony.announce import read_wav

    path = tmp_path / "n.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        tone = (np.sin(2 * np.pi * 500 * np.arange(16000) / 16000) * 10000).astype("<i2")
        w.writeframes(np.repeat(tone, 2).tobytes())
    pcm = read_wav(path, 8000)
    assert len(pcm) == 8000
    spec = np.abs(np.fft.rfft(pcm.astype(float)))
    assert abs(np.argmax(spec) - 500) <= 1
    assert len(g711.encode(pcm, "PCMA")) == 8000


@pytest.mark.tts
@pytest.mark.sip
async def test_notice_made_from_text_and_cached(b2bua: Start) -> None:
    """No WAV configured: the notice is spoken from its text once, cached in the home, encoded per codec."""
    svc = await b2bua([free_udp_port()], notice=None, mode="automatic")
    cached = list((svc.ak.settings.home / "cache" / "announcements").glob("notice-*.wav"))
    assert len(cached) == 1  # made at start, before the first call
    with wave.open(str(cached[0]), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        frames = w.getnframes()
    ulaw = b"".join((await svc.notices.audio("default", Codec(0, "PCMU"))).payloads)
    alaw = b"".join((await svc.notices.audio("default", Codec(8, "PCMA"))).payloads)
    assert len(ulaw) == len(alaw) == frames + (-frames) % 160  # whole 20 ms packets
    assert np.abs(g711.decode(alaw, "PCMA").astype(np.int32)).max() > 5000  # speech, not silence
