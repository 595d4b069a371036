"""Configuration of transcription and harassment detection."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from akashi.config.base import Section, auto_or_count, cores, cuda_devices


class AnalysisSettings(Section):
    """Voice mining."""

    enabled: bool = True
    model: str = Field("base", description='"base" (bundled), a local CTranslate2 folder, or a hub name.')
    model_cache: str = Field("", description="Folder for rebuilt/downloaded models; empty: ~/.cache/akashi.")
    online: bool = Field(
        False, description="Allow downloading a hub model (never needed for the bundled base)."
    )
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: str = "int8"
    # One thread per recognition and one recognition per core: on a 2-core machine two single-threaded
    # recognitions side by side finished a backlog in 0.60-0.67 of the time that one at a time on two
    # threads took, with the same words (bench/backlog.py); a lone call has its two channels recognised at once.
    cpu_threads: int = Field(1, ge=1, le=256, description="Threads of one recognition (CPU).")
    workers: Annotated[int, Field(ge=1, le=64)] | Literal["auto"] = Field(
        "auto",
        description="Recognitions `akashi transcriber` runs side by side (its job workers, and the model's); "
        '"auto": one per cpu_threads of the cores it may use on a CPU, one on a GPU.',
    )
    language: str = "ja"
    vad: bool = Field(True, description="Skip silence with Silero VAD before recognition.")
    batched: bool = Field(True, description="Pack speech into 30 s windows (batched pipeline).")
    batch_size: int = Field(8, ge=1, le=64)
    beam_size: int = Field(5, ge=1, le=10)
    beam_size_operator: int = Field(
        1, ge=1, le=10, description="Beam on the operator channel (greedy: its words are not matched)."
    )
    prompt_lexicon: bool = Field(
        True, description="Bias the customer channel with lexicon words (initial_prompt)."
    )
    prompt_operator: bool = Field(
        True,
        description="Bias the operator channel with words of a reception and its notice, as a list "
        "(initial_prompt; never the notice's sentence).",
    )
    joint_channels: bool = Field(
        False,
        description="Recognise both channels' speech in shared 30 s windows (one pass; the lexicon's and the "
        "reception's words as one prompt).",
    )
    fit_windows: Literal["off", "operator", "all"] = Field(
        "operator",
        description="Channels whose recogniser windows are fitted to their speech (rounded up to 5 s) "
        'instead of padded to 30 s: faster on short calls; "all" also fits the customer\'s, fastest, '
        "but with the lexicon prompt it wrote prompt words nobody said.",
    )
    customer_window_s: float = Field(
        15.0,
        ge=5.0,
        le=30.0,
        description="Longest recogniser window of the customer's channel where its speech fills more than one "
        "30 s window (a long call): in full 30 s windows, with the lexicon prompt, Whisper wrote earlier "
        "threats again over later speech. A short call's one window stays whole.",
    )
    lexicon: str = Field("", description="Harassment lexicon TOML; empty: the shipped default.")
    long_call_minutes: float = Field(30.0, gt=0)
    repeat_calls: int = Field(3, ge=2)
    repeat_days: int = Field(7, ge=1)
    shout_dbfs: float = Field(-12.0, le=0)
    shout_seconds: float = Field(3.0, gt=0)
    talk_over_seconds: float = Field(
        5.0, gt=0, description="Customer speech over the operator, total seconds."
    )
    notice_window_s: float = Field(30.0, gt=0)

    @property
    def resolved_device(self) -> Literal["cpu", "cuda"]:
        """``device`` with "auto" resolved as CTranslate2 resolves it: a GPU when it sees one."""
        if self.device == "auto":
            return "cuda" if cuda_devices() > 0 else "cpu"
        return self.device

    @property
    def worker_count(self) -> int:
        """The recognitions to run side by side: ``workers``, or "auto" as it describes."""
        if self.workers != "auto":
            return self.workers
        if self.resolved_device == "cuda":
            return 1  # a GPU runs one recognition's batch at a time; more workers copy the model onto it
        return max(1, min(64, cores() // self.cpu_threads))

    @field_validator("workers", mode="before")
    @classmethod
    def _workers(cls, v: object) -> object:
        return auto_or_count(
            v, 1, 64, 'workers must be "auto" (one per cpu_threads of the cores) or a number from 1 to 64'
        )
