"""The akrtp1 decoder: real G.722 and Opus payloads placed by timestamp, damage becomes silence."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest

from akashi.analysis.audio import parse_wav
from akashi.codecs.container import read_container, write_container
from akashi.codecs.decode import decodable, decode_container, playable_wav
from akashi.errors import ProtocolError
from tests.codecs.rtpaudio import G722, OPUS, Spec, bursts, encode, onsets, rms, rtp

pytest.importorskip("av")
T0 = 1_700_000_000.0


def stream(
    spec: Spec, payloads: list[bytes], start: float, *, ts0: int | None = None, ssrc: int | None = None
) -> list[tuple[float, bytes]]:
    """(arrival, packet) for 20 ms payloads from wall time ``start``, with 0..15 ms of jitter."""
    rnd = random.Random(len(payloads))
    ts = rnd.getrandbits(32) if ts0 is None else ts0
    ssrc = rnd.getrandbits(32) if ssrc is None else ssrc
    out = []
    for i, p in enumerate(payloads):
        jitter = 0.0 if i % 10 == 0 else rnd.uniform(0, 0.015)
        out.append((start + i * 0.02 + jitter, rtp(spec.pt, i, ts + i * spec.step, ssrc, p)))
    return sorted(out, key=lambda r: r[0])


def container(
    tmp_path: Path, spec: Spec, caller: list[tuple[float, bytes]], heard: list[tuple[float, bytes]]
) -> bytes:
    path = tmp_path / "call.akrtp"
    header = {"name": spec.name, "payload_type": spec.pt, "rate": spec.clock, "fmtp": "", "t0": T0}
    write_container(path, header, caller, heard)
    return path.read_bytes()


def near(got: list[float], want: list[float], tol: float = 0.04) -> bool:
    return len(got) == len(want) and all(abs(g - w) <= tol for g, w in zip(got, want, strict=True))


@pytest.mark.parametrize("spec", [G722, OPUS], ids=["g722", "opus"])
def test_legs_aligned_loss_is_silence_and_ssrc_change_is_a_new_segment(tmp_path: Path, spec: Spec) -> None:
    """Left holds the caller's bursts, right the notice then the operator; a lost packet is a hole."""
    caller_pcm = bursts(spec.rate, 2.0, [0.2, 0.8, 1.4], 440)
    caller = stream(spec, encode(spec, caller_pcm), T0)
    lost = 45  # 0.90-0.92 s: in the middle of the second burst
    caller = [r for r in caller if int.from_bytes(r[1][2:4], "big") != lost]
    caller.append((T0 + 0.5, rtp(101, 999, 0, 7, b"\x01\x00\x00\xa0")))  # DTMF: not audio
    notice = stream(spec, encode(spec, bursts(spec.rate, 0.6, [0.1], 1000)), T0)
    operator = stream(spec, encode(spec, bursts(spec.rate, 1.2, [0.2, 0.8], 1000)), T0 + 0.7)
    data = container(tmp_path, spec, caller, notice + operator)
    out = decode_container(data)
    assert out.rate == 16000
    assert near(onsets(out.left, out.rate), [0.2, 0.8, 1.4])
    assert near(onsets(out.right, out.rate), [0.1, 0.9, 1.5])
    tone_level = rms(out.left, out.rate, 0.82, 0.88)
    assert tone_level > 5000
    assert rms(out.left, out.rate, 0.903, 0.917) < 0.1 * tone_level
    assert rms(out.left, out.rate, 0.93, 0.98) > 0.5 * tone_level  # after the hole: no shift, same burst
    wav = parse_wav(playable_wav(data))
    assert (wav.rate, wav.channels, wav.codec) == (16000, 2, "pcm16")
    assert wav.duration_s == pytest.approx(2.0, abs=0.1)


@pytest.mark.parametrize("spec", [G722, OPUS], ids=["g722", "opus"])
def test_timestamp_wrap_inside_a_segment(tmp_path: Path, spec: Spec) -> None:
    """A 32-bit RTP timestamp wrap is no jump: bursts after it stay in place."""
    pcm = bursts(spec.rate, 1.6, [0.2, 1.0], 440)
    caller = stream(spec, encode(spec, pcm), T0, ts0=2**32 - 20 * spec.step)
    out = decode_container(container(tmp_path, spec, caller, []))
    assert near(onsets(out.left, out.rate), [0.2, 1.0])
    assert len(out.right) == 0


