"""Per-channel transcription with faster-whisper: VAD, batching, optional decoder biasing, utterances.

Each channel (customer, operator) is transcribed on its own so the transcript says who said what and
when. Silero VAD (inside faster-whisper) skips silence; the batched pipeline packs the speech of a
channel into 30-second windows instead of padding every utterance to 30 s. The customer channel may be
prompted with lexicon words (``initial_prompt``), the operator's with a reception's words as a list, never
the notice's sentence: a prompt that looks like the recording notice makes Whisper drop the real one.

Whisper's own segments follow its 30-second windows, not the speakers: with VAD packing one segment may
hold three turns of a customer. So the speech regions are packed (:mod:`packing`), with a short silence
between them, the recogniser runs with word timestamps, every word is mapped back to the call's timeline
through the packing, and :func:`utterances` cuts the words into one segment per utterance: a VAD
speech region, split further after each sentence end. Words with no place in the speech (written in the
packing's silence, or piled at one instant) are left out, and regions left without a word, or holding only a
repeat, are heard again (:mod:`rescue`). A long channel's windows are shared out among the model's workers, so
the customer's (the slower, heard with beam search) does not run on one worker while the other waits.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from akashi.analysis import packing, rescue
from akashi.analysis.audio import Float32, WavAudio, denoise, resample
from akashi.analysis.detect import Segment, Word
from akashi.analysis.packing import MAX_REGION_S, WHISPER_RATE
from akashi.analysis.prompts import fit_prompt_to

CHANNEL_NAMES = ("customer", "operator")
VAD_PARAMETERS: dict[str, Any] = {"min_silence_duration_ms": 300, "speech_pad_ms": 200}
_SENTENCE_END = tuple("。．.!?！？")


@dataclass(frozen=True)
class DecodeOptions:
    """How to run the recogniser. ``plain`` is faster-whisper's defaults (the benchmark baseline)."""

    vad: bool = True
    batched: bool = True
    batch_size: int = 8
    beam_size: int = 5
    beam_size_operator: int | None = None  # None: same as beam_size
    prompt_customer: str | None = None
    prompt_operator: str | None = None  # never the notice's sentence: Whisper then drops the notice
    hotwords_customer: str | None = None
    plain: bool = False
    # Both channels' speech packed into the same 30 s windows and recognised in one pass (``beam_size``,
    # no hotwords): a short call's two half-empty windows become one, and the encoder is most of the
    # cost. The words are sent back to their channel and time through the packing.
    joint: bool = False
    prompt_joint: str | None = None  # the joint windows' prompt (lexicon words and reception words)
    # Channels whose line hiss is taken out by spectral subtraction before VAD and recognition
    # (audio.denoise).
    denoise_channels: tuple[str, ...] = ()
    # Channels whose encoder input is their packed speech rounded up to 5 s instead of a window padded
    # to 30 s (the encoder is half the cost of a short call, and its cost grows with its input).
    fit_channels: tuple[str, ...] = ()
    # The longest window (and speech region) of the customer's first pass where the speech fills more than
    # one 30 s window. In a 5-minute call's full windows, with the lexicon prompt, Whisper wrote the first
    # regions' threats over the next ones and stopped before the last (bench/analysis_joined.py); shorter
    # windows give it less to repeat. A short call's one window stays whole (the encoder runs per window).
    customer_window_s: float = MAX_REGION_S
    # Whether Whisper writes its timestamp tokens (segments within a window). Word times come from the
    # aligner either way; without them short calls took a ninth less CPU time with the same CER, but on
    # joined 5-minute calls the customer's CER rose 0.249 -> 0.271 (bench variant "no-ts").
    timestamps: bool = True
    # Whether a channel's windows are shared out among the model's workers (see _batched).
    share_workers: bool = True


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


_fit = threading.local()  # frames the batched pipeline pads its windows to in this thread (None: 3000)
FIT_STEP_FRAMES = 500  # 5 s of mel frames


