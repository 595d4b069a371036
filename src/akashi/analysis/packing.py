"""VAD packing: a channel's speech regions laid end to end, with a silence between them, in windows for the
recogniser, and the recogniser's word times mapped back to the call's timeline.

Pure: no model and no I/O. The silence keeps Whisper from pulling the first word of a region back into the one
before (as it does when speech is butted together); every packed time maps back exactly, and words Whisper
wrote in that silence are told apart from the words of a region (:func:`heard_in_speech`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from akashi.analysis.audio import Float32

WHISPER_RATE = 16000
MAX_REGION_S = 30.0  # faster-whisper's chunk length: a longer VAD region is cut there
PACK_GAP_S = 1.0  # silence put between packed speech regions
SILENT_WORD_S = 0.75  # a word whose middle lies further than this outside every packed region is not kept

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Packed:
    """A channel's speech regions laid end to end with short silences between them (VAD packing)."""

    audio: Float32
    spans: list[
        tuple[float, float, float]
    ]  # per region: start in the packed audio, start in the call, length
    clips: list[dict[str, float]]  # windows of at most window_s (30 s) of packed audio, whole regions


def pack(audio16k: Float32, regions: Sequence[tuple[float, float]], window_s: float = MAX_REGION_S) -> Packed:
    """Pack ``regions`` of ``audio16k`` with :data:`PACK_GAP_S` of silence between them, in windows of at
    most ``window_s`` (no region may be longer).

    The silence keeps the recogniser from pulling the first word of a region back into the one before
    (as it does when speech is butted together); the spans map every packed time back exactly.
    """
    return pack_pieces([(audio16k, a, b) for a, b in regions], window_s)


def pack_pieces(pieces: Sequence[tuple[Float32, float, float]], window_s: float = MAX_REGION_S) -> Packed:
    """Pack regions ``(audio, start, end)``, possibly of different channels, in the order given, in windows
    of at most ``window_s``."""
    gap = np.zeros(int(PACK_GAP_S * WHISPER_RATE), dtype=np.float32)
    parts: list[Float32] = []
    spans: list[tuple[float, float, float]] = []
    clips: list[dict[str, float]] = []
    pos = 0
    clip_start = 0
    for audio16k, a, b in pieces:
        piece = audio16k[int(a * WHISPER_RATE) : int(b * WHISPER_RATE)]
        # A clip keeps the silence behind its last region (without it Whisper drops the last
        # utterance) and stays within 30 s: a longer clip made the recogniser warn and cut it, and a
        # 5-minute call's bench run with such clips died with heap corruption (cause not pinned down).
        limit = clip_start + int(window_s * WHISPER_RATE)
        if pos > clip_start and pos + len(piece) + len(gap) > limit:
            clips.append({"start": clip_start / WHISPER_RATE, "end": min(pos, limit) / WHISPER_RATE})
            clip_start = pos
        spans.append((pos / WHISPER_RATE, a, len(piece) / WHISPER_RATE))
        parts += [piece, gap]
        pos += len(piece) + len(gap)
    limit = clip_start + int(window_s * WHISPER_RATE)
    clips.append({"start": clip_start / WHISPER_RATE, "end": min(pos, limit) / WHISPER_RATE})
    return Packed(np.concatenate(parts) if parts else gap, spans, clips)


def unpack(t0: float, t1: float, spans: Sequence[tuple[float, float, float]]) -> tuple[float, float]:
    """Times in the packed audio back to the call's timeline.

    The word belongs to the region that holds its middle; a word in a gap to the nearer region.
    """
    return locate(t0, t1, spans)[1:]


def locate(t0: float, t1: float, spans: Sequence[tuple[float, float, float]]) -> tuple[int, float, float]:
    """The packed region a word belongs to (see :func:`unpack`) and its times on the call's timeline."""
    best, _dist = nearest(t0, t1, spans)
    return best, *_clamped(t0, t1, spans[best])


def _clamped(t0: float, t1: float, span: tuple[float, float, float]) -> tuple[float, float]:
    """Packed times on the call's timeline, within the region ``span`` (packed start, call start, length)."""
    p, c, n = span
    return c + min(max(t0 - p, 0.0), n), c + min(max(t1 - p, 0.0), n)


def nearest(t0: float, t1: float, spans: Sequence[tuple[float, float, float]]) -> tuple[int, float]:
    """The packed region nearest the middle of a word, and how far outside it the middle lies (0 inside)."""
    return nearest_interval((t0 + t1) / 2, [(p, p + n) for p, _c, n in spans])


def nearest_interval(t: float, intervals: Sequence[tuple[float, float]]) -> tuple[int, float]:
    """The index of the first of ``intervals`` (start, end) that holds ``t``, or else of the nearest one, and
    how far outside it ``t`` lies (0 inside; index 0 and infinity where there are none)."""
    best, dist = 0, float("inf")
    for i, (a, b) in enumerate(intervals):
        d = 0.0 if a <= t <= b else min(abs(t - a), abs(t - b))
        if d < dist:
            best, dist = i, d
            if d == 0.0:
                break
    return best, dist


def heard_in_speech(
    raw: Sequence[tuple[float, float, str, float]], spans: Sequence[tuple[float, float, float]], what: str
) -> list[tuple[int, float, float, str, float]]:
    """(region index, start and end on the call's timeline, text, probability) of the words of ``raw`` (times
    in the packed audio), without the words Whisper wrote in the silence of the packing.

    At the end of a window Whisper may write over again what it heard before, with the word times forced
    past the last speech, into the silence put after it or beyond the window's end: on a caller who said
    the same lines twice, a whole threat came out there, word times of 0 s clamped onto the end of a region
    where nobody said it. A word whose middle lies more than :data:`SILENT_WORD_S` outside every region was
    heard in silence and is left out (logged at debug level); a region left without a word is heard again
    (:mod:`rescue`).
    """
    out: list[tuple[int, float, float, str, float]] = []
    silent: list[str] = []
    for t0, t1, text, prob in raw:
        i, dist = nearest(t0, t1, spans)
        if dist > SILENT_WORD_S:
            silent.append(text)
            continue
        out.append((i, *_clamped(t0, t1, spans[i]), text, prob))
    if silent:
        log.debug(
            "%s: %d words written in the silence between regions left out: %s",
            what,
            len(silent),
            "".join(silent),
        )
    return out
