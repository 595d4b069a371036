"""The harassment lexicon: a TOML file of categories and terms, editable by admins.

The shipped default is ``lexicon_default.toml`` beside this module; ``analysis.lexicon`` names an
edited copy. Each term is compiled to its katakana reading once, when the lexicon is loaded.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from akashi.analysis.text import reading_of, to_katakana
from akashi.errors import AkashiError

CATEGORIES = (
    "暴言",
    "脅迫",
    "土下座の要求",
    "SNS・ネット晒し",
    "責任者・上司の要求",
    "金銭要求",
    "拘束",
    "差別的・性的な言動",
)
BEHAVIOUR = ("時間拘束", "リピート", "大声", "被せ発話")
NOTICE_MISSING = "notice_missing"


class LexiconError(AkashiError):
    """The lexicon file is invalid."""

    exit_code = 2


@dataclass(frozen=True)
class Term:
    """One lexicon entry with its compiled reading."""

    text: str
    reading: str
    weight: float
    alt_readings: tuple[str, ...] = ()
    any_mood: bool = False  # flagged however politely it is said (殺します is still a threat)

    @property
    def readings(self) -> tuple[str, ...]:
        """The given reading first, then the dictionary's reading of the text if it differs."""
        return (self.reading, *self.alt_readings)


@dataclass(frozen=True)
class Category:
    """A harassment category: ``word`` (abusive in any mood) or ``demand`` (weighed by mood)."""

    name: str
    kind: str
    severity: float
    terms: tuple[Term, ...]


@dataclass(frozen=True)
class Pattern:
    """A threat said as a verb plus a hard ending (殺す + ぞ, 行く + からな, 覚え + とけ), on readings.

    A stem matches from a token start; the reading right after it must begin with one of the endings.
    """

    category: str
    stems: tuple[str, ...]  # katakana readings
    endings: tuple[str, ...]
    weight: float = 1.0
    texts: tuple[str, ...] = ()  # the stems as written in the file (for display)


@dataclass(frozen=True)
class Lexicon:
    """A compiled lexicon."""

    categories: tuple[Category, ...]
    patterns: tuple[Pattern, ...] = ()
    fuzzy_threshold: float = 0.75
    flag_threshold: float = 0.5
    plain_weight: float = 0.6
    polite_weight: float = 0.2
    source: str = "default"

    def category(self, name: str) -> Category | None:
        """The category called ``name``."""
        return next((c for c in self.categories if c.name == name), None)

    def all_terms(self) -> list[str]:
        """Every term's text."""
        return [t.text for c in self.categories for t in c.terms]

    def prompt_terms(self, per_category: int = 4) -> list[str]:
        """The first terms of every category, round robin (a decoder prompt must stay short)."""
        out: list[str] = []
        for i in range(per_category):
            out += [c.terms[i].text for c in self.categories if i < len(c.terms)]
        return out


def _bad(where: str, why: str) -> LexiconError:
    return LexiconError(f"辞書 {where} が不正です: {why}", f"lexicon {where} is invalid: {why}")


def _num(doc: dict[str, Any], key: str, default: float, where: str) -> float:
    value = doc.get(key, default)
    if not isinstance(value, int | float) or not 0.0 <= float(value) <= 10.0:
        raise _bad(where, f"{key} must be a number between 0 and 10")
    return float(value)


