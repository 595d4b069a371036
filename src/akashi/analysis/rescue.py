"""A second pass for the VAD speech regions the recogniser left without a word.

Whisper may stop writing before the end of a well-filled 30-second window (a known behaviour): on a
mono μ-law call the last sentence of a window, 「そのようなことはおやめください。」, got no text while
the VAD had found it. An evidence-grade transcript must not lose a region of speech silently, so every
region that received no word is recognised again, the missing regions of a channel (or of a joint pass)
packed into windows of their own, and the words heard there are merged in on the call's timeline. A
region that gets nothing twice stays empty (a cough or line noise has no words) and is logged at debug
level. Where every region got a word nothing more is run.

The helpers here are pure: which regions are uncovered, and the merge of a second pass into the first;
the recogniser is passed in as a function (``transcribe`` owns the model).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

from akashi.analysis.detect import Word

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
