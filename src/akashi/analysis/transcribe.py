"""Per-channel transcription with faster-whisper: VAD, batching, optional decoder biasing.

Each channel (customer, operator) is transcribed on its own so the transcript says who said what and
when. Silero VAD (inside faster-whisper) skips silence; the batched pipeline packs the speech of a
channel into 30-second windows instead of padding every utterance to 30 s. The customer channel may be
prompted with lexicon words (``initial_prompt``); the operator channel is not, because a prompt that
looks like the recording notice makes Whisper drop the operator's real notice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from akashi.analysis.audio import Float32, WavAudio, resample
from akashi.analysis.detect import Segment

WHISPER_RATE = 16000
CHANNEL_NAMES = ("customer", "operator")


@dataclass(frozen=True)
class DecodeOptions:
    """How to run the recogniser. ``plain`` is faster-whisper's defaults (the benchmark baseline)."""

    vad: bool = True
    batched: bool = True
    batch_size: int = 8
    beam_size: int = 5
    beam_size_operator: int | None = None  # None: same as beam_size
    prompt_customer: str | None = None
    hotwords_customer: str | None = None
    plain: bool = False


@dataclass
class TranscriptionStats:
    """Audio seconds in, processing seconds spent."""

    audio_s: float = 0.0
    processing_s: float = 0.0
    cpu_s: float = 0.0  # CPU time of this process (all threads): what the work costs on an idle machine

    @property
    def rtf(self) -> float:
        """Real-time factor: processing seconds per audio second (of the call, both channels together)."""
        return self.processing_s / self.audio_s if self.audio_s else 0.0


def channel_names(count: int) -> tuple[str, ...]:
    """Names of the channels of a recording: stereo is customer/operator, mono is ``mixed``."""
    return (
        CHANNEL_NAMES if count == 2 else ("mixed",) if count == 1 else tuple(f"ch{i}" for i in range(count))
    )


def prompt_from_terms(terms: Sequence[str], limit: int = 40) -> str:
    """An ``initial_prompt`` of domain words (kept short: Whisper sees at most 224 prompt tokens)."""
    seen: list[str] = []
    for t in terms:
        if t not in seen and not any(ord(c) < 128 for c in t):
            seen.append(t)
    return "、".join(seen[:limit]) + "。"


def _pipeline(model: Any) -> Any:
    from faster_whisper import BatchedInferencePipeline

    pipe = getattr(model, "_akashi_batched", None)
    if pipe is None:
        pipe = BatchedInferencePipeline(model=model)
        model._akashi_batched = pipe
    return pipe


def transcribe_channel(
    model: Any, audio16k: Float32, channel: str, language: str, opts: DecodeOptions
) -> list[Segment]:
    """Transcribe one channel (16 kHz mono float32) into timed segments."""
    if opts.plain:
        segs, _info = model.transcribe(audio16k, language=language)
    else:
        prompt = opts.prompt_customer if channel in ("customer", "mixed") else None
        hotwords = opts.hotwords_customer if channel in ("customer", "mixed") else None
        beam = opts.beam_size
        if channel == "operator" and opts.beam_size_operator is not None:
            beam = opts.beam_size_operator
        common: dict[str, Any] = {
            "language": language,
            "beam_size": beam,
            "initial_prompt": prompt,
            "hotwords": hotwords,
            "condition_on_previous_text": False,
            "vad_filter": opts.vad,
            "vad_parameters": {"min_silence_duration_ms": 300, "speech_pad_ms": 200},
        }
        if opts.batched and opts.vad:
            segs, _info = _pipeline(model).transcribe(
                audio16k, batch_size=opts.batch_size, without_timestamps=False, **common
            )
        else:
            segs, _info = model.transcribe(audio16k, **common)
    out: list[Segment] = []
    for s in segs:
        text = s.text.strip()
        if text:
            out.append(Segment(channel, round(float(s.start), 2), round(float(s.end), 2), text))
    return out


def transcribe_audio(
    model: Any, audio: WavAudio, language: str, opts: DecodeOptions
) -> tuple[list[Segment], TranscriptionStats]:
    """Transcribe every channel of a recording; segments sorted by start time."""
    stats = TranscriptionStats(audio_s=audio.duration_s)
    started, cpu_started = time.perf_counter(), time.process_time()
    segments: list[Segment] = []
    for index, name in enumerate(channel_names(audio.channels)):
        mono = resample(audio.channel(index), audio.rate, WHISPER_RATE)
        if not np.any(np.abs(mono) > 0.01):
            continue  # a silent channel: nothing to say, and Whisper would hallucinate
        segments.extend(transcribe_channel(model, mono, name, language, opts))
    stats.processing_s = time.perf_counter() - started
    stats.cpu_s = time.process_time() - cpu_started
    segments.sort(key=lambda s: (s.start_s, s.channel))
    return segments, stats