@pytest.mark.parametrize("spec", [G722, OPUS], ids=["g722", "opus"])
def test_garbage_payloads_do_not_crash_or_shift(tmp_path: Path, spec: Spec) -> None:
    """Random bytes instead of some payloads decode to noise or silence; the rest stays in place."""
    payloads = encode(spec, bursts(spec.rate, 1.6, [0.2, 1.2], 440))
    rnd = random.Random(5)
    for i in range(25, 40):  # 0.5-0.8 s: quiet in the source
        payloads[i] = bytes(rnd.getrandbits(8) for _ in range(rnd.randrange(1, 200)))
    payloads[41] = b""
    out = decode_container(container(tmp_path, spec, stream(spec, payloads, T0), []))
    got = onsets(out.left, out.rate)
    assert abs(got[0] - 0.2) <= 0.04
    assert abs(got[-1] - 1.2) <= 0.04
    assert len(out.left) == pytest.approx(1.6 * out.rate, abs=0.05 * out.rate)


def test_g711_container_decodes_at_8khz(tmp_path: Path) -> None:
    """PCMU in a container (any codec by name) comes out at 8 kHz."""
    from akashi.analysis.audio import encode_mulaw

    pcm = bursts(8000, 1.0, [0.3], 440)
    payloads = [
        encode_mulaw((pcm[i : i + 160] / 32768).astype(np.float32)).tobytes() for i in range(0, 8000, 160)
    ]
    spec = Spec("PCMU", 0, 8000, "pcm_mulaw", 8000, 160)
    out = decode_container(container(tmp_path, spec, stream(spec, payloads, T0 + 0.1), []))
    assert out.rate == 8000
    assert near(onsets(out.left, out.rate), [0.4], tol=0.01)


def test_decodable_names() -> None:
    assert decodable("G722") and decodable("opus") and decodable("PCMA") and decodable("L16")
    assert not decodable("no-such-codec")


def test_broken_containers_are_protocol_errors(tmp_path: Path) -> None:
    """Truncation anywhere, a bad header, an unknown leg or codec: a clear ProtocolError."""
    good = container(tmp_path, G722, stream(G722, encode(G722, bursts(16000, 0.2, [0.0], 440)), T0), [])
    read_container(good)
    head_end = good.index(b"}") + 1
    for cut in (3, 9, head_end - 2, head_end + 5, len(good) - 1):
        with pytest.raises(ProtocolError, match="RTP"):
            decode_container(good[:cut])
    with pytest.raises(ProtocolError, match="not an Akashi RTP container"):
        decode_container(b"RIFF" + os.urandom(40))
    bad_leg = bytearray(good)
    bad_leg[head_end] = 7
    with pytest.raises(ProtocolError, match="leg 7"):
        decode_container(bytes(bad_leg))
    with pytest.raises(ProtocolError, match="name/payload_type"):
        decode_container(good.replace(b'"name"', b'"nome"'))
    unknown = good.replace(b'"G722"', b'"XYZ1"')
    with pytest.raises(ProtocolError, match="XYZ1"):
        decode_container(unknown)


def test_a_wav_passes_as_it_is() -> None:
    wav = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28)
    assert playable_wav(wav) is wav


def test_codecs_web_and_analysis_do_not_import_telephony() -> None:
    """The decoder is a neutral layer: playback and analysis never pull in the SIP stack."""
    import subprocess
    import sys

    code = (
        "import sys, akashi.codecs.decode, akashi.web.services.derived, akashi.web.routes.api_calls, akashi.analysis.pipeline\n"
        "bad = sorted(m for m in sys.modules if m.startswith('akashi.telephony'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_absurd_times_are_a_protocol_error_not_a_huge_allocation(tmp_path: Path) -> None:
    payloads = encode(G722, bursts(16000, 0.2, [0.0], 440))
    late = stream(G722, payloads, T0 + 10 * 24 * 3600)
    with pytest.raises(ProtocolError, match="24 hours"):
        decode_container(container(tmp_path, G722, late, []))
