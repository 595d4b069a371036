"""The notice encoder: 20 ms payloads and RTP steps per codec, decodable by an independent decoder."""

from __future__ import annotations

import numpy as np
import pytest

from akashi.codecs.encode import can_encode, codec_key, encode, fmtp_params, pcm_rate
from akashi.telephony.sdp import Codec
from tests.codecs.pyav import decode, dominant_hz


def tone(hz: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * hz * t) * 0.3 * 32767).astype(np.int16)


@pytest.mark.parametrize(
    ("codec", "rate", "step", "sizes"),
    [
        (Codec(0, "PCMU"), 8000, 160, {160}),
        (Codec(8, "PCMA"), 8000, 160, {160}),
        (Codec(9, "G722"), 16000, 160, {160}),  # 16 kHz audio, RTP clock 8000 (RFC 3551)
        (Codec(111, "opus", 48000, "useinbandfec=1"), 16000, 960, None),  # RTP clock 48000 (RFC 7587)
        (Codec(96, "OPUS", 48000, "stereo=0; cbr=1; maxaveragebitrate=24000"), 16000, 960, {60}),
    ],
)
def test_payloads_steps_and_round_trip(codec: Codec, rate: int, step: int, sizes: set[int] | None) -> None:
    """1.1 s of 1 kHz tone: whole 20 ms packets, the codec's RTP step, the tone survives decoding."""
    assert can_encode(codec)
    assert pcm_rate(codec) == rate
    enc = encode(tone(1000, 1.1, rate), codec, rate)
    assert enc.step == step
    assert enc.duration_s == pytest.approx(1.1)
    # 55 frames; Opus hands one more out when flushed (its look-ahead)
    assert len(enc.payloads) in ((55, 56) if codec.name.upper() == "OPUS" else (55,))
    if sizes is not None:
        assert {len(p) for p in enc.payloads} == sizes
    else:
        assert 10 < max(len(p) for p in enc.payloads) < 200  # about 32 kbit/s, variable
    pcm, out_rate = decode(enc.payloads, codec.name)
    assert len(pcm) / out_rate == pytest.approx(len(enc.payloads) * 0.02, abs=0.001)
    assert dominant_hz(pcm[: int(out_rate * 1.1)], out_rate) == pytest.approx(1000, abs=15)
    body = pcm[int(out_rate * 0.1) : int(out_rate * 1.0)]
    assert 0.15 < float(np.sqrt(np.mean(body**2))) < 0.3  # level kept (0.3 peak: 0.21 rms)


def test_what_can_be_encoded() -> None:
    """G.711, G.722 and Opus at their RTP clocks; not AMR, G.729, or a G.722 with a wrong clock."""
    assert not can_encode(Codec(96, "AMR"))
    assert not can_encode(Codec(18, "G729"))
    assert not can_encode(Codec(9, "G722", 16000))
    assert not can_encode(Codec(0, "PCMU", 16000))
    with pytest.raises(ValueError, match="cannot encode"):
        encode(tone(1000, 0.1, 8000), Codec(96, "AMR"))
    with pytest.raises(ValueError, match="16000 Hz"):
        encode(tone(1000, 0.1, 8000), Codec(9, "G722"), 8000)


def test_short_audio_is_padded_and_cache_key_ignores_payload_type() -> None:
    """A part packet is filled with silence; the payload type does not change the payloads."""
    enc = encode(tone(1000, 0.03, 8000), Codec(0, "PCMU"))
    assert [len(p) for p in enc.payloads] == [160, 160]
    assert enc.payloads[1][-1] == 0xFF  # mu-law silence
    assert len(encode(np.zeros(0, np.int16), Codec(9, "G722")).payloads) == 1
    assert codec_key(Codec(96, "opus", 48000, "stereo=0")) == codec_key(Codec(111, "OPUS", 48000, "stereo=0"))
    assert codec_key(Codec(9, "G722", 8000, "x")) == codec_key(Codec(9, "G722"))
    assert fmtp_params("minptime=10; useinbandfec=1") == {"minptime": "10", "useinbandfec": "1"}
