"""Decoder biasing must not put words in a caller's mouth.

A lexicon prompt that looked like the recording notice made Whisper write the notice (and drop the
operator's real one); a prompt of abuse words can make it write abuse into a polite call. These tests
run the shipped decoder settings on a generated polite complaint and check that nothing was invented.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from akashi.analysis.audio import parse_wav
from akashi.analysis.compliance import check_operator_notice
from akashi.analysis.detect import lexicon_findings
from akashi.analysis.lexicon import load_lexicon
from akashi.analysis.pipeline import decode_options
from akashi.analysis.prompts import prompt_from_terms
from akashi.analysis.testcalls import NOTICE
from akashi.analysis.transcribe import transcribe_audio
from akashi.config.analysis import AnalysisSettings

NOTICE_WORDS = ("録音", "通話", "向上", "品質", "ため", "させていただ")


def test_lexicon_prompt_does_not_look_like_a_notice() -> None:
    prompt = prompt_from_terms(load_lexicon().prompt_terms())
    assert prompt.endswith("。") and len(prompt) < 200
    assert not [w for w in NOTICE_WORDS if w in prompt], prompt


def test_joint_prompt_is_both_word_lists_and_no_notice_sentence() -> None:
    opts = decode_options(AnalysisSettings(joint_channels=True), load_lexicon())
    assert opts.joint and opts.prompt_customer is None and opts.prompt_operator is None
    assert opts.prompt_joint is not None
    assert "土下座" in opts.prompt_joint and "録音" in opts.prompt_joint
    assert NOTICE.rstrip("。") not in opts.prompt_joint and "させていただ" not in opts.prompt_joint
    assert opts.prompt_joint.count("。") == 1  # one list, not sentences
    plain = decode_options(
        AnalysisSettings(joint_channels=True, prompt_lexicon=False, prompt_operator=False), load_lexicon()
    )
    assert plain.prompt_joint is None


@pytest.mark.asr
@pytest.mark.tts
@pytest.mark.parametrize("joint", [False, True], ids=["per-channel", "joint"])
def test_shipped_decoder_invents_no_abuse_and_no_notice_on_a_polite_call(
    call_wav: Callable[[str], Path], whisper_model: Any, joint: bool
) -> None:
    lexicon = load_lexicon()
    audio = parse_wav(call_wav("polite_refund").read_bytes())
    segments, _stats = transcribe_audio(
        whisper_model, audio, "ja", decode_options(AnalysisSettings(joint_channels=joint), lexicon)
    )
    customer = "".join(s.text for s in segments if s.channel == "customer")
    assert customer, "the customer's words were dropped"
    assert lexicon_findings(segments, lexicon, ("customer",)) == [], customer
    assert not [w for w in ("録音", "サービス向上") if w in customer], customer
    heard = check_operator_notice(segments, NOTICE, 30.0)
    assert heard.check == "given", heard.detail