def _install_fit() -> None:
    """Let :data:`_fit` set the length faster-whisper's batched pipeline pads its features to.

    faster-whisper pads every window to 3000 frames (30 s) before the encoder; CTranslate2's encoder
    takes shorter input (its cost falls with it). Other threads, and channels not in ``fit_channels``, keep
    the 30 s windows. On the bench's development calls a fitted customer window with the lexicon
    prompt wrote prompt words nobody said (責任者) on 5 of 42 calls, against 1 with 30 s windows.
    """
    import faster_whisper.transcribe as fwt  # noqa: PLC0415 - faster-whisper (CTranslate2, ONNX) is the optional 'analysis' extra and takes seconds to import

    if getattr(fwt, "_akashi_fit", False):
        return
    original = fwt.pad_or_trim

    def pad_or_trim(array: Any, length: int = 3000, *, axis: int = -1) -> Any:
        return original(array, getattr(_fit, "frames", None) or length, axis=axis)

    fwt.pad_or_trim = pad_or_trim
    fwt._akashi_fit = True


def _fit_frames(clips: Sequence[dict[str, float]]) -> int:
    """Encoder frames for a batch of clips: the longest clip rounded up to :data:`FIT_STEP_FRAMES`."""
    longest = max((c["end"] - c["start"] for c in clips), default=MAX_REGION_S)
    return min(3000, max(FIT_STEP_FRAMES, math.ceil(longest * 100 / FIT_STEP_FRAMES) * FIT_STEP_FRAMES))


_pipes = threading.local()  # this thread's batched pipeline of each model


def _pipeline(model: Any) -> Any:
    """This thread's batched pipeline on ``model``.

    A pipeline keeps state through a call (the end of the last speech, which word times are held after), so
    analysis workers sharing one model each need their own: one pipeline for all let a second call reset
    what the first was using.
    """
    from faster_whisper import BatchedInferencePipeline  # noqa: PLC0415 - faster-whisper (CTranslate2, ONNX) is the optional 'analysis' extra and takes seconds to import

    pipes: dict[int, Any] = _pipes.__dict__.setdefault("by_model", {})
    pipe = pipes.get(id(model))
    if pipe is None:  # (the pipeline holds its model, so the id is never another model's)
        pipe = pipes[id(model)] = BatchedInferencePipeline(model=model)
    return pipe


def transcribe_channel(
    model: Any, audio16k: Float32, channel: str, language: str, opts: DecodeOptions
) -> list[Segment]:
    """Transcribe one channel (16 kHz mono float32) into timed utterances (see :func:`utterances`)."""
    regions: list[tuple[float, float]] = []
    packed: packing.Packed | None = None
    if opts.plain:
        segs, _info = model.transcribe(audio16k, language=language, word_timestamps=True)
    else:
        # Not on a mono ("mixed") recording: it holds the operator's notice too, and with the lexicon
        # prompt Whisper stopped after the notice and dropped the rest of the call (measured).
        prompt = fit_prompt_to(
            model, {"customer": opts.prompt_customer, "operator": opts.prompt_operator}.get(channel)
        )
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
            "word_timestamps": True,
        }
        if opts.vad:
            window = opts.customer_window_s if channel == "customer" else MAX_REGION_S
            regions = speech_regions(audio16k, window)
            if not regions:
                return []
            packed = packing.pack(audio16k, regions)
            if len(packed.clips) > 1 and window < MAX_REGION_S:  # one window of a short call stays whole
                packed = packing.pack(audio16k, regions, window)
            if opts.batched:
                fit = _fit_frames(packed.clips) if channel in opts.fit_channels else None
                segs = _batched(model, packed, opts, common, fit)
            else:
                flat = [t for c in packed.clips for t in (c["start"], c["end"])]
                segs, _info = model.transcribe(packed.audio, clip_timestamps=flat, **common)
        else:
            segs, _info = model.transcribe(audio16k, **common)
    words = rescue.unpiled(_call_words(segs, packed, channel), channel)
    if regions:  # regions Whisper left without a word (it may stop early) or wrote a repeat in: once more
        pieces = [(audio16k, a, b) for a, b in regions]
        words = rescue.rehear(
            regions,
            words,
            lambda idx: _recognise_regions(
                model, [pieces[i] for i in idx], opts, _unprompted(common), channel
            ),
            channel,
            repeats=channel != "operator",  # an operator says the same lines all day
        )
        words = rescue.unpiled(words, channel)  # (the second pass's words too)
    return utterances(words, regions, channel)


