"""A second pass for the VAD speech regions the recogniser left without a word.

Whisper may stop writing before the end of a well-filled 30-second window (a known behaviour): on a
mono μ-law call the last sentence of a window, 「そのようなことはおやめください。」, got no text while
the VAD had found it. An evidence-grade transcript must not lose a region of speech silently, so every
region that received no word is recognised again, the missing regions of a channel (or of a joint pass)
packed into windows of their own, and the words heard there are merged in on the call's timeline. A
region that gets nothing twice stays empty (a cough or line noise has no words) and is logged at debug
level. Where every region got a word nothing more is run.

Whisper may also write what it heard in one region over again in the next ones of its window: on calls
joined into five minutes, a call's customer came out as the previous call's threat, twice, with the word times
forced onto the second call's speech (a threat put at a time nobody said it). On the customer's channel a
region whose words only repeat what the :data:`REPEAT_LOOKBACK` regions before it hold is heard again in the
second pass. Where it hears other words there, they replace the repeat; where it hears much the same words
again (a caller who really said it twice), the first pass's words stay. The operator's channel is not checked:
an operator says the same lines all day, and hearing them again alone made its transcript worse
(bench/analysis_joined.py).

Words the aligner gave no time (a pile of them at one instant: a sentence written where the audio holds
something else) are left out before the second pass (:func:`unpiled`), so a region they alone covered is heard
again.

The helpers here are pure: which regions are uncovered or repeated, and the merge of a second pass into the
first; the recogniser is passed in as a function (``transcribe`` owns the model).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

from akashi.analysis.detect import Word
from akashi.analysis.packing import nearest_interval
from akashi.analysis.text import levenshtein, normalise

log = logging.getLogger(__name__)

# A word heard in a region: (region index, start and end on the call's timeline, text, probability).
Heard = tuple[int, float, float, str, float]
# Recognises the regions of the given indices again; the indices of what it returns count in the list
# it was given (0 is its first region), as a recognition of just those regions would number them.
Recognise = Callable[[Sequence[int]], Sequence[Heard]]


def uncovered(regions: Sequence[tuple[float, float]], words: Iterable[Word]) -> list[int]:
    """Indices of ``regions`` (seconds, on the call's timeline) that no word touches.

    A word is clamped into its region when it is mapped back from the packed audio, so a region holds
    its words; a word on the edge of two touching regions covers both (better no second pass than the
    same word twice).
    """
    spans = [(w.start_s, w.end_s) for w in words]
    return [i for i, (a, b) in enumerate(regions) if not any(s <= b and a <= e for s, e in spans)]


REPEAT_LOOKBACK = 10  # regions before one whose words it may only repeat (about a 30 s window of them)
REPEAT_MIN_CHARS = 6  # shorter texts (はい、そうです) are said again for real too often to check


def region_of(word: Word, regions: Sequence[tuple[float, float]]) -> int:
    """The index of the region that holds the middle of ``word`` (the nearest one if none does)."""
    return nearest_interval((word.start_s + word.end_s) / 2, regions)[0]


def _plain(regions: Sequence[tuple[float, float]], words: Iterable[Word]) -> list[str]:
    """Each region's words as one text, letters and digits only."""
    texts = [""] * len(regions)
    for w in sorted(words, key=lambda x: x.start_s):
        texts[region_of(w, regions)] += w.text
    return ["".join(c for c in normalise(t) if c.isalnum()) for t in texts]


def repeated(regions: Sequence[tuple[float, float]], words: Iterable[Word]) -> list[int]:
    """Indices of ``regions`` whose words, punctuation aside, are all found in the words of the
    :data:`REPEAT_LOOKBACK` regions before them (at least :data:`REPEAT_MIN_CHARS` characters)."""
    return _repeats(_plain(regions, words))


def _repeats(plain: Sequence[str]) -> list[int]:
    """:func:`repeated` on the regions' texts as :func:`_plain` makes them."""
    return [
        i
        for i, t in enumerate(plain)
        if len(t) >= REPEAT_MIN_CHARS and t in "".join(plain[max(0, i - REPEAT_LOOKBACK) : i])
    ]


def rehear(
    regions: Sequence[tuple[float, float]],
    words: Sequence[Word],
    recognise: Recognise,
    what: str,
    *,
    repeats: bool = True,
) -> list[Word]:
    """``words`` of a first pass over ``regions`` with a second pass over the regions no word touches
    and, with ``repeats``, the regions that only repeat the ones before them (see the module's notes)."""
    first = _plain(regions, words)
    suspect = _repeats(first) if repeats else []
    missing = sorted(set(uncovered(regions, words)) | set(suspect))
    again = recover(missing, recognise, what, regions)
    heard = _plain(regions, [Word(a, b, text, prob) for _i, a, b, text, prob in again])
    # a repeat heard again as much the same words was said twice: the first pass (prompted, in context) stays
    said_twice = {i for i in suspect if heard[i] and levenshtein(first[i], heard[i]) <= len(first[i]) // 2}
    redone = {h[0] for h in again} & (set(suspect) - said_twice)
    if redone:
        log.debug("%s: regions %s heard again replace a repeat", what, sorted(redone))
    kept = [w for w in words if region_of(w, regions) not in redone]
    return kept + [Word(a, b, text, prob) for i, a, b, text, prob in again if i not in said_twice]


PILE_S = 0.02  # a word shorter than this, this close to the one before it, was given no time of its own
PILE_CHARS = 6  # letters in a pile of such words that no speech could hold


def unpiled(words: Sequence[Word], what: str) -> list[Word]:
    """``words`` without piles: runs of words with no length (shorter than :data:`PILE_S`) at one instant, of
    :data:`PILE_CHARS` letters or more.

    Whisper may write a sentence it heard before again where the audio holds something else, and the word
    aligner, finding no speech for it, gives every word the same instant: on joined calls a whole threat of the
    call before came out at 8.75-8.75 s, over a call that never said it. Six letters cannot be said in no time;
    a single word of no length (an aligner's rounding) stays. Dropped piles are logged at debug level with
    ``what``; a region left without a word is heard again (:func:`rehear`).
    """
    out: list[Word] = []
    run: list[Word] = []

    def close() -> None:
        letters = sum(c.isalnum() for w in run for c in normalise(w.text))
        if letters >= PILE_CHARS:
            log.debug("%s: %d words given no time at %.2fs left out: %s", what, len(run), run[0].start_s,
                      "".join(w.text for w in run))  # fmt: skip
        else:
            out.extend(run)
        run.clear()

    for w in sorted(words, key=lambda x: x.start_s):
        if w.end_s - w.start_s < PILE_S and (not run or w.start_s - run[-1].end_s < PILE_S):
            run.append(w)
            continue
        close()
        if w.end_s - w.start_s < PILE_S:
            run.append(w)
        else:
            out.append(w)
    close()
    return out


def unheard(count: int, heard: Iterable[Heard]) -> list[int]:
    """Indices among ``count`` regions that no heard word belongs to."""
    held = {h[0] for h in heard}
    return [i for i in range(count) if i not in held]


def merge(heard: Sequence[Heard], missing: Sequence[int], again: Iterable[Heard]) -> list[Heard]:
    """``heard`` with the words of a second pass over the ``missing`` regions, whose indices count in
    ``missing``, renumbered to the regions of the first pass; ordered by time."""
    out = list(heard) + [(missing[j], a, b, text, prob) for j, a, b, text, prob in again]
    out.sort(key=lambda h: (h[1], h[2]))
    return out


def recover(
    missing: Sequence[int],
    recognise: Recognise,
    what: str,
    regions: Sequence[tuple[float, float]] = (),
) -> list[Heard]:
    """The words of a second pass over the ``missing`` regions, numbered as the first pass's regions.

    No recogniser call where nothing is missing. Regions that get nothing again are logged at debug
    level with ``what`` (a channel's name) and, where ``regions`` is given, their times.
    """
    if not missing:
        return []
    again = merge([], missing, recognise(missing))
    held = {h[0] for h in again}
    still = [i for i in missing if i not in held]
    if still:
        where = [f"{regions[i][0]:.2f}-{regions[i][1]:.2f}s" if regions else str(i) for i in still]
        log.debug("%s: no words in speech regions %s after a second pass", what, ", ".join(where))
    return again
