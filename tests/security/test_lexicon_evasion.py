"""Evading the harassment lexicon and forging its new fields.

A caller who knows that abuse is flagged says it politely, in kana-like slurs the recogniser spells
oddly, or as a bare threat (殺すぞ, 家まで行くぞ); each must still be flagged, and the polite sentences that
share their verbs must not. An edited lexicon with forged patterns or spellings is refused by
``akashi lexicon check`` with the field at fault, and the shipped lexicon is untouched.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from akashi.analysis.detect import match_text
from akashi.analysis.lexicon import default_lexicon_text, load_lexicon

SHIPPED = default_lexicon_text()


@pytest.mark.parametrize(
    ("said", "category"),
    [
        ("殺しますよ", "脅迫"),  # a threat in polite form
        ("ぶっ殺しますからね", "脅迫"),
        ("ｺﾛｽｿﾞ", "脅迫"),  # half-width kana, as a transcript edited by hand might hold
        ("家まで行くぞ", "脅迫"),
        ("今から行くからな", "脅迫"),
        ("覚えとけよ", "脅迫"),
        ("とげざしろ", "土下座の要求"),  # what Whisper writes for 土下座 on 8 kHz speech
        ("ど下座しろよ", "土下座の要求"),
    ],
)
def test_evasions_are_still_flagged(said: str, category: str) -> None:
    assert category in {h["category"] for h in match_text(said, load_lexicon())}, said


def _check(path: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "akashi.cli.main", "lexicon", "check", str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(
    ("tail", "needle"),
    [
        ('\n[[patterns]]\ncategory = "存在しない"\nstems = ["殺す"]\nendings = ["ぞ"]\n', "category must"),
        ('\n[[patterns]]\ncategory = "脅迫"\nstems = "殺す"\nendings = ["ぞ"]\n', "stems must"),
        ('\n[[patterns]]\ncategory = "脅迫"\nstems = ["殺す"]\nendings = []\n', "endings must"),
        ('\n[[patterns]]\ncategory = "脅迫"\nstems = ["殺す"]\nendings = ["ぞ"]\nweight = 99\n', "weight"),
    ],
)
def test_forged_patterns_are_refused(tmp_path: Path, tail: str, needle: str) -> None:
    forged = tmp_path / "lexicon.toml"
    forged.write_text(default_lexicon_text() + tail, encoding="utf-8")
    out = _check(forged)
    assert out.returncode == 2, out.stdout
    assert needle in out.stderr
    assert default_lexicon_text() == SHIPPED  # the shipped lexicon is what it was


def test_forged_term_fields_are_refused(tmp_path: Path) -> None:
    forged = tmp_path / "lexicon.toml"
    text = default_lexicon_text().replace('heard_as = ["どげざ",', 'heard_as = [1, "どげざ",', 1)
    forged.write_text(text, encoding="utf-8")
    out = _check(forged)
    assert out.returncode == 2 and "heard_as" in out.stderr, out.stderr
    text = default_lexicon_text().replace(
        '{ term = "殺す", any_mood = true }', '{ term = "殺す", any_mood = "yes" }'
    )
    forged.write_text(text, encoding="utf-8")
    out = _check(forged)
    assert out.returncode == 2 and "any_mood" in out.stderr, out.stderr
