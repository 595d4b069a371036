"""Finding a Japanese font for the printable signs.

An embedded TrueType font is preferred, so the PDF prints the same everywhere. reportlab cannot
embed CFF-based OpenType (Noto Sans CJK, Source Han), so the search looks for TrueType-outline
Japanese fonts (IPAex, IPA, Takao, Meiryo, Yu Gothic, Droid Sans Fallback) and, when none is found,
falls back to reportlab's built-in CID font ``HeiseiKakuGo-W5``, which is not embedded: text still
extracts, but a viewer must supply the font itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont

from akashi.errors import AkashiError

CID_FALLBACK = "HeiseiKakuGo-W5"

# (path, sub-font index). Order: Japanese gothic designs first, generic CJK fallback last.
CANDIDATES: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf", 0),
    ("/usr/share/fonts/truetype/ipaexfont-gothic/ipaexg.ttf", 0),
    ("/usr/share/fonts/truetype/fonts-japanese-gothic.ttf", 0),
    ("/usr/share/fonts/opentype/ipafont-gothic/ipag.ttf", 0),
    ("/usr/share/fonts/truetype/takao-gothic/TakaoGothic.ttf", 0),
    ("/usr/share/fonts/truetype/takao-gothic/TakaoPGothic.ttf", 0),
    ("/Library/Fonts/ipaexg.ttf", 0),
    ("C:/Windows/Fonts/meiryob.ttc", 0),
    ("C:/Windows/Fonts/meiryo.ttc", 0),
    ("C:/Windows/Fonts/YuGothB.ttc", 0),
    ("C:/Windows/Fonts/msgothic.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
)


@dataclass(frozen=True)
class JapaneseFont:
    """A font registered with reportlab under ``name``; ``kind`` says whether it is embedded."""

    name: str
    kind: Literal["truetype", "cid"]
    path: str | None

    @property
    def embedded(self) -> bool:
        """Whether the glyphs travel inside the PDF."""
        return self.kind == "truetype"

    def describe(self) -> str:
        """One line for people: which font, and whether it is embedded."""
        if self.embedded:
            return f"埋め込みフォント / embedded font: {self.path}"
        return f"内蔵 CID フォント（埋め込みなし）/ built-in CID font, not embedded: {self.name}"

    def missing(self, text: str) -> str:
        """Characters of ``text`` this font has no glyph for (always empty for the CID font)."""
        if not self.embedded:
            return ""
        face = getattr(pdfmetrics.getFont(self.name), "face", None)
        cmap: dict[int, int] = getattr(face, "charToGlyph", {})
        return "".join(sorted({ch for ch in text if not ch.isspace() and ord(ch) not in cmap}))


def _register_ttf(path: str, index: int) -> JapaneseFont | None:
    name = f"AkashiJP-{Path(path).stem}-{index}"
    try:
        pdfmetrics.getFont(name)
        return JapaneseFont(name, "truetype", path)
    except KeyError:
        pass
    try:
        pdfmetrics.registerFont(TTFont(name, path, subfontIndex=index))
    except Exception:  # CFF outlines, broken files: try the next candidate
        return None
    return JapaneseFont(name, "truetype", path)


def find_japanese_font(path: str | Path | None = None) -> JapaneseFont:
    """Register and return a Japanese font: ``path`` if given, else the first usable candidate,
    else the built-in CID font. An explicit ``path`` that cannot be used is an error.
    """
    if path is not None:
        p = Path(path).expanduser()
        found = _register_ttf(str(p), 0) if p.is_file() else None
        if found is None:
            raise AkashiError(
                f"フォントを使えません（TrueType の .ttf/.ttc が必要です）: {p}",
                f"cannot use this font (a TrueType-outline .ttf/.ttc is needed): {p}",
            )
        return found
    for candidate, index in CANDIDATES:
        if Path(candidate).is_file():
            found = _register_ttf(candidate, index)
            if found is not None:
                return found
    try:
        pdfmetrics.getFont(CID_FALLBACK)
    except KeyError:
        pdfmetrics.registerFont(UnicodeCIDFont(CID_FALLBACK))
    return JapaneseFont(CID_FALLBACK, "cid", None)
