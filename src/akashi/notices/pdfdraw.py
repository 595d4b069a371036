"""Drawing helpers for the signs: Japanese line breaking, fitting type to a box, the camera pictogram."""

from __future__ import annotations

from dataclasses import dataclass

from reportlab.lib.colors import Color
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

LATIN = "Helvetica"
LATIN_BOLD = "Helvetica-Bold"


def latin_font(text: str, fallback: str, bold: bool = False) -> str:
    """Helvetica for text it can show (Latin-1), else ``fallback`` (the Japanese font)."""
    if all(ord(ch) < 256 for ch in text):
        return LATIN_BOLD if bold else LATIN
    return fallback


# Characters that may not start a line (kinsoku): they hang at the end of the previous one.
_NO_START = set("、。，．・：；？！ー）」』】〕〉》’”ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮ")
# Characters that may not end a line: they move to the next one.
_NO_END = set("（「『【〔〈《‘“")


def _is_word_char(ch: str) -> bool:
    """Latin letters, digits and katakana: runs of these are words that should not be split."""
    return (ch.isascii() and ch.isalnum()) or "\u30a1" <= ch <= "\u30fc"


def _is_hiragana(ch: str) -> bool:
    return "\u3041" <= ch <= "\u309f"


def _starts_word(prev: str, ch: str) -> bool:
    """A hiragana run (particles, endings) followed by kanji or katakana: a word starts at ``ch``."""
    return _is_hiragana(prev) and not _is_hiragana(ch) and ch not in _NO_START and ch.isalpha()


def _break_point(line: str, nxt: str) -> int:
    """Where to end an overflowing ``line`` before ``nxt``.

    In order: after a 、 or 。 in the last 60% of the line; at the end if ``nxt`` starts a word;
    before the last word that starts in the last 60%; else at the end (a hard break).
    """
    floor = (len(line) * 2) // 5
    for k in range(len(line) - 1, floor, -1):
        if line[k - 1] in "、。，．" and line[k] not in _NO_START:
            return k
    if line and (_starts_word(line[-1], nxt) or line[-1] in "、。"):
        return len(line)
    for k in range(len(line) - 1, floor, -1):
        if _starts_word(line[k - 1], line[k]) or (
            _is_word_char(line[k]) and not _is_word_char(line[k - 1]) and _is_word_char(nxt)
        ):
            return k
    return len(line)


def wrap_japanese(text: str, font: str, size: float, width: float) -> list[str]:
    """Break ``text`` into lines no wider than ``width`` (bar hanging punctuation), keeping kinsoku.

    Explicit newlines are kept. A line prefers to end after 、 or 。 in its second half, and runs
    of Latin letters, digits or katakana are not split where that can be avoided.
    """
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for ch in para:
            trial = line + ch
            if line and stringWidth(trial, font, size) > width and ch not in _NO_START:
                k = _break_point(line, ch)
                carry, line = line[k:], line[:k]
                while line and line[-1] in _NO_END:
                    carry, line = line[-1] + carry, line[:-1]
                lines.append(line.rstrip())
                line = carry + ch
            else:
                line = trial
        lines.append(line)
    return lines


@dataclass(frozen=True)
class Fitted:
    """Lines of text at a chosen font size."""

    lines: list[str]
    size: float

    def height(self, leading: float = 1.3) -> float:
        """Height of the block at ``leading`` times the size per line."""
        return len(self.lines) * self.size * leading


def fit_text(
    text: str,
    font: str,
    width: float,
    height: float,
    max_size: float,
    min_size: float,
    *,
    leading: float = 1.3,
    latin: bool = False,
) -> Fitted:
    """The largest size in [min_size, max_size] at which ``text`` fits ``width`` x ``height``.

    ``latin`` breaks between words instead of characters. At ``min_size`` the text is returned
    even if it overflows (a sign with small type beats no sign).
    """
    size = max_size
    while True:
        lines = simpleSplit(text, font, size, width) if latin else wrap_japanese(text, font, size, width)
        fitted = Fitted(lines, size)
        if size <= min_size or (
            fitted.height(leading) <= height
            and all(stringWidth(ln, font, size) <= width * 1.02 for ln in lines)
        ):
            return _balance(fitted, text, font, width, latin)
        size = max(min_size, size * 0.94)


