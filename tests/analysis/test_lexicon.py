"""Lexicon files: validation, custom files, reading overrides, reload on change."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from akashi.analysis.detect import match_text
from akashi.analysis.lexicon import LexiconError, default_lexicon_text, load_lexicon, parse_lexicon


def test_default_parses_and_compiles_readings() -> None:
    lex = parse_lexicon(tomllib.loads(default_lexicon_text()))
    money = lex.category("金銭要求")
    assert money is not None
    yokose = next(t for t in money.terms if t.text == "金をよこせ")
    assert yokose.reading == "カネヲヨコセ"  # given in the file
    assert "キンヲヨコセ" in yokose.readings  # and the dictionary's guess kept beside it
    assert lex.category("なし") is None


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({}, r"no \[\[categories\]\]"),
        ({"categories": [{"name": "x", "kind": "odd", "terms": ["a"]}]}, "kind"),
        ({"categories": [{"name": "x", "terms": []}]}, "no terms"),
        ({"categories": [{"name": "x", "terms": [1]}]}, "must be a string"),
        ({"categories": [{"name": "x", "terms": ["あ"]}, {"name": "x", "terms": ["い"]}]}, "duplicate"),
        ({"categories": [{"name": "x", "terms": ["あ"], "severity": -1}]}, "severity"),
        ({"categories": [{"terms": ["あ"]}]}, "name missing"),
    ],
)
def test_invalid_lexicons_are_refused(doc: dict[str, object], needle: str) -> None:
    with pytest.raises(LexiconError, match=needle):
        parse_lexicon(doc, "test.toml")


def test_custom_file_is_used_and_reloaded_after_edit(tmp_path: Path) -> None:
    path = tmp_path / "lex.toml"
    path.write_text('[[categories]]\nname = "暴言"\nkind = "word"\nterms = ["ポンコツ"]\n', encoding="utf-8")
    lex = load_lexicon(path)
    assert [h["category"] for h in match_text("このポンコツが", lex)] == ["暴言"]
    assert match_text("土下座しろ", lex) == []
    path.write_text('[[categories]]\nname = "土下座の要求"\nterms = ["土下座"]\n', encoding="utf-8")
    os.utime(path, (1, 1))  # a different mtime: the cache must not serve the old file
    assert [h["category"] for h in match_text("土下座しろ", load_lexicon(path))] == ["土下座の要求"]


def test_unreadable_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(LexiconError, match="cannot read"):
        load_lexicon(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[categories]\n", encoding="utf-8")
    with pytest.raises(LexiconError, match="invalid"):
        load_lexicon(bad)


def test_lexicon_cli(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    path = tmp_path / "lex.toml"
    path.write_text(default_lexicon_text(), encoding="utf-8")
    cmd = [sys.executable, "-m", "akashi.cli.main"]
    out = subprocess.run(
        [
            *cmd,
            "lexicon",
            "check",
            str(path),
            "--text",
            "責任者を出せ",
            "--text",
            "責任者の方はいますか",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    data = json.loads(out.stdout)
    assert data["ok"] is True
    assert [h["category"] for h in data["hits"]["責任者を出せ"]] == ["責任者・上司の要求"]
    assert data["hits"]["責任者の方はいますか"] == []
    out = subprocess.run(
        [*cmd, "lexicon", "show", str(path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert len(json.loads(out.stdout)["categories"]) == 8
    path.write_text('[[categories]]\nname = "x"\nkind = "odd"\nterms = ["あ"]\n', encoding="utf-8")
    out = subprocess.run(
        [*cmd, "lexicon", "check", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 2
    assert "kind must be" in out.stderr
