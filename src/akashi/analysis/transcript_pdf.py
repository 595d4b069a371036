"""Drawing the readable transcript as an A4 PDF (reportlab), Japanese font embedded when installed.

Layout: a title, the call's facts, the machine-made notice, the recogniser and the notice check, then
one row per utterance (time, speaker, text wrapped with kinsoku) with its flags beneath in red. Every
page repeats in its footer that the text is machine-made and the recording is the evidence.
"""

from __future__ import annotations

from typing import IO

from reportlab.lib.colors import Color, black
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from akashi.analysis.transcript_model import MACHINE_MADE, SPEAKERS, Line, TranscriptDoc, flag_text, offset
from akashi.notices.fonts import find_japanese_font
from akashi.notices.pdfdraw import wrap_japanese

MARGIN = 42.0
BODY = 9.0
SMALL = 7.0
LEADING = 1.35
TIME_W = 118.0
WHO_W = 70.0
RED = Color(0.75, 0.05, 0.05)
GREY = Color(0.35, 0.35, 0.35)
CUSTOMER_BG = Color(0.96, 0.96, 1.0)
FOOTER_ROOM = MARGIN + 30  # the lowest a line may go: below it is the footer


class _Pages:
    """A canvas with a cursor that starts a new page (with its footer) when a block does not fit."""

    def __init__(self, out: IO[bytes], doc: TranscriptDoc, font: str) -> None:
        self.c = Canvas(out, pagesize=A4, pageCompression=1)
        self.c.setTitle(f"通話 {doc.call_id} の文字起こし（機械作成） / transcript of call {doc.call_id}")
        self.c.setAuthor("Akashi")
        self.c.setCreator("Akashi evidence package")
        self.doc = doc
        self.font = font
        self.width, self.height = A4
        self.page = 1
        self.y = self.height - MARGIN

    def _footer(self) -> None:
        c = self.c
        c.setFillColor(GREY)
        y = MARGIN - 14
        for text in reversed(
            self.wrap(f"{MACHINE_MADE[0]} {MACHINE_MADE[1]}", SMALL, self.width - 2 * MARGIN)
        ):
            c.setFont(self.font, SMALL)
            c.drawString(MARGIN, y, text)
            y += SMALL * LEADING
        c.setFont(self.font, SMALL)
        c.drawRightString(
            self.width - MARGIN, MARGIN - 26, f"通話 / call {self.doc.call_id} — {self.page} ページ / page"
        )
        c.setFillColor(black)

    def room(self, needed: float) -> None:
        """Start a new page unless ``needed`` points fit above the footer."""
        if self.y - needed < FOOTER_ROOM:
            self._footer()
            self.c.showPage()
            self.page += 1
            self.y = self.height - MARGIN

    def wrap(self, text: str, size: float, width: float) -> list[str]:
        """Lines of ``text`` no wider than ``width``."""
        return [ln for ln in wrap_japanese(text, self.font, size, width)] or [""]

    def para(self, text: str, size: float = BODY, indent: float = 0.0, color: Color = black) -> None:
        """A wrapped paragraph at the cursor (split across pages line by line)."""
        for ln in self.wrap(text, size, self.width - 2 * MARGIN - indent):
            self.room(size * LEADING)
            self.c.setFillColor(color)
            self.c.setFont(self.font, size)
            self.y -= size * LEADING
            self.c.drawString(MARGIN + indent, self.y, ln)
        self.c.setFillColor(black)

    def gap(self, points: float) -> None:
        """Vertical space."""
        self.y -= points

    def finish(self) -> None:
        """Footer of the last page, then save."""
        self._footer()
        self.c.save()


def draw_transcript(out: IO[bytes], doc: TranscriptDoc, font_path: str | None = None) -> None:
    """Write ``doc`` as a PDF to ``out``."""
    font = find_japanese_font(font_path).name
    p = _Pages(out, doc, font)
    p.para("通話の文字起こし（機械作成）", 15)
    p.para("Call transcript (machine-made)", 11, color=GREY)
    p.gap(6)
    for label, value in doc.header:
        p.para(f"{label}: {value}")
    p.gap(6)
    p.para("注意 / Note", 10)
    p.para(MACHINE_MADE[0], indent=8, color=RED)
    p.para(MACHINE_MADE[1], indent=8, color=RED)
    p.gap(6)
    for label, value in doc.recogniser:
        p.para(f"{label}: {value}")
    p.gap(4)
    p.para(f"録音告知の確認 / Recording notice check: {doc.notice[0]}")
    p.para(doc.notice[1], indent=8, color=GREY)
    p.gap(4)
    p.para("フラグ（発話外） / Flags outside utterances:")
    for f in doc.other_flags:
        p.para(f"{doc.clock(f.start_s)}  {flag_text(f)}", indent=8, color=RED)
    if not doc.other_flags:
        p.para("なし / none", indent=8)
    p.gap(8)
    p.para(
        "発話 / Utterances — 時刻は JST、括弧内は録音の先頭からの時間 / JST, offset into the recording", 10
    )
    p.gap(4)
    if not doc.lines:
        p.para("（発話は認識されませんでした / no speech was recognised）")
    text_w = p.width - 2 * MARGIN - TIME_W - WHO_W
    for ln in doc.lines:
        rows = [(t, black) for t in p.wrap(ln.text, BODY, text_w)]
        for f in ln.flags:
            rows += [
                (t, RED) for t in p.wrap(f"★ {flag_text(f)} (+{offset(f.start_s or 0.0)})", BODY, text_w)
            ]
        _utterance(p, ln, rows)
    p.finish()


def _utterance(p: _Pages, ln: Line, rows: list[tuple[str, Color]]) -> None:
    """One utterance: time and speaker on the left, its lines on the right; a block longer than the
    room left on a page goes on over the next pages (marked as continued)."""
    step = BODY * LEADING
    first = True
    while first or rows:
        p.room(2 * step + 4)
        fit = max(2, int((p.y - FOOTER_ROOM - 4) // step))
        part, rows = rows[:fit], rows[fit:]
        height = max(2, len(part)) * step + 4
        c = p.c
        if ln.channel == "customer":
            c.setFillColor(CUSTOMER_BG)
            c.rect(MARGIN - 2, p.y - height + 2, p.width - 2 * MARGIN + 4, height, stroke=0, fill=1)
        top = p.y - step
        c.setFont(p.font, BODY)
        c.setFillColor(black if first else GREY)
        c.drawString(MARGIN, top, p.doc.clock(ln.start_s) if first else "（続き / continued）")
        c.setFillColor(GREY)
        c.drawString(MARGIN, top - step, f"– +{offset(ln.end_s)}")
        who_ja, who_en = SPEAKERS.get(ln.channel, (ln.channel, ""))
        c.drawString(MARGIN + TIME_W, top - step, who_en)
        c.setFillColor(black)
        c.drawString(MARGIN + TIME_W, top, who_ja)
        y = top
        for text, color in part:
            c.setFillColor(color)
            c.drawString(MARGIN + TIME_W + WHO_W, y, text)
            y -= step
        c.setFillColor(black)
        p.y -= height
        first = False
