"""Camera signs and operator script cards: the PDFs render, and their Japanese text extracts intact."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from tests.conftest import missing_peer, require_binary

from akashi.errors import AkashiError
from akashi.notices import fonts, signage
from akashi.notices.pdfdraw import wrap_japanese
from akashi.notices.signage import camera_sign, phone_card


def _flat(text: str) -> str:
    """Text without any whitespace: line breaks chosen by the layout do not matter."""
    return re.sub(r"\s+", "", text)


def pdftotext(pdf: Path, *args: str) -> str:
    exe = require_binary("pdftotext")
    return subprocess.run(
        ["timeout", "60", exe, "-enc", "UTF-8", *args, str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def render(pdf: Path, out_prefix: Path) -> list[Path]:
    exe = require_binary("pdftoppm")
    subprocess.run(["timeout", "60", exe, "-r", "40", "-png", str(pdf), str(out_prefix)], check=True)
    return sorted(out_prefix.parent.glob(out_prefix.name + "*.png"))


def page_count(pdf: Path) -> int:
    exe = require_binary("pdfinfo")
    info = subprocess.run(["timeout", "60", exe, str(pdf)], check=True, capture_output=True, text=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))  # type: ignore[union-attr]


def title_height_pt(pdf: Path) -> float:
    """Height of the title's box on page 1, which is about its type size."""
    html = pdftotext(pdf, "-bbox", "-f", "1", "-l", "1")
    m = re.search(r'yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">' + signage.CAMERA_TITLE, html)
    assert m, html[:2000]
    return float(m.group(2)) - float(m.group(1))


@pytest.mark.parametrize("size", ["a4", "a5", "sticker"])
def test_camera_sign_renders_and_extracts(tmp_path: Path, size: str) -> None:
    pdf = tmp_path / f"camera-{size}.pdf"
    res = camera_sign(pdf, size=size)
    assert res.pages == 2 == page_count(pdf)
    pngs = render(pdf, tmp_path / "page")
    assert len(pngs) == 2 and all(p.stat().st_size > 1000 for p in pngs)
    text = _flat(pdftotext(pdf))
    for expected in (
        signage.CAMERA_TITLE,
        signage.CAMERA_TEXT_FACILITY,
        _flat(signage.CAMERA_TEXT_FACILITY_EN),
        "掲示のポイント",
        "エレベーターホール",
        "受付・カウンター",
    ):
        assert expected in text
    if size != "sticker":
        assert signage.CAMERA_USE_NOTE in text


def test_a4_title_is_large(tmp_path: Path) -> None:
    pdf = tmp_path / "a4.pdf"
    camera_sign(pdf, size="a4", advice=False)
    assert title_height_pt(pdf) > 50


def test_company_and_custom_text(tmp_path: Path) -> None:
    pdf = tmp_path / "c.pdf"
    res = camera_sign(
        pdf,
        company="株式会社証券堂",
        size="a5",
        text="店内は録画中です。",
        english="Recording in store.",
        advice=False,
    )
    assert res.pages == 1
    text = _flat(pdftotext(pdf))
    assert "店内は録画中です。" in text and "Recordinginstore." in text and "株式会社証券堂" in text
    pdf2 = tmp_path / "c2.pdf"
    camera_sign(pdf2, company="証商店", advice=False)
    assert signage.CAMERA_TEXT_COMPANY in _flat(pdftotext(pdf2))


def test_font_is_embedded_when_a_truetype_font_exists(tmp_path: Path) -> None:
    pdf = tmp_path / "e.pdf"
    res = camera_sign(pdf, advice=False)
    if not res.font.embedded:
        missing_peer("a TrueType Japanese font (Debian fonts-ipaexfont-gothic)")
    exe = require_binary("pdffonts")
    listing = subprocess.run(
        ["timeout", "60", exe, str(pdf)], check=True, capture_output=True, text=True
    ).stdout
    jp = [ln for ln in listing.splitlines() if "TrueType" in ln]
    assert jp and all(" yes yes yes " in ln for ln in jp), listing


def test_cid_fallback_still_extracts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fonts, "CANDIDATES", ())
    pdf = tmp_path / "cid.pdf"
    res = camera_sign(pdf, advice=False)
    assert res.font.kind == "cid" and not res.font.embedded
    assert signage.CAMERA_TEXT_FACILITY in _flat(pdftotext(pdf))


def test_missing_glyph_is_an_error(tmp_path: Path) -> None:
    if not fonts.find_japanese_font().embedded:
        missing_peer("a TrueType Japanese font (Debian fonts-ipaexfont-gothic)")
    with pytest.raises(AkashiError, match="glyphs"):
        camera_sign(tmp_path / "x.pdf", text="防犯カメラ\U0001f3a5作動中")


def test_bad_size_and_bad_font(tmp_path: Path) -> None:
    with pytest.raises(AkashiError, match="unsupported size"):
        camera_sign(tmp_path / "x.pdf", size="b4")
    bogus = tmp_path / "bogus.ttf"
    bogus.write_bytes(b"not a font")
    with pytest.raises(AkashiError, match="cannot use this font"):
        camera_sign(tmp_path / "x.pdf", font=bogus)


def test_phone_card_with_agent(tmp_path: Path) -> None:
    pdf = tmp_path / "phone.pdf"
    res = phone_card(pdf, agent="山田")
    assert res.pages == 1
    assert len(render(pdf, tmp_path / "p")) == 1
    text = _flat(pdftotext(pdf))
    assert _flat(signage.PHONE_SCRIPT.replace("〇〇", "山田")) in text
    assert "Thisis山田." in text
    assert "通話を終了させていただきます" in text


def test_operator_script_english_follows_the_default_text() -> None:
    default = signage.operator_script("田中", signage.PHONE_SCRIPT)
    assert "Thank you for calling. This is 田中." in default.english
    custom = signage.operator_script("田中", "担当の〇〇です。録音します。")
    assert custom.text == "担当の田中です。録音します。" and custom.english == ""


def test_phone_card_sizes(tmp_path: Path) -> None:
    with pytest.raises(AkashiError, match="a4 or a5"):
        phone_card(tmp_path / "s.pdf", size="sticker")


def test_phone_card_default_keeps_placeholder(tmp_path: Path) -> None:
    pdf = tmp_path / "phone.pdf"
    phone_card(pdf, size="a4")
    assert _flat(signage.PHONE_SCRIPT) in _flat(pdftotext(pdf))


def test_wrap_japanese_keeps_kinsoku_and_words() -> None:
    font = fonts.find_japanese_font().name
    text = "この施設では、皆様の安全のため、防犯カメラによる撮影を行っています。"
    for width in (60, 90, 110, 130, 200):
        lines = wrap_japanese(text, font, 12, width)
        assert "".join(lines) == text
        assert not any(line.startswith(("、", "。", "っ")) for line in lines[1:])
        assert not any(line.endswith(("カ", "カメ")) for line in lines)  # katakana word kept whole


def test_wrap_breaks_after_comma() -> None:
    font = fonts.find_japanese_font().name
    lines = wrap_japanese("この施設では、皆様の安全のため、防犯カメラ", font, 12, 12 * 11)
    assert lines[0] == "この施設では、"