def _balance(fitted: Fitted, text: str, font: str, width: float, latin: bool) -> Fitted:
    """Re-wrap at the narrowest width that keeps the line count, so no line is left with a word or two."""
    n = len(fitted.lines)
    if n < 2 or "\n" in text:
        return fitted

    def wrap(wd: float) -> list[str]:
        if latin:
            return list(simpleSplit(text, font, fitted.size, wd))
        return wrap_japanese(text, font, fitted.size, wd)

    lo, hi = width * 0.5, width
    best = fitted.lines
    for _ in range(12):
        mid = (lo + hi) / 2
        lines = wrap(mid)
        if len(lines) <= n:
            best, hi = lines, mid
        else:
            lo = mid
    return Fitted(best, fitted.size)


def draw_lines(
    c: Canvas,
    fitted: Fitted,
    font: str,
    x: float,
    top: float,
    *,
    align: str = "centre",
    leading: float = 1.3,
    bold: bool = False,
    color: Color | None = None,
) -> float:
    """Draw ``fitted`` with its first baseline just under ``top``; returns the y below the block.

    ``bold`` thickens the strokes (fill and stroke), for fonts that come in one weight only.
    """
    y = top - fitted.size
    for line in fitted.lines:
        # Render mode, colours and line width are graphics state: keep them to this line.
        c.saveState()
        t = c.beginText()
        t.setFont(font, fitted.size)
        if color is not None:
            t.setFillColor(color)
            c.setStrokeColor(color)
        if bold:
            t.setTextRenderMode(2)
            c.setLineWidth(fitted.size * 0.04)
        w = stringWidth(line, font, fitted.size)
        if align == "centre":
            t.setTextOrigin(x - w / 2, y)
        elif align == "right":
            t.setTextOrigin(x - w, y)
        else:
            t.setTextOrigin(x, y)
        t.textOut(line)
        c.drawText(t)
        c.restoreState()
        y -= fitted.size * leading
    last_baseline = y + fitted.size * leading
    return last_baseline - fitted.size * 0.3


def camera_pictogram(
    c: Canvas, cx: float, cy: float, r: float, *, ring: Color, field: Color, ink: Color
) -> None:
    """A security-camera pictogram from vector shapes: a disc, a wall mount, a body and a lens."""
    c.saveState()
    c.setFillColor(field)
    c.setStrokeColor(ring)
    c.setLineWidth(r * 0.08)
    c.circle(cx, cy, r * 0.96, stroke=1, fill=1)
    c.setFillColor(ink)
    c.setStrokeColor(ink)
    # Wall plate and arm on the right.
    c.rect(cx + r * 0.50, cy - r * 0.05, r * 0.12, r * 0.50, stroke=0, fill=1)
    c.setLineWidth(r * 0.07)
    c.setLineCap(1)
    c.line(cx + r * 0.52, cy + r * 0.20, cx + r * 0.18, cy + r * 0.10)
    # The body, tilted down towards the viewer's left, with a hood over the lens.
    c.translate(cx - r * 0.05, cy + r * 0.02)
    c.rotate(-18)
    c.roundRect(-r * 0.42, -r * 0.14, r * 0.72, r * 0.30, r * 0.06, stroke=0, fill=1)
    hood = c.beginPath()
    hood.moveTo(-r * 0.42, r * 0.16)
    hood.lineTo(-r * 0.58, r * 0.21)
    hood.lineTo(-r * 0.58, -r * 0.19)
    hood.lineTo(-r * 0.42, -r * 0.14)
    hood.close()
    c.drawPath(hood, stroke=0, fill=1)
    # Lens: a ring of the field colour on the front face.
    c.setFillColor(field)
    c.circle(-r * 0.50, r * 0.01, r * 0.075, stroke=0, fill=1)
    c.setFillColor(ink)
    c.circle(-r * 0.50, r * 0.01, r * 0.035, stroke=0, fill=1)
    c.restoreState()
