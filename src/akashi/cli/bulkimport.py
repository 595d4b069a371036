"""``akashi import calls DIR``: an old recorder's files imported as calls, resumable and idempotent.

Each file goes through the same path as ``akashi import call`` (:class:`akashi.calloutcome.CallOutcome`,
:func:`akashi.ingest.ingest_call` for WAVs; the same store and record steps for MP3/M4A, kept as
received). A file whose SHA-256 is already a call's recording is skipped, so a run that stopped
half way is simply run again. A file that cannot be imported is reported with its reason and the
rest go on; the exit code is 1 when any failed.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import typer
from rich.markup import escape
from rich.progress import Progress
from sqlalchemy import select

from akashi.cli.apps import IMPORT_NOTICE_MODES, emit, import_app, open_akashi
from akashi.cli.bulkplan import Item, compile_pattern, items_from_map, items_from_pattern, parse_started
from akashi.db.base import session_scope
from akashi.db.models import Call, EvidenceObject
from akashi.errors import AkashiError, ConfigError

if TYPE_CHECKING:
    from akashi.calloutcome import CallOutcome
    from akashi.context import Akashi

log = logging.getLogger(__name__)

NOTICE_MODES = IMPORT_NOTICE_MODES  # as akashi import call
#: the longest value each field may have (the columns' sizes); others 64
LIMITS = {"agent": 128, "started": 40}
Status = Literal["imported", "skipped", "failed"]


@dataclass(frozen=True)
class Outcome:
    """What happened to one file."""

    file: str
    status: Status
    call_id: int | None = None
    reason: tuple[str, str] | None = None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready."""
        out: dict[str, object] = {"file": self.file, "status": self.status, "call_id": self.call_id}
        if self.reason:
            out["reason"] = f"{self.reason[0]} / {self.reason[1]}"
        return out


@dataclass(frozen=True)
class Defaults:
    """The command's options, used where a map cell or pattern gives nothing."""

    dialled: str = ""
    agent: str = ""
    site: str = ""
    direction: str = "in"
    notice: str = "operator"


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def imported_hashes(ak: Akashi) -> dict[str, int]:
    """SHA-256 of every call recording already in the store -> its call id (one query per run)."""
    with session_scope(ak.engine) as s:
        rows = s.execute(
            select(EvidenceObject.sha256, Call.id).join(Call, Call.media_object_id == EvidenceObject.id)
        )
        return {sha: cid for sha, cid in rows}


def call_record(item: Item, defaults: Defaults, path: Path) -> CallOutcome:
    """The :class:`CallOutcome` of one file, as ``akashi import call`` builds it; errors name the field."""
    from akashi.calloutcome import CallOutcome

    v = item.values
    for name, text in v.items():
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in text) or len(text) > LIMITS.get(name, 64):
            raise ConfigError(
                f"{name} に制御文字があるか長すぎます（{LIMITS.get(name, 64)} 文字まで）",
                f"{name}: control characters or longer than {LIMITS.get(name, 64)} characters",
            )
    caller = v.get("caller", "")
    if not caller:
        raise ConfigError("発信者（caller）が空です", "caller is empty")
    direction = v.get("direction") or defaults.direction
    if direction not in ("in", "out"):
        raise ConfigError(
            f"direction は in か out です: {direction}", f"direction must be in or out: {direction}"
        )
    notice = v.get("notice") or defaults.notice
    if notice not in NOTICE_MODES:
        raise ConfigError(
            f"notice は operator・automatic・none のいずれかです: {notice}",
            f"notice must be operator, automatic or none: {notice}",
        )
    try:
        start = parse_started(v.get("started", ""))
    except ValueError:
        raise ConfigError(
            f"started の日時が読めません: {v.get('started')}",
            f"started: not an ISO 8601 time: {v.get('started')}",
        ) from None
    start = start or datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return CallOutcome(
        started_at=start,
        direction="in" if direction == "in" else "out",
        caller=caller,
        dialled=v.get("dialled") or defaults.dialled,
        answered_at=start,
        agent=v.get("agent") or defaults.agent,
        site=v.get("site") or defaults.site,
        source="import",
        notice_mode=notice,
    )


def ingest_file(ak: Akashi, path: Path, rec: CallOutcome) -> int:
    """Import one recording: a WAV as ``akashi import call`` does, an MP3/M4A kept as received."""
    from akashi.codecs.audiofile import KINDS, decode_audio_file, sniff
    from akashi.ingest import ingest_call, record_call, store_call_media

    with path.open("rb") as f:
        head = f.read(16)
    kind = sniff(head)
    if kind is None:
        if head[:4] != b"RIFF":
            raise AkashiError(
                "対応していない形式です（WAV・MP3・M4A のみ）", "unsupported format (WAV, MP3 and M4A only)"
            )
        return ingest_call(ak, path, rec)
    decoded = decode_audio_file(path.read_bytes())  # refuses what PyAV cannot decode, before storing
    put = store_call_media(ak, path, rec, media_type=kind, suffix=KINDS[kind])
    return record_call(
        ak,
        rec,
        ended=rec.ended_at or rec.started_at + timedelta(seconds=decoded.duration_s),
        duration_s=decoded.duration_s,
        media_object_id=put.object_id,
        codec=decoded.codec,
        channels=decoded.channels,
        transcribe=True,
    )