def parse_lexicon(doc: dict[str, Any], source: str = "default") -> Lexicon:  # noqa: PLR0912 - validates the document's fields in turn, each with its own error message
    """Validate and compile a parsed lexicon TOML document."""
    cats = doc.get("categories")
    if not isinstance(cats, list) or not cats:
        raise _bad(source, "no [[categories]]")
    out: list[Category] = []
    seen: set[str] = set()
    for i, cat in enumerate(cats):
        where = f"{source} categories[{i}]"
        name = cat.get("name")
        if not isinstance(name, str) or not name:
            raise _bad(where, "name missing")
        if name in seen:
            raise _bad(where, f"duplicate category {name}")
        seen.add(name)
        kind = cat.get("kind", "demand")
        if kind not in ("word", "demand"):
            raise _bad(where, 'kind must be "word" or "demand"')
        terms: list[Term] = []
        for raw in cat.get("terms", []):
            if isinstance(raw, str):
                text, weight = raw, 1.0
            elif isinstance(raw, dict) and isinstance(raw.get("term"), str):
                text, weight = raw["term"], _num(raw, "weight", 1.0, where)
            else:
                raise _bad(where, f"term {raw!r} must be a string or {{term=..., weight=..., reading=...}}")
            given = raw.get("reading") if isinstance(raw, dict) else None
            auto = reading_of(text)
            reading = to_katakana(str(given)) if given else auto
            if not reading:
                raise _bad(where, f"term {text!r} has no reading")
            alts = [auto] if auto and auto != reading else []
            heard = raw.get("heard_as", []) if isinstance(raw, dict) else []
            if not isinstance(heard, list) or not all(isinstance(h, str) and h for h in heard):
                raise _bad(where, f"heard_as of {text!r} must be a list of strings")
            for h in heard:  # what the recogniser writes for the term (ど下座, とげざ): matched by reading
                r = reading_of(h)
                if r and r != reading and r not in alts:
                    alts.append(r)
            any_mood = raw.get("any_mood", False) if isinstance(raw, dict) else False
            if not isinstance(any_mood, bool):
                raise _bad(where, f"any_mood of {text!r} must be true or false")
            terms.append(Term(text, reading, weight, tuple(alts), any_mood))
        if not terms:
            raise _bad(where, "no terms")
        out.append(Category(name, kind, _num(cat, "severity", 1.0, where), tuple(terms)))
    return Lexicon(
        categories=tuple(out),
        patterns=_patterns(doc, source, seen),
        fuzzy_threshold=_num(doc, "fuzzy_threshold", 0.75, source),
        flag_threshold=_num(doc, "flag_threshold", 0.5, source),
        plain_weight=_num(doc, "plain_weight", 0.6, source),
        polite_weight=_num(doc, "polite_weight", 0.2, source),
        source=source,
    )


def _patterns(doc: dict[str, Any], source: str, categories: set[str]) -> tuple[Pattern, ...]:
    raw = doc.get("patterns", [])
    if not isinstance(raw, list):
        raise _bad(source, "patterns must be [[patterns]] tables")
    out: list[Pattern] = []
    for i, pat in enumerate(raw):
        where = f"{source} patterns[{i}]"
        if not isinstance(pat, dict) or pat.get("category") not in categories:
            raise _bad(where, "category must name one of the [[categories]]")
        lists: list[tuple[str, ...]] = []
        for key in ("stems", "endings"):
            items = pat.get(key)
            if not isinstance(items, list) or not items or not all(isinstance(x, str) and x for x in items):
                raise _bad(where, f"{key} must be a non-empty list of strings")
            readings = tuple(reading_of(x) or to_katakana(x) for x in items)
            if not all(readings):
                raise _bad(where, f"{key} has an entry without a reading")
            lists.append(readings)
        stems = pat["stems"]
        out.append(
            Pattern(str(pat["category"]), lists[0], lists[1], _num(pat, "weight", 1.0, where), tuple(stems))
        )
    return tuple(out)


def default_lexicon_text() -> str:
    """The shipped lexicon TOML."""
    return resources.files("akashi.analysis").joinpath("lexicon_default.toml").read_text(encoding="utf-8")


_cache: dict[tuple[str, float], Lexicon] = {}


def load_lexicon(path: str | Path | None = None) -> Lexicon:
    """Load (and cache per file version) the lexicon at ``path``, or the shipped default."""
    if not path:
        key = ("default", 0.0)
        if key not in _cache:
            _cache[key] = parse_lexicon(tomllib.loads(default_lexicon_text()), "default")
        return _cache[key]
    p = Path(path).expanduser()
    try:
        key = (str(p.resolve()), p.stat().st_mtime)
    except OSError as exc:
        raise LexiconError(f"辞書ファイルを読めません: {p}", f"cannot read lexicon file {p}: {exc}") from exc
    if key not in _cache:
        try:
            doc = tomllib.loads(p.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise _bad(str(p), str(exc)) from exc
        _cache[key] = parse_lexicon(doc, str(p))
    return _cache[key]
