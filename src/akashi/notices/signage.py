"""Printable notices: the camera sign, the operator's script card, and a page of placement advice.

Texts follow the usual guidance for customer-harassment measures: say that recording happens and
why, in large type, where every visitor passes. Every text is a default that the caller may replace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reportlab.lib.colors import HexColor, black, white
from reportlab.lib.pagesizes import A4, A5, landscape
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from akashi.errors import AkashiError
from akashi.notices.fonts import JapaneseFont, find_japanese_font
from akashi.notices.pdfdraw import LATIN, LATIN_BOLD, camera_pictogram, draw_lines, fit_text, latin_font

Size = Literal["a4", "a5", "sticker"]
PAGE_SIZES: dict[str, tuple[float, float]] = {
    "a4": A4,  # portrait
    "a5": landscape(A5),
    "sticker": (100 * mm, 70 * mm),
}

CAMERA_TITLE = "防犯カメラ作動中"
CAMERA_TITLE_EN = "CCTV IN OPERATION"
CAMERA_TEXT_FACILITY = "この施設では、皆様の安全のため、防犯カメラによる撮影を行っています。"
CAMERA_TEXT_FACILITY_EN = "For everyone's safety, security cameras are recording in this facility."
CAMERA_TEXT_COMPANY = "当社では防犯のためカメラを設置しています。"
CAMERA_TEXT_COMPANY_EN = "We have installed cameras for crime prevention."
CAMERA_USE_NOTE = "録画した映像は防犯・安全確保の目的にのみ利用し、適切に管理します。"
CAMERA_USE_NOTE_EN = "Footage is used only for security and safety, and is kept securely."

PHONE_SCRIPT = (
    "お電話ありがとうございます。担当の〇〇です。"
    "この通話は、お客様との応対内容の確認とサービス向上のため、録音させていただきます。"
)
PHONE_SCRIPT_EN = (
    "Thank you for calling. This is {agent}. This call will be recorded to confirm "
    "what we discuss with you and to improve our service."
)
PLACEHOLDER = "〇〇"

YELLOW = HexColor("#FFD400")
NAVY = HexColor("#12305A")
GREY = HexColor("#444444")
PALE = HexColor("#EEF3FA")

PLACEMENT_ADVICE: tuple[tuple[str, str], ...] = (
    (
        "出入口：入る前に必ず目に入る位置に。扉の横、目の高さ（床から 120〜160 cm）。",
        "Entrances: where people see it before they enter; beside the door at eye level (120-160 cm).",
    ),
    (
        "受付・カウンター：お客様の正面、応対する場所の近くに。",
        "Reception counters: facing the customer, next to where staff serve.",
    ),
    (
        "エレベーターホール・廊下・通路：すべての来訪者が通る場所に。",
        "Lift halls, corridors and passages: wherever every visitor passes.",
    ),
    (
        "駐車場・駐輪場・通用口など、カメラのある場所ごとに。",
        "Car parks, bicycle parks and side doors: at every place a camera covers.",
    ),
    (
        "大きな文字で。入口は A3 以上、カウンターは A4、機器や扉にはステッカーを。",
        "Large type: A3 or larger at entrances, A4 at counters, stickers on devices and doors.",
    ),
    (
        "撮影の目的と管理者（問い合わせ先）を表示します。",
        "Show why you record and who operates the cameras (a contact for questions).",
    ),
    (
        "トイレ・更衣室など、プライバシーを強く期待される場所は撮影しません。",
        "Never film toilets, changing rooms or other places where privacy is expected.",
    ),
    (
        "電話：録音の案内はお客様が話す前に、最初に、短く、目的を添えて流します。",
        "Telephone: play the recording notice first, before the caller speaks; short, with its purpose.",
    ),
)

PHONE_TIPS: tuple[tuple[str, str], ...] = (
    (
        "お客様が用件を話し始める前に、最初に伝えます。",
        "Say it first, before the caller explains their matter.",
    ),
    ("目的（応対内容の確認・サービス向上）をはっきりと。", "Say the purpose plainly."),
    ("ゆっくり、短く、落ち着いて。", "Slowly, briefly, calmly."),
)
PHONE_ESCALATION = "暴言や脅しが続くとき：「これ以上続くようでしたら、通話を終了させていただきます。」"
PHONE_ESCALATION_EN = (
    'If abuse or threats go on: "If this continues, I will end the call." '
    "The call is recorded: note the time and tell your supervisor."
)


@dataclass(frozen=True)
class SignResult:
    """What was written: the file, its page count, and the font used."""

    path: Path
    pages: int
    font: JapaneseFont


def _page_size(size: str) -> tuple[float, float]:
    try:
        return PAGE_SIZES[size]
    except KeyError:
        raise AkashiError(
            f"用紙サイズ {size!r} には対応していません（{' / '.join(PAGE_SIZES)}）",
            f"unsupported size {size!r} (use {' / '.join(PAGE_SIZES)})",
        ) from None


def _check_glyphs(font: JapaneseFont, *texts: str) -> None:
    missing = font.missing("".join(texts))
    if missing:
        raise AkashiError(
            f"フォントに無い文字があります: {missing}（--font で別のフォントを指定してください）",
            f"the font lacks glyphs for: {missing} (choose another font with --font)",
        )


def _new_canvas(out: Path, title: str) -> Canvas:
    out.parent.mkdir(parents=True, exist_ok=True)
    c = Canvas(str(out), pageCompression=1)
    c.setTitle(title)
    c.setAuthor("Akashi")
    c.setCreator("Akashi signage")
    return c


def _camera_page(c: Canvas, size: str, jp: str, *, text: str, english: str, company: str, note: bool) -> None:
    w, h = _page_size(size)
    c.setPageSize((w, h))
    m = 0.05 * min(w, h)
    # Title band: black, with the title in yellow, as fit as the width allows.
    band = h * (0.22 if h > w else 0.30)
    c.setFillColor(black)
    c.rect(0, h - band, w, band, stroke=0, fill=1)
    title = fit_text(CAMERA_TITLE, jp, w - 2 * m, band * 0.55, band * 0.55, 8, leading=1.0)
    sub = fit_text(CAMERA_TITLE_EN, LATIN_BOLD, w - 2 * m, band * 0.2, title.size * 0.4, 5, latin=True)
    block = title.size * 1.15 + sub.size * 1.1
    y = draw_lines(c, title, jp, w / 2, h - (band - block) / 2, bold=True, color=YELLOW, leading=1.0)
    draw_lines(c, sub, LATIN_BOLD, w / 2, y - title.size * 0.05, color=white, leading=1.0)

    foot = h * 0.06 if company else 0.0
    body_top, body_bottom = h - band - m, m + foot
    note_h = (body_top - body_bottom) * 0.12 if note else 0.0
    if h > w:  # portrait: pictogram above the text
        r = min(w, (body_top - body_bottom) * 0.42) * 0.42
        camera_pictogram(c, w / 2, body_top - r, r, ring=black, field=YELLOW, ink=black)
        text_x, text_w, text_top = w / 2, w - 2 * m, body_top - 2 * r - m * 0.8
    else:  # landscape: pictogram on the left, text on the right
        r = min((body_top - body_bottom) / 2, w * 0.17) * 0.95
        camera_pictogram(
            c, m + r, (body_top + body_bottom + note_h) / 2, r, ring=black, field=YELLOW, ink=black
        )
        text_w = w - 3 * m - 2 * r
        text_x, text_top = m * 2 + 2 * r + text_w / 2, body_top
    avail = text_top - body_bottom - note_h
    main = fit_text(text, jp, text_w, avail * 0.66, min(h, w) * 0.085, 6)
    y = draw_lines(c, main, jp, text_x, text_top, bold=True, color=black)
    if english:
        ef = latin_font(english, jp)
        en = fit_text(english, ef, text_w, max(avail * 0.30, main.size), main.size * 0.55, 5, latin=ef != jp)
        y = draw_lines(c, en, ef, text_x, y - main.size * 0.35, color=GREY)
    if note:
        nj = fit_text(CAMERA_USE_NOTE, jp, w - 2 * m, note_h * 0.5, min(h, w) * 0.025, 5)
        ny = draw_lines(c, nj, jp, w / 2, body_bottom + note_h, color=GREY)
        ne = fit_text(CAMERA_USE_NOTE_EN, LATIN, w - 2 * m, note_h * 0.4, nj.size * 0.8, 4, latin=True)
        draw_lines(c, ne, LATIN, w / 2, ny, color=GREY)
    if company:
        c.setFillColor(black)
        c.rect(0, 0, w, foot + m * 0.5, stroke=0, fill=1)
        cf = fit_text(
            f"管理者 / Operated by: {company}", jp, w - 2 * m, foot * 0.8, foot * 0.5, 5, leading=1.0
        )
        draw_lines(c, cf, jp, w / 2, foot * 0.85 + m * 0.25, color=white, leading=1.0)
    c.showPage()


def _advice_page(c: Canvas, jp: str) -> None:
    """The installer's page: where the signs go (always A4 portrait)."""
    w, h = A4
    c.setPageSize((w, h))
    m = 18 * mm
    c.setFillColor(NAVY)
    c.rect(0, h - 40 * mm, w, 40 * mm, stroke=0, fill=1)
    t = fit_text("掲示のポイント", jp, w - 2 * m, 20 * mm, 40, 12, leading=1.0)
    y = draw_lines(c, t, jp, m, h - 9 * mm, align="left", bold=True, color=white, leading=1.0)
    s = fit_text("Where to put the signs", LATIN_BOLD, w - 2 * m, 10 * mm, 18, 8, latin=True)
    draw_lines(c, s, LATIN_BOLD, m, y - 2 * mm, align="left", color=white)
    y = h - 40 * mm - 10 * mm
    for i, (ja, en) in enumerate(PLACEMENT_ADVICE, 1):
        fj = fit_text(ja, jp, w - 2 * m - 10 * mm, 30 * mm, 14, 8)
        c.setFillColor(NAVY)
        c.circle(m + 3 * mm, y - 4.5 * mm, 3.6 * mm, stroke=0, fill=1)
        c.setFillColor(white)
        c.setFont(LATIN_BOLD, 11)
        c.drawCentredString(m + 3 * mm, y - 5.9 * mm, str(i))
        y = draw_lines(c, fj, jp, m + 10 * mm, y, align="left", color=black)
        fe = fit_text(en, LATIN, w - 2 * m - 10 * mm, 20 * mm, 10.5, 7, latin=True)
        y = draw_lines(c, fe, LATIN, m + 10 * mm, y - 1 * mm, align="left", color=GREY) - 5 * mm
    c.showPage()


