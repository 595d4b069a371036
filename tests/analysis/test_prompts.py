"""Decoder prompts fit Whisper's prompt window by dropping their last terms, never their first."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from akashi.analysis.lexicon import load_lexicon
from akashi.analysis.prompts import PROMPT_TOKENS, fit_prompt, fit_prompt_to, joint_prompt, prompt_from_terms


def _long_terms(n: int) -> list[str]:
    """Terms a site might add to its lexicon: long phrases (full-width numbers: ASCII terms are skipped)."""
    return ["土下座しろ"] + [
        f"御社の評判を落とす書き込みをする{chr(0xFF10 + i // 10)}{chr(0xFF10 + i % 10)}" for i in range(n)
    ]


def test_a_prompt_within_the_budget_is_kept_as_it_is() -> None:
    prompt = prompt_from_terms(["馬鹿野郎", "土下座", "訴え"])
    assert fit_prompt(prompt, len, budget=len(prompt)) == prompt
    assert fit_prompt(None, len) is None


def test_an_overlong_prompt_loses_its_last_terms_and_keeps_its_first(
    caplog: pytest.LogCaptureFixture,
) -> None:
    prompt = prompt_from_terms(["馬鹿野郎", "土下座", "訴え", "慰謝料"])  # 馬鹿野郎、土下座、訴え、慰謝料。
    with caplog.at_level(logging.WARNING):
        fitted = fit_prompt(prompt, len, budget=12)
    assert fitted == "馬鹿野郎、土下座、訴え。"
    assert "last 1 of 4 terms" in caplog.text
    assert fit_prompt(prompt, len, budget=3) is None  # not even the first term fits


def test_joint_prompt_is_one_list() -> None:
    assert joint_prompt("馬鹿、土下座。", "録音。") == "馬鹿、土下座、録音。"
    assert joint_prompt(None, None) is None


@pytest.mark.asr
def test_a_long_custom_lexicon_keeps_its_first_terms_in_the_decoder(whisper_model: Any) -> None:
    """faster-whisper keeps the *last* tokens of an overlong prompt; fitted, the first term is what it reads."""
    from faster_whisper.tokenizer import Tokenizer

    tok = Tokenizer(whisper_model.hf_tokenizer, True, task="transcribe", language="ja")

    def read_by_decoder(prompt: str) -> str:
        tokens = whisper_model.get_prompt(tok, previous_tokens=tok.encode(prompt))
        return str(
            tok.decode(tokens[1 : tokens.index(tok.sot)])
        )  # between <|startofprev|> and <|startoftranscript|>

    long = prompt_from_terms(_long_terms(39))
    assert len(tok.encode(" " + long)) > PROMPT_TOKENS
    assert not read_by_decoder(long).strip().startswith("土下座しろ")  # what an unfitted prompt would lose
    fitted = fit_prompt_to(whisper_model, long)
    assert fitted is not None and fitted.startswith("土下座しろ、") and fitted.endswith("。")
    assert len(tok.encode(" " + fitted)) <= PROMPT_TOKENS
    assert read_by_decoder(fitted).strip() == fitted
    shipped = prompt_from_terms(load_lexicon().prompt_terms())
    assert fit_prompt_to(whisper_model, shipped) == shipped  # the shipped lexicon's prompt fits whole
