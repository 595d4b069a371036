"""The encoder's input fitted to the speech (DecodeOptions.fit_channels): shorter windows for short calls,
30 s windows everywhere else."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from akashi.analysis import transcribe
from akashi.analysis.audio import parse_wav
from akashi.analysis.lexicon import load_lexicon
from akashi.analysis.pipeline import decode_options
from akashi.analysis.transcribe import _fit_frames, transcribe_audio
from akashi.config.analysis import AnalysisSettings


def test_frames_are_the_longest_clip_rounded_up_to_5_s() -> None:
    assert _fit_frames([{"start": 0.0, "end": 7.2}]) == 1000
    assert _fit_frames([{"start": 0.0, "end": 1.0}]) == 500
    assert _fit_frames([{"start": 0.0, "end": 10.0}]) == 1000
    assert _fit_frames([{"start": 0.0, "end": 29.0}, {"start": 29.0, "end": 33.0}]) == 3000
    assert _fit_frames([]) == 3000


@pytest.mark.asr
def test_other_calls_keep_30_s_windows_after_a_fitted_one(whisper_model: Any) -> None:
    import faster_whisper.transcribe as fwt

    transcribe._install_fit()
    transcribe._fit.frames = None
    assert fwt.pad_or_trim(np.zeros((80, 700), np.float32)).shape == (80, 3000)
    transcribe._fit.frames = 1000
    try:
        assert fwt.pad_or_trim(np.zeros((80, 700), np.float32)).shape == (80, 1000)
    finally:
        transcribe._fit.frames = None


@pytest.mark.asr
@pytest.mark.tts
def test_fitted_windows_hear_every_turn_of_a_generated_call(
    call_wav: Callable[[str], Path], whisper_model: Any
) -> None:
    opts = dataclasses.replace(
        decode_options(AnalysisSettings(), load_lexicon()), fit_channels=("customer", "operator")
    )
    audio = parse_wav(call_wav("dogeza").read_bytes())
    segments, _stats = transcribe_audio(whisper_model, audio, "ja", opts)
    assert transcribe._fit.frames is None
    customer = "".join(s.text for s in segments if s.channel == "customer")
    operator = "".join(s.text for s in segments if s.channel == "operator")
    assert customer and operator
    # every scripted turn has a segment that starts near it, on its channel
    timeline = json.loads(call_wav("dogeza").with_suffix(".json").read_text())
    for turn in timeline:
        starts = [s.start_s for s in segments if s.channel == turn["speaker"]]
        assert min(abs(s - turn["start_s"]) for s in starts) < 1.0, (turn, segments)


def test_settings_fit_the_operator_windows_by_default() -> None:
    lexicon = load_lexicon()
    assert decode_options(AnalysisSettings(), lexicon).fit_channels == ("operator",)
    assert decode_options(AnalysisSettings(fit_windows="off"), lexicon).fit_channels == ()
    assert "customer" in decode_options(AnalysisSettings(fit_windows="all"), lexicon).fit_channels
    with pytest.raises(ValueError, match="fit_windows"):
        AnalysisSettings(fit_windows="some")  # type: ignore[arg-type]


def test_settings_give_the_customer_shorter_windows_on_long_calls() -> None:
    lexicon = load_lexicon()
    assert decode_options(AnalysisSettings(), lexicon).customer_window_s == 15.0
    assert decode_options(AnalysisSettings(customer_window_s=30), lexicon).customer_window_s == 30.0
    with pytest.raises(ValueError, match="customer_window_s"):
        AnalysisSettings(customer_window_s=45)
