"""G.711 mu-law and A-law (ITU-T G.711) with numpy lookup tables (no ``audioop``)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Int16 = npt.NDArray[np.int16]
UInt8 = npt.NDArray[np.uint8]


def _ulaw_decode_table() -> Int16:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    mag = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -mag, mag).astype(np.int16)


def _alaw_decode_table() -> Int16:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    sign = a & 0x80
    exponent = (a >> 4) & 0x07
    mantissa = a & 0x0F
    mag = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    )
    return np.where(sign != 0, mag, -mag).astype(np.int16)


ULAW_DECODE = _ulaw_decode_table()
ALAW_DECODE = _alaw_decode_table()
#: the same tables as float32 in -1..1 (analysis and waveform peaks)
ULAW_FLOAT = (ULAW_DECODE / 32768.0).astype(np.float32)
ALAW_FLOAT = (ALAW_DECODE / 32768.0).astype(np.float32)


def _encode_table(decode: Int16) -> UInt8:
    """Encode table over all 65536 int16 values: the code whose decoded value is nearest.

    The tables are monotonic per sign, so nearest-neighbour by searchsorted is exact G.711
    quantisation at the decision thresholds' midpoints.
    """
    order = np.argsort(decode, kind="stable")
    values = decode[order].astype(np.int32)
    # collapse duplicates (mu-law has +0 and -0)
    uniq, first = np.unique(values, return_index=True)
    codes = order[first]
    x = np.arange(-32768, 32768, dtype=np.int32)
    idx = np.searchsorted(uniq, x)
    idx = np.clip(idx, 1, len(uniq) - 1)
    lo, hi = uniq[idx - 1], uniq[idx]
    pick = np.where(x - lo <= hi - x, idx - 1, idx)
    return codes[pick].astype(np.uint8)


ULAW_ENCODE = _encode_table(ULAW_DECODE)
# both 0x7F and 0xFF decode to 0; encoders conventionally give 0xFF (positive zero)
ULAW_ENCODE[ULAW_ENCODE == 0x7F] = 0xFF
ALAW_ENCODE = _encode_table(ALAW_DECODE)

#: the code of silence in each law
ULAW_SILENCE = 0xFF
ALAW_SILENCE = 0xD5


def encode(pcm: Int16, codec: str) -> bytes:
    """Encode 16-bit linear samples to PCMU or PCMA."""
    table = ULAW_ENCODE if codec.upper() == "PCMU" else ALAW_ENCODE
    return bytes(table[pcm.astype(np.int32) + 32768])


def decode(data: bytes, codec: str) -> Int16:
    """Decode PCMU or PCMA bytes to 16-bit linear samples."""
    table = ULAW_DECODE if codec.upper() == "PCMU" else ALAW_DECODE
    return table[np.frombuffer(data, dtype=np.uint8)]


def silence(codec: str) -> int:
    """The byte of silence of a codec."""
    return ULAW_SILENCE if codec.upper() == "PCMU" else ALAW_SILENCE
