"""CLI commands of the notices area: ``akashi announce`` and ``akashi signage camera|phone``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from akashi.cli.apps import app, emit, signage_app, state
from akashi.errors import AkashiError, ConfigError


def _announcement(name: str) -> tuple[str, str, str]:
    """(text, voice, audio) of the configured announcement ``name``."""
    from akashi.config import load_settings

    settings = load_settings(state.home)
    ann = settings.announcements.get(name)
    if ann is None:
        known = ", ".join(sorted(settings.announcements)) or "-"
        raise ConfigError(
            f"案内 {name!r} は設定にありません（あるもの: {known}）",
            f"no announcement {name!r} in the configuration (known: {known})",
        )
    return ann.text, ann.voice, ann.audio


@app.command("announce")
def announce(
    *,
    text: Annotated[str | None, typer.Option("--text", help="案内文 / the notice text")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="書き出す WAV / WAV file to write")] = None,
    voice: Annotated[
        str | None,
        typer.Option("--voice", help="openjtalk（既定）、.htsvoice ファイル、kokoro:jf_alpha など / voice"),
    ] = None,
    rate: Annotated[int, typer.Option("--rate", help="サンプリング周波数 / sample rate (Hz)")] = 8000,
    from_config: Annotated[
        str | None,
        typer.Option("--from-config", help="設定の案内名 / name of an announcement in akashi.toml"),
    ] = None,
    lint_only: Annotated[
        bool, typer.Option("--lint-only", help="音声を作らず点検だけ / only check the text")
    ] = False,
    not_first: Annotated[
        bool, typer.Option("--not-first", help="最初に流さない案内 / not played first")
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="警告があれば終了コード 1 / exit 1 on warnings")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON で出力 / print JSON")] = False,
) -> None:
    """録音案内の音声を作成（電話用 8 kHz）し点検 / make the recording-notice audio and check it."""
    from akashi.notices.audio import synthesize, wav_duration
    from akashi.notices.lint import estimate_duration, lint_notice

    recorded: Path | None = None
    if from_config is not None:
        cfg_text, cfg_voice, cfg_audio = _announcement(from_config)
        if text is None and cfg_audio:
            recorded = Path(cfg_audio)  # a recorded notice: lint its real length
        text = text if text is not None else cfg_text
        voice = voice if voice is not None else (cfg_voice or None)
    if not text:
        raise AkashiError("--text か --from-config を指定してください", "give --text or --from-config")
    if out is None and not lint_only:
        raise AkashiError(
            "--out を指定してください（点検だけなら --lint-only）", "give --out (or --lint-only)"
        )
    duration: float | None = None
    if lint_only and recorded is not None and recorded.is_file():
        duration = wav_duration(recorded)
    if not lint_only and out is not None:
        duration = wav_duration(synthesize(text, out, voice=voice, rate=rate))
    seconds = duration if duration is not None else estimate_duration(text)
    findings = lint_notice(text, duration, first=not not_first)
    lines = []
    if recorded is not None and lint_only and duration is not None:
        lines.append(f"録音済みの案内 / recorded notice: {recorded} ({duration:.2f} 秒 / s)")
    elif out is not None and duration is not None:
        lines.append(f"書き出しました / written: {out} ({rate} Hz, {duration:.2f} 秒 / s)")
    else:
        lines.append(f"推定の長さ / estimated duration: {seconds:.1f} 秒 / s")
    lines += [f"警告 / warning [{m.code}]: {m.ja} / {m.en}" for m in findings]
    if not findings:
        lines.append("問題なし / no findings")
    data = {
        "out": str(out) if out is not None and not lint_only else None,
        "rate": rate,
        "duration_s": duration,
        "estimated_s": None if duration is not None else round(seconds, 2),
        "findings": [{"code": m.code, "level": m.level, "ja": m.ja, "en": m.en} for m in findings],
    }
    emit(data, as_json, "\n".join(lines))
    if strict and findings:
        raise typer.Exit(1)


@signage_app.command("camera")
def signage_camera(
    *,
    out: Annotated[Path, typer.Option("--out", help="書き出す PDF / PDF file to write")],
    company: Annotated[
        str, typer.Option("--company", help="管理者（会社名）/ who operates the cameras")
    ] = "",
    size: Annotated[str, typer.Option("--size", help="a4 | a5 | sticker")] = "a4",
    text: Annotated[str | None, typer.Option("--text", help="本文 / main text (Japanese)")] = None,
    english: Annotated[
        str | None, typer.Option("--english", help="英語の行 / English line ('' for none)")
    ] = None,
    advice: Annotated[
        bool, typer.Option("--advice/--no-advice", help="掲示のポイントのページ / placement page")
    ] = True,
    font: Annotated[
        Path | None, typer.Option("--font", help="TrueType の日本語フォント / Japanese .ttf/.ttc")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON で出力 / print JSON")] = False,
) -> None:
    """防犯カメラの掲示（PDF）/ print the camera sign (PDF)."""
    from akashi.notices.signage import camera_sign

    res = camera_sign(out, company=company, size=size, text=text, english=english, advice=advice, font=font)
    _report(res.path, res.pages, res.font.describe(), as_json)


@signage_app.command("phone")
def signage_phone(
    *,
    out: Annotated[Path, typer.Option("--out", help="書き出す PDF / PDF file to write")],
    agent: Annotated[str, typer.Option("--agent", help="担当者名（〇〇の所）/ the operator's name")] = "",
    size: Annotated[str, typer.Option("--size", help="a4 | a5")] = "a5",
    text: Annotated[
        str | None, typer.Option("--text", help="台本 / the script (〇〇 becomes --agent)")
    ] = None,
    from_config: Annotated[
        bool,
        typer.Option(
            "--from-config", help="設定の案内ごとに 1 ページ / one page per configured announcement"
        ),
    ] = False,
    font: Annotated[
        Path | None, typer.Option("--font", help="TrueType の日本語フォント / Japanese .ttf/.ttc")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON で出力 / print JSON")] = False,
) -> None:
    """オペレーター用の録音案内カード（PDF）/ print the operator's script card (PDF)."""
    from akashi.notices.signage import Script, operator_script, phone_card

    scripts: list[Script] | None = None
    if from_config:
        from akashi.config import load_settings

        settings = load_settings(state.home)
        scripts = []
        for name, ann in sorted(settings.announcements.items()):
            mode = "オペレーターが読み上げ" if ann.mode == "operator" else "自動で再生"
            base = operator_script(agent, ann.text)
            scripts.append(Script(f"通話録音のご案内（{name}・{mode}）", base.text, base.english))
    elif text is not None:
        scripts = [operator_script(agent, text)]
    res = phone_card(out, agent=agent, size=size, scripts=scripts, font=font)
    _report(res.path, res.pages, res.font.describe(), as_json)


def _report(path: Path, pages: int, font: str, as_json: bool) -> None:
    emit(
        {"out": str(path), "pages": pages, "font": font},
        as_json,
        f"書き出しました / written: {path} ({pages} ページ / pages)\n{font}",
    )
