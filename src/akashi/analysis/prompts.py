"""Decoder prompts: the lexicon's words for the customer channel, a reception's words for the operator's.

Whisper reads at most ``PROMPT_TOKENS`` tokens of an ``initial_prompt``, and faster-whisper keeps the
*last* ones of a longer prompt. A lexicon's word list puts its most important terms first (the first
terms of every category, round robin), so a prompt that ran over would lose exactly those. A prompt
is therefore cut at whole terms from its end (:func:`fit_prompt`) before it reaches the decoder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger(__name__)

# The operator channel's prompt: words of a reception and of its notice as a list. On the bench's
# development calls it took the operator's CER from 0.29 to 0.21 and the notice check from 23 to 32 of
# 32 right (no notice invented where none was said); the notice's own sentence as a prompt made
# Whisper drop the notice instead.
OPERATOR_PROMPT = "お電話ありがとうございます、担当、承知いたしました、申し訳ございません、サービス向上、品質向上、通話、録音。"

PROMPT_TOKENS = 223  # Whisper's max_length // 2 - 1: what faster-whisper keeps of a prompt
_SEP, _END = "、", "。"
_warned: set[str] = set()


def prompt_from_terms(terms: Sequence[str], limit: int = 40) -> str:
    """An ``initial_prompt`` of domain words, most important first (see :func:`fit_prompt`)."""
    seen: list[str] = []
    for t in terms:
        if t not in seen and not any(ord(c) < 128 for c in t):
            seen.append(t)
    return _SEP.join(seen[:limit]) + _END


def joint_prompt(customer: str | None, operator: str | None) -> str | None:
    """One prompt for windows that hold both channels: the two word lists as one list (never a
    sentence of the notice)."""
    parts = [p.rstrip(_END) for p in (customer, operator) if p]
    return _SEP.join(parts) + _END if parts else None


def fit_prompt(prompt: str | None, tokens: Callable[[str], int], budget: int = PROMPT_TOKENS) -> str | None:
    """``prompt`` with terms dropped from its end until ``tokens(prompt)`` is within ``budget``.

    ``tokens`` counts what the decoder will see (:func:`fit_prompt_to`). None if not even the first
    term fits.
    """
    if prompt is None or tokens(prompt) <= budget:
        return prompt
    terms = prompt.rstrip(_END).split(_SEP)
    kept = len(terms)
    while kept and tokens(_SEP.join(terms[:kept]) + _END) > budget:
        kept -= 1
    if prompt not in _warned:  # once per prompt, not once per call
        _warned.add(prompt)
        log.warning(
            "認識プロンプトが長すぎるため、後ろの %d 語を外しました (Whisper は %d トークンまで) / "
            "decoder prompt too long: its last %d of %d terms were left out (Whisper reads %d tokens)",
            len(terms) - kept, budget, len(terms) - kept, len(terms), budget,
        )  # fmt: skip
    return _SEP.join(terms[:kept]) + _END if kept else None


def fit_prompt_to(model: Any, prompt: str | None) -> str | None:
    """``prompt`` cut to what ``model`` (a ``WhisperModel``) reads, counted with its own tokenizer.

    Counted as faster-whisper's sequential decoder encodes it (" " and the stripped prompt); its batched
    pipeline encodes the prompt as given, which makes the same tokens or one fewer. A stand-in model
    without a tokenizer gets the prompt as it is.
    """
    tokenizer = getattr(model, "hf_tokenizer", None)
    if prompt is None or tokenizer is None:
        return prompt
    return fit_prompt(prompt, lambda p: len(tokenizer.encode(" " + p.strip(), add_special_tokens=False).ids))