def _workers(model: Any) -> int:
    """How many recognitions ``model`` runs side by side (CTranslate2's workers, ``analysis.workers``)."""
    return max(1, int(getattr(getattr(model, "model", None), "num_workers", 1)))


def _batched(
    model: Any, packed: packing.Packed, opts: DecodeOptions, decode: dict[str, Any], fit: int | None
) -> list[Any]:
    """The recogniser's segments of a channel's packed windows, in window order.

    With ``share_workers`` and more than one worker on the model, the windows are shared out in turns among
    that many threads, so a long channel's windows also use the worker the other channel is done with (the
    customer's, heard with beam search, takes most of a long call's time). Each window is recognised on its
    own either way (no text is carried over), so the words are the same; only the word aligner's batches are
    made up otherwise, which moved word times and probabilities in their last digits (0.02 s at most on a
    10-minute call). ``fit``: the frames every window's encoder input is fitted to, or None for 30 s.
    """
    clips = packed.clips
    side = min(len(clips), _workers(model)) if opts.share_workers else 1
    # turns small enough that the threads finish together (two a thread), at most a batch each
    step = min(opts.batch_size, max(1, math.ceil(len(clips) / (2 * side))))
    turns = [clips[i : i + step] for i in range(0, len(clips), step)]

    if fit is not None:
        _install_fit()

    def run(turn: list[dict[str, float]]) -> list[Any]:
        _fit.frames = fit  # (per thread)
        try:  # the features are padded here; encoding and decoding happen as the segments are read
            segs, _info = _pipeline(model).transcribe(
                packed.audio,
                batch_size=opts.batch_size,
                without_timestamps=not opts.timestamps,
                clip_timestamps=turn,
                **decode,
            )
            return list(segs)
        finally:
            _fit.frames = None

    if side <= 1:
        return run(clips)
    with ThreadPoolExecutor(side) as pool:
        return [s for part in pool.map(run, turns) for s in part]


def _call_words(segs: Any, packed: packing.Packed | None, channel: str) -> list[Word]:
    """The recogniser's words on the call's timeline: mapped back through the packing, where there is one,
    without the words written in its silence (:func:`heard_in_speech`)."""
    if packed is None:
        return [Word(t0, t1, text, prob) for t0, t1, text, prob in _words(segs)]
    return [
        Word(a, b, text, prob)
        for _i, a, b, text, prob in packing.heard_in_speech(_words(segs), packed.spans, channel)
    ]


def _unprompted(decode: dict[str, Any]) -> dict[str, Any]:
    """The decoding settings of a second pass: without the lexicon prompt and hot words.

    A second pass recognises a few short regions padded out to a window, mostly silence: with the lexicon
    in the prompt, Whisper writes its words where nobody said them (measured on fitted windows: 責任者 on
    5 of 42 calls), and a flag no one said is worse in evidence than a sentence not transcribed.
    """
    return decode | {"initial_prompt": None, "hotwords": None}


def _words(segs: Any) -> list[tuple[float, float, str, float]]:
    """(start, end, text, probability) of every non-blank word the recogniser returned."""
    out: list[tuple[float, float, str, float]] = []
    for s in segs:
        timed = getattr(s, "words", None)
        if not timed:  # a recogniser without word times: the segment is its own (only) word
            timed = [SimpleNamespace(start=s.start, end=s.end, word=s.text, probability=1.0)]
        out += [(float(w.start), float(w.end), w.word, float(w.probability)) for w in timed if w.word.strip()]
    return out


