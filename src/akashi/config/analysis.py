"""Configuration of transcription and harassment detection."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from akashi.config.base import Section


class AnalysisSettings(Section):
    """Voice mining."""

    enabled: bool = True
    model: str = Field("base", description='"base" (bundled), a local CTranslate2 folder, or a hub name.')
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = Field(2, ge=1, le=256)
    language: str = "ja"
    lexicon: str = Field("", description="Harassment lexicon TOML; empty: the shipped default.")
    long_call_minutes: float = Field(30.0, gt=0)
    repeat_calls: int = Field(3, ge=2)
    repeat_days: int = Field(7, ge=1)
    shout_dbfs: float = Field(-12.0, le=0)
    shout_seconds: float = Field(3.0, gt=0)
    notice_window_s: float = Field(30.0, gt=0)