def camera_sign(
    out: Path,
    *,
    company: str = "",
    size: str = "a4",
    text: str | None = None,
    english: str | None = None,
    advice: bool = True,
    font: str | Path | None = None,
) -> SignResult:
    """Write the camera sign to ``out`` (PDF): title, pictogram, notice text with English beneath.

    Without ``text`` the facility wording is used, or the company wording when ``company`` is given
    (the company is then printed as the operator at the foot). ``advice`` adds an A4 page on
    where to put the signs. Raises :class:`AkashiError` for an unknown size or missing glyphs.
    """
    _page_size(size)
    if text is None:
        text = CAMERA_TEXT_COMPANY if company else CAMERA_TEXT_FACILITY
        if english is None:
            english = CAMERA_TEXT_COMPANY_EN if company else CAMERA_TEXT_FACILITY_EN
    english = english or ""
    jf = find_japanese_font(font)
    advice_text = "".join(j for j, _ in PLACEMENT_ADVICE) if advice else ""
    _check_glyphs(jf, CAMERA_TITLE, text, company, CAMERA_USE_NOTE, advice_text, "掲示のポイント管理者")
    out = Path(out)
    c = _new_canvas(out, f"{CAMERA_TITLE} / {CAMERA_TITLE_EN}")
    _camera_page(c, size, jf.name, text=text, english=english, company=company, note=size != "sticker")
    if advice:
        _advice_page(c, jf.name)
    c.save()
    return SignResult(out, 2 if advice else 1, jf)


