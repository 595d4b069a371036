"""Decoding RTP payloads with PyAV in tests (independent of Akashi's own encoder)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from akashi.codecs import g711

#: PyAV decoder and output sample rate per codec name
DECODERS = {"G722": ("g722", 16000), "OPUS": ("libopus", 48000)}


def decode(payloads: Iterable[bytes], name: str) -> tuple[np.ndarray, int]:
    """RTP payloads of one stream decoded to mono float samples and their rate."""
    if name.upper() in ("PCMU", "PCMA"):
        pcm = g711.decode(b"".join(payloads), name)
        return pcm.astype(np.float64) / 32768, 8000
    import av

    dec_name, rate = DECODERS[name.upper()]
    ctx = av.codec.CodecContext.create(dec_name, "r")
    assert isinstance(ctx, av.AudioCodecContext)
    ctx.sample_rate = rate
    ctx.layout = "mono"
    out = []
    for p in payloads:
        for frame in ctx.decode(av.Packet(p)):
            a = frame.to_ndarray()[0].astype(np.float64)  # mono: one row, planar or not
            out.append(a / 32768 if frame.format.name.startswith("s16") else a)
    return (np.concatenate(out) if out else np.zeros(0)), rate


def dominant_hz(samples: np.ndarray, rate: int) -> float:
    """The frequency of the strongest spectral peak."""
    spec = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spec) * rate / len(samples))