def import_item(ak: Akashi, item: Item, defaults: Defaults, known: dict[str, int]) -> Outcome:
    """Import one item, or say why not; ``known`` (hash -> call id) is updated."""
    if item.problem is not None or item.path is None:
        return Outcome(item.name, "failed", reason=item.problem)
    try:
        digest = sha256_of(item.path)
        if digest in known:
            return Outcome(
                item.name,
                "skipped",
                known[digest],
                (f"取り込み済み（通話 {known[digest]}）", f"already imported as call {known[digest]}"),
            )
        rec = call_record(item, defaults, item.path)
        call_id = ingest_file(ak, item.path, rec)
        ak.store.flush_spool()
    except AkashiError as exc:
        return Outcome(item.name, "failed", reason=(exc.ja, exc.en))
    except (OSError, ValueError) as exc:
        return Outcome(item.name, "failed", reason=(f"読めません: {exc}", f"cannot read: {exc}"))
    except Exception as exc:  # one bad file must not stop a backlog: report it and go on
        log.exception("bulk import of %s failed", item.name)
        return Outcome(
            item.name,
            "failed",
            reason=(f"取り込めません: {type(exc).__name__}", f"not imported: {type(exc).__name__}"),
        )
    known[digest] = call_id
    return Outcome(item.name, "imported", call_id)


def _progress() -> Progress:
    """A progress bar on stderr (stdout stays the summary, or JSON)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]取り込み / import"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
        console=Console(stderr=True),
    )


@import_app.command("calls")
def import_calls(
    folder: Path = typer.Argument(
        ..., exists=True, file_okay=False, help="録音のフォルダ / folder of recordings"
    ),
    map_file: Path | None = typer.Option(
        None,
        "--map",
        exists=True,
        dir_okay=False,
        help="CSV: file, caller, dialled, agent, site, started, direction, notice",
    ),
    pattern: str | None = typer.Option(
        None,
        "--pattern",
        help="ファイル名の形 / file-name pattern, e.g. '{started:%Y%m%d_%H%M%S}_{caller}.wav'",
    ),
    dialled: str = typer.Option("", "--dialled", help="既定値 / default"),
    agent: str = typer.Option("", "--agent", help="既定値 / default"),
    site: str = typer.Option("", "--site", help="既定値 / default"),
    direction: str = typer.Option("in", "--direction", help="既定値 / default: in | out"),
    notice: str = typer.Option(
        "operator", "--notice", help="既定の録音告知方式 / default notice mode: operator | automatic | none"
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """古い録音機のファイルをまとめて取り込む（再実行で続きから）/ import a folder of recordings (re-run resumes)."""
    if (map_file is None) == (pattern is None):
        raise ConfigError(
            "--map か --pattern のどちらか一方を指定してください", "give exactly one of --map or --pattern"
        )
    defaults = Defaults(dialled, agent, site, direction, notice)
    if direction not in ("in", "out") or notice not in NOTICE_MODES:
        raise ConfigError(
            "--direction は in/out、--notice は operator/automatic/none です",
            "--direction must be in or out, --notice operator, automatic or none",
        )
    ignored: list[str] = []
    if map_file is not None:
        items = items_from_map(folder, map_file)
    else:
        assert pattern is not None
        items, ignored = items_from_pattern(folder, compile_pattern(pattern))
    if not items:
        raise ConfigError(
            f"取り込むファイルがありません（パターンに合わないもの {len(ignored)} 件）",
            f"nothing to import ({len(ignored)} files did not match)",
        )
    ak = open_akashi()
    known = imported_hashes(ak)
    outcomes: list[Outcome] = []
    progress = _progress()
    with progress:
        task = progress.add_task("", total=len(items))
        for item in items:
            progress.update(task, description=escape(shown(item.name)))  # names are not markup
            outcomes.append(import_item(ak, item, defaults, known))
            progress.advance(task)
    summary = {
        "imported": [o.as_dict() for o in outcomes if o.status == "imported"],
        "skipped": [o.as_dict() for o in outcomes if o.status == "skipped"],
        "failed": [o.as_dict() for o in outcomes if o.status == "failed"],
        "ignored": ignored,
    }
    emit(summary, as_json, _summary_text(outcomes, ignored))
    if summary["failed"]:
        raise typer.Exit(1)


def shown(name: str) -> str:
    """A file name for a terminal: control characters escaped, so a name cannot forge summary lines."""
    return name if name.isprintable() else ascii(name)


def _summary_text(outcomes: list[Outcome], ignored: list[str]) -> str:
    count = {s: sum(1 for o in outcomes if o.status == s) for s in ("imported", "skipped", "failed")}
    lines = [
        f"取り込み {count['imported']} 件、取り込み済みで省略 {count['skipped']} 件、失敗 {count['failed']} 件"
        f"（パターン外 {len(ignored)} 件）",
        f"imported {count['imported']}, skipped as already imported {count['skipped']}, "
        f"failed {count['failed']} ({len(ignored)} not matching the pattern)",
    ]
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        lines.append("失敗したファイル / failed files:")
        lines += [
            f"  {shown(o.file)}: {o.reason[0]} / {o.reason[1]}" if o.reason else f"  {shown(o.file)}"
            for o in failed
        ]
    return "\n".join(lines)