@dataclass(frozen=True)
class Script:
    """One operator script: a heading, the words to say, and their English."""

    heading: str
    text: str
    english: str = ""


def operator_script(agent: str = "", text: str | None = None) -> Script:
    """The default script, with the operator's name in place of 〇〇 when ``agent`` is given."""
    if text is None or text.strip() == PHONE_SCRIPT:
        body = PHONE_SCRIPT.replace(PLACEHOLDER, agent) if agent else PHONE_SCRIPT
        english = PHONE_SCRIPT_EN.format(agent=agent or "(your name)")
    else:
        body = text.replace(PLACEHOLDER, agent) if agent else text
        english = ""
    return Script("通話録音のご案内", body, english)


def _phone_page(c: Canvas, size: str, jp: str, script: Script, agent: str) -> None:
    w, h = _page_size(size)
    c.setPageSize((w, h))
    m = 0.05 * min(w, h)
    band = h * 0.16
    c.setFillColor(NAVY)
    c.rect(0, h - band, w, band, stroke=0, fill=1)
    heading = script.heading + (f"（担当：{agent}）" if agent else "")
    t = fit_text(heading, jp, w - 2 * m, band * 0.5, band * 0.45, 6, leading=1.0)
    y = draw_lines(c, t, jp, m, h - band * 0.15, align="left", bold=True, color=white, leading=1.0)
    s = fit_text(
        "Recording notice - say this first", LATIN_BOLD, w - 2 * m, band * 0.25, t.size * 0.45, 5, latin=True
    )
    draw_lines(c, s, LATIN_BOLD, m, y - band * 0.04, align="left", color=white, leading=1.0)

    box_top, box_h = h - band - m, h * 0.45
    c.setFillColor(PALE)
    c.setStrokeColor(NAVY)
    c.setLineWidth(1.5)
    c.roundRect(m, box_top - box_h, w - 2 * m, box_h, m * 0.3, stroke=1, fill=1)
    inner = w - 3 * m
    main = fit_text(script.text, jp, inner, box_h * 0.68, min(w, h) * 0.06, 6)
    y = draw_lines(c, main, jp, m * 1.5, box_top - m * 0.5, align="left", bold=True, color=black)
    if script.english:
        ef = latin_font(script.english, jp)
        fen = fit_text(script.english, ef, inner, box_h * 0.25, main.size * 0.55, 5, latin=ef != jp)
        draw_lines(c, fen, ef, m * 1.5, y - main.size * 0.2, align="left", color=GREY)

    y = box_top - box_h - m * 0.6
    rest = y - m
    line_h = rest / (len(PHONE_TIPS) + 2.2)
    for ja, en in PHONE_TIPS:
        fj = fit_text(f"・{ja}", jp, (w - 2 * m) * 0.55, line_h, line_h * 0.6, 5, leading=1.1)
        draw_lines(c, fj, jp, m, y, align="left", color=black, leading=1.1)
        fe = fit_text(en, LATIN, (w - 2 * m) * 0.43, line_h, line_h * 0.5, 4, latin=True, leading=1.1)
        draw_lines(c, fe, LATIN, m + (w - 2 * m) * 0.57, y, align="left", color=GREY, leading=1.1)
        y -= line_h
    y -= line_h * 0.2
    ej = fit_text(PHONE_ESCALATION, jp, w - 2 * m, line_h * 1.1, line_h * 0.42, 5, leading=1.15)
    y = draw_lines(c, ej, jp, m, y, align="left", color=NAVY, leading=1.15)
    ee = fit_text(
        PHONE_ESCALATION_EN, LATIN, w - 2 * m, line_h * 0.9, line_h * 0.34, 4, latin=True, leading=1.1
    )
    draw_lines(c, ee, LATIN, m, y, align="left", color=GREY, leading=1.1)
    c.showPage()


def phone_card(
    out: Path,
    *,
    agent: str = "",
    size: str = "a5",
    scripts: Sequence[Script] | None = None,
    font: str | Path | None = None,
) -> SignResult:
    """Write the operator's script card to ``out`` (PDF), one page per script.

    Without ``scripts`` the guidance script is used, with ``agent`` in place of 〇〇.
    """
    if size not in ("a4", "a5"):
        raise AkashiError(
            f"台本カードは a4 か a5 です（{size!r} は使えません）",
            f"the script card comes in a4 or a5, not {size!r}",
        )
    items = list(scripts) if scripts is not None else [operator_script(agent)]
    if not items:
        raise AkashiError("台本がありません", "there is no script to print")
    jf = find_japanese_font(font)
    tips = "".join(j for j, _ in PHONE_TIPS)
    _check_glyphs(jf, *(s.heading + s.text for s in items), agent, tips, PHONE_ESCALATION, "・（）：担当")
    out = Path(out)
    c = _new_canvas(out, "通話録音のご案内 / Recording notice script")
    for script in items:
        _phone_page(c, size, jf.name, script, agent)
    c.save()
    return SignResult(out, len(items), jf)