def transcribe_joint(
    model: Any, channels: Sequence[tuple[str, Float32]], language: str, opts: DecodeOptions
) -> list[Segment]:
    """Transcribe several channels (16 kHz) in one pass: their speech regions packed together in time
    order, each word sent back to the channel and time of the region that holds it.

    Whisper sometimes stops before the last regions of a well-filled window; the regions that got no
    word are packed again and recognised in a second pass (:mod:`rescue`; a cough gets nothing twice).
    """
    regions = {name: speech_regions(audio) for name, audio in channels}
    audio_of = dict(channels)
    tagged = sorted((a, b, name) for name, rs in regions.items() for a, b in rs)
    if not tagged:
        return []
    pieces = [(audio_of[n], a, b) for a, b, n in tagged]
    decode: dict[str, Any] = {
        "language": language,
        "beam_size": opts.beam_size,
        "initial_prompt": fit_prompt_to(model, opts.prompt_joint),
        "condition_on_previous_text": False,
        "word_timestamps": True,
    }
    heard = _recognise_regions(model, pieces, opts, decode, "joint")
    heard += rescue.recover(
        rescue.unheard(len(tagged), heard),
        lambda idx: _recognise_regions(model, [pieces[i] for i in idx], opts, _unprompted(decode), "joint"),
        "joint",
        [(a, b) for a, b, _n in tagged],
    )
    words: dict[str, list[Word]] = {name: [] for name, _ in channels}
    for i, a, b, text, prob in heard:
        words[tagged[i][2]].append(Word(a, b, text, prob))
    out: list[Segment] = []
    for name, _ in channels:
        out += utterances(rescue.unpiled(words[name], name), regions[name], name)
    return out


def _recognise_regions(
    model: Any,
    pieces: Sequence[tuple[Float32, float, float]],
    opts: DecodeOptions,
    decode: dict[str, Any],
    what: str,
) -> list[tuple[int, float, float, str, float]]:
    """(region index, start and end on the call's timeline, text, probability) of every word heard in
    ``pieces`` packed into shared windows and recognised with the batched pipeline and ``decode``
    (language, beam, prompt and the like)."""
    packed = packing.pack_pieces(pieces)
    return packing.heard_in_speech(_words(_batched(model, packed, opts, decode, None)), packed.spans, what)


