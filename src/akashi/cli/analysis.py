"""CLI commands of the analysis area: ``akashi analyze``, ``akashi report``, ``akashi lexicon ...``,
``akashi model prepare``."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from akashi.cli.apps import app, emit, log_to_stderr, open_akashi

lexicon_app = typer.Typer(help="ハラスメント辞書 / harassment lexicon", no_args_is_help=True)
model_app = typer.Typer(help="音声認識モデル / speech model", no_args_is_help=True)
app.add_typer(lexicon_app, name="lexicon")
app.add_typer(model_app, name="model")


@app.command()
def analyze(
    call_id: int = typer.Argument(..., help="通話 ID / call id"),
    retranscribe: bool = typer.Option(
        False, "--retranscribe", help="音声認識からやり直す / transcribe again (else reuse the transcript)"
    ),
    queue: bool = typer.Option(
        False, "--queue", help="ジョブとして登録 / queue a job instead of running now"
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """通話を再分析（辞書変更後など）/ re-run analysis of a call (after a lexicon change, say)."""
    from akashi.analysis.pipeline import analyze_call

    with open_akashi() as ak:
        if queue:
            from akashi.db.base import session_scope
            from akashi.jobs import enqueue

            kind = "transcribe" if retranscribe else "analyze"
            with session_scope(ak.engine) as s:
                enqueue(s, kind, {"call_id": call_id})
            emit({"queued": kind, "call_id": call_id}, as_json, f"登録しました / queued: {kind} {call_id}")
            return
        res = analyze_call(ak, call_id, retranscribe=retranscribe)
    data = res.to_json()
    flags = ", ".join(res.flags) or "-"
    lines = [f"通話 / call {call_id}: 重大度 / severity {res.severity}, フラグ / flags: {flags}"]
    lines += [
        f"  [{f.category}] {f.channel} {f.start_s:.1f}-{f.end_s:.1f}s 「{f.words}」" for f in res.findings
    ]
    emit(data, as_json, "\n".join(lines))


@app.command()
def report(
    from_: str | None = typer.Option(None, "--from", help="ISO 8601 (no zone: JST); default 30 days ago"),
    to: str | None = typer.Option(None, "--to", help="ISO 8601 (no zone: JST); default now"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """集計（日別・分類別フラグ、週別キーワード、リピート、担当者別）/ mining report for a time range."""
    from akashi.analysis.report import build_report
    from akashi.cli.core import parse_time

    end = parse_time(to, "--to") or datetime.now(UTC)
    start = parse_time(from_, "--from") or end - timedelta(days=30)
    with open_akashi() as ak:
        data = build_report(ak.engine, start, end, repeat_calls=ak.settings.analysis.repeat_calls)
    text = [
        f"期間 / range: {data['from']} - {data['to']}",
        f"通話 / calls: {data['calls']}  フラグ付き / flagged: {data['flagged_calls']}  "
        f"告知なし / notice missing: {data['notice_missing']}",
    ]
    text += [f"  {k}: {v}" for k, v in data["per_category"].items()]
    text += [f"  リピート / repeat: {r['caller']} x{r['calls']}" for r in data["repeat_callers"]]
    text += [f"  担当 / agent {a['agent']}: {a['flagged_calls']}/{a['calls']}" for a in data["agents"]]
    emit(data, as_json, "\n".join(text))


@lexicon_app.command("show")
def lexicon_show(
    file: Annotated[Path | None, typer.Argument(help="TOML; default: the configured lexicon")] = None,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """辞書の分類と語（読み付き）/ the lexicon's categories and terms with their readings."""
    from akashi.analysis.lexicon import load_lexicon

    if file is None:
        with open_akashi(run_migrations=False) as ak:
            path = ak.settings.analysis.lexicon or None
    else:
        path = str(file)
    lex = load_lexicon(path)
    cats: list[dict[str, Any]] = [
        {
            "name": c.name,
            "kind": c.kind,
            "severity": c.severity,
            "terms": [{"term": t.text, "reading": t.reading, "weight": t.weight} for t in c.terms],
        }
        for c in lex.categories
    ]
    data = {"source": lex.source, "categories": cats}
    text = [
        f"{c['name']} ({c['kind']}, {c['severity']}): " + "、".join(t["term"] for t in c["terms"])
        for c in cats
    ]
    emit(data, as_json, "\n".join(text))


@lexicon_app.command("check")
def lexicon_check(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="TOML to validate")],
    text: Annotated[
        list[str] | None, typer.Option("--text", help="試す文 / sentences to try (repeatable)")
    ] = None,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """辞書を検証し、文で試す / validate a lexicon file and try it on sentences."""
    from akashi.analysis.detect import match_text
    from akashi.analysis.lexicon import LexiconError, parse_lexicon

    try:
        doc = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise LexiconError(f"辞書 {file} が不正です: {exc}", f"lexicon {file} is invalid: {exc}") from exc
    lex = parse_lexicon(doc, str(file))
    hits = {t: match_text(t, lex) for t in text or []}
    data = {"ok": True, "categories": len(lex.categories), "terms": len(lex.all_terms()), "hits": hits}
    lines = [f"OK: {data['categories']} 分類 / categories, {data['terms']} 語 / terms"]
    for t, hs in hits.items():
        found = ", ".join(f"{h['category']}「{h['words']}」{h['score']}" for h in hs) or "-"
        lines.append(f"  {t} → {found}")
    emit(data, as_json, "\n".join(lines))


@model_app.command("prepare")
def model_prepare(as_json: bool = typer.Option(False, "--json")) -> None:
    """音声認識モデルを準備して読み込む / rebuild (if bundled) and load the configured speech model."""
    from akashi.analysis.model import load_model, resolve_model
    from akashi.analysis.pipeline import model_cache

    with open_akashi(run_migrations=False) as ak:
        cfg = ak.settings.analysis
        where = resolve_model(cfg.model, model_cache(cfg))
        load_model(cfg, model_cache(cfg), online=cfg.online)
    emit({"model": cfg.model, "path": where}, as_json, f"OK: {cfg.model} → {where}")


@app.command()
def transcriber(
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, max=64, help="並列数（既定: analysis.workers）/ jobs side by side"),
    ] = None,
) -> None:
    """音声認識ワーカー（録音とは別プロセス）/ run transcription jobs in this process until stopped."""
    from akashi.analysis.worker import run_transcriber

    log_to_stderr()  # a service of its own (GPU hosts), or serve's child: it logs as serve does
    with open_akashi() as ak:
        run_transcriber(ak, workers)