def speech_regions(audio16k: Float32, longest_s: float = MAX_REGION_S) -> list[tuple[float, float]]:
    """The VAD speech regions (seconds) of a channel, with the parameters the recogniser uses; none longer
    than ``longest_s`` (a window's length)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps  # noqa: PLC0415 - faster-whisper (CTranslate2, ONNX) is the optional 'analysis' extra and takes seconds to import

    vad = VadOptions(**VAD_PARAMETERS, max_speech_duration_s=longest_s)
    return [
        (r["start"] / WHISPER_RATE, r["end"] / WHISPER_RATE)
        for r in get_speech_timestamps(audio16k, vad, sampling_rate=WHISPER_RATE)
    ]


def utterances(
    words: Sequence[Word], regions: Sequence[tuple[float, float]], channel: str, max_gap_s: float = 0.6
) -> list[Segment]:
    """Cut one channel's timed words into utterances.

    A new utterance starts at a new VAD speech region and after a sentence end; without regions (no
    VAD) at a pause of more than ``max_gap_s``. Times stay on the call's timeline: the first word's
    start (not before its region) to the last word's end (not after it).
    """
    out: list[Segment] = []
    current: list[Word] = []
    current_region = -1

    def close() -> None:
        if not current:
            return
        start, end = current[0].start_s, current[-1].end_s
        if regions and current_region >= 0:
            a, b = regions[current_region]
            start = max(start, a)
            end = max(start, min(end, b))
        text = "".join(w.text for w in current).strip()
        if text:
            out.append(Segment(channel, round(start, 2), round(end, 2), text, tuple(current)))
        current.clear()

    for w in sorted(words, key=lambda x: x.start_s):
        region = rescue.region_of(w, regions) if regions else -1
        if current and (
            (regions and region != current_region)
            or (not regions and w.start_s - current[-1].end_s > max_gap_s)
            or current[-1].text.strip().endswith(_SENTENCE_END)
        ):
            close()
        current_region = region
        current.append(w)
    close()
    return out


REPEAT_UNIT_WORDS = 24  # the longest run of words checked for a decoding loop
_PUNCT_STRIP = "、。，．,.!?！？ 　"


def _drop_loop(words: list[Word]) -> list[Word]:
    """``words`` without the repeats of a decoding loop: a word or a run of words said more than
    three times in a row is kept three times (はいはいはい stays)."""
    out: list[Word] = []
    keys: list[str] = []
    for w in words:
        out.append(w)
        keys.append(w.text.strip(_PUNCT_STRIP))
        for n in range(1, min(REPEAT_UNIT_WORDS, len(keys) // 2) + 1):
            unit, reps = keys[-n:], 1
            while len(keys) >= (reps + 1) * n and keys[-(reps + 1) * n : -reps * n] == unit:
                reps += 1
            if reps > 3:
                del out[-n:], keys[-n:]
                break
    return out


def drop_loops(segments: Sequence[Segment]) -> list[Segment]:
    """Segments without the repeats of a decoding loop (Whisper on noisy speech may write one phrase
    or one kana over and over to the end of a window), per channel and across utterances. Segments
    without word times are kept as they are; a segment left without words is dropped."""
    kept: set[int] = set()
    for channel in {s.channel for s in segments}:
        heard = [w for s in segments if s.channel == channel for w in s.words]
        kept |= {id(w) for w in _drop_loop(heard)}
    out: list[Segment] = []
    for s in segments:
        if not s.words:
            out.append(s)
            continue
        words = tuple(w for w in s.words if id(w) in kept)
        if len(words) == len(s.words):
            out.append(s)
        elif words:
            out.append(
                Segment(
                    s.channel,
                    s.start_s,
                    max(s.start_s, words[-1].end_s),
                    "".join(w.text for w in words).strip(),
                    words,
                )
            )
    return out


def transcribe_audio(
    model: Any, audio: WavAudio, language: str, opts: DecodeOptions
) -> tuple[list[Segment], TranscriptionStats]:
    """Transcribe every channel of a recording; segments sorted by start time."""
    stats = TranscriptionStats(audio_s=audio.duration_s)
    started, cpu_started = time.perf_counter(), time.process_time()
    segments: list[Segment] = []
    voiced: list[tuple[str, Float32]] = []
    for index, name in enumerate(channel_names(audio.channels)):
        mono = resample(audio.channel(index), audio.rate, WHISPER_RATE)
        if not np.any(np.abs(mono) > 0.01):
            continue  # a silent channel: nothing to say, and Whisper would hallucinate
        if name in opts.denoise_channels:
            mono = denoise(mono)
        voiced.append((name, mono))
    if opts.joint and opts.vad and opts.batched and not opts.plain and len(voiced) > 1:
        segments = transcribe_joint(model, voiced, language, opts)
    else:
        # channels side by side where the model has workers for them (analysis.workers); CTranslate2 queues the rest
        side = min(len(voiced), _workers(model))

        def channel(v: tuple[str, Float32]) -> list[Segment]:
            return transcribe_channel(model, v[1], v[0], language, opts)

        if side > 1:
            with ThreadPoolExecutor(side) as pool:
                per_channel = list(pool.map(channel, voiced))
        else:
            per_channel = [channel(v) for v in voiced]
        segments = [s for segs in per_channel for s in segs]
    segments = drop_loops(segments)
    stats.processing_s = time.perf_counter() - started
    stats.cpu_s = time.process_time() - cpu_started
    segments.sort(key=lambda s: (s.start_s, s.channel))
    return segments, stats
