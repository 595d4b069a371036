"""CLI commands of the cameras area: list, add, remove, run, and ``export camera``."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import typer

from akashi.cli.apps import cameras_app, emit, export_app, open_akashi, principal_for


@cameras_app.command("list")
def cameras_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """カメラの一覧（状態・最新セグメント・欠落）/ list cameras (state, last segment, gaps)."""
    from akashi.cameras.status import camera_status

    ak = open_akashi()
    rows = camera_status(ak)
    lines = []
    for r in rows:
        last = r["last_segment_at"] or "-"
        lines.append(
            f"{r['name']}\t{r['site'] or '-'}\t{r['state']}\t{last}\t"
            f"segments={r['segments']}\tgaps={r['gaps']}\t{r['url']}"
            + (f"\tALERT: {r['alert']}" if r.get("alert") else "")
        )
    emit(rows, as_json, "\n".join(lines) if lines else "カメラはありません / no cameras")


@cameras_app.command("add")
def cameras_add(
    name: str,
    url: str = typer.Option(..., "--url", help="rtsp://user:pass@host:554/path (stored encrypted)"),
    site: str = typer.Option("", "--site"),
    segment_seconds: float = typer.Option(4.0, "--segment-seconds", min=1.0, max=60.0),
) -> None:
    """カメラを追加（URLは暗号化してDBに保存）/ add a camera (kept in the database, URL encrypted)."""
    from akashi.cameras.records import add_camera
    from akashi.cameras.urls import mask_url

    ak = open_akashi()
    add_camera(ak.settings, ak.engine, name=name, url=url, site=site, seconds=segment_seconds)
    emit(None, False, f"追加しました / added: {name} {mask_url(url)}")


@cameras_app.command("remove")
def cameras_remove(name: str) -> None:
    """CLIで追加したカメラの録画をやめる（映像は残る）/ stop recording a CLI-added camera (footage stays)."""
    from akashi.cameras.records import remove_camera

    ak = open_akashi()
    remove_camera(ak.engine, name)
    emit(None, False, f"削除しました / removed: {name}")


@cameras_app.command("run")
def cameras_run(
    seconds: float = typer.Option(0.0, "--seconds", min=0.0, help="Stop after this long (0: until a signal)"),
) -> None:
    """カメラだけを録画（SIGINT/SIGTERMで停止）/ record the cameras only, until SIGINT/SIGTERM."""
    from akashi.cameras.service import CameraService

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ak = open_akashi()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if seconds:
            loop.call_later(seconds, stop.set)
        await CameraService(ak).run(stop)

    try:
        asyncio.run(main())
    finally:
        ak.close()


@cameras_app.command("protect")
def cameras_protect() -> None:
    """案件内の映像を保全／解除（保存期間処理の前に）/ hold footage inside open incidents, release the rest."""
    from akashi.cameras.retention import apply_camera_holds

    ak = open_akashi()
    report = apply_camera_holds(ak)
    emit(None, False, f"保全 / held: {len(report.held)}  解除 / released: {len(report.released)}")


@cameras_app.command("mark")
def cameras_mark(
    name: str,
    start: str = typer.Option(..., "--from", help="ISO 8601 (no zone: Japan time)"),
    end: str = typer.Option(..., "--to", help="ISO 8601 (no zone: Japan time)"),
    title: str = typer.Option("", "--title", help="Title of a new incident"),
    incident: int | None = typer.Option(None, "--incident", help="Add to this incident instead"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """映像の範囲を案件に登録して保全 / mark a camera range as an incident (kept until released)."""
    from akashi.cameras.retention import apply_camera_holds, mark_range
    from akashi.cli.core import parse_time

    t0, t1 = parse_time(start, "--from"), parse_time(end, "--to")
    assert t0 is not None and t1 is not None
    ak = open_akashi()
    inc_id, item_id = mark_range(ak, name, t0, t1, title=title, incident_id=incident)
    report = apply_camera_holds(ak)
    data = {"incident": inc_id, "item": item_id, "held": len(report.held)}
    emit(data, as_json, f"案件 / incident {inc_id}: 保全 / held {len(report.held)} segment(s)")


@cameras_app.command("unmark")
def cameras_unmark(
    incident: int = typer.Option(..., "--incident", help="Release the camera ranges of this incident"),
) -> None:
    """案件のカメラ範囲を解除（保存期間に戻る）/ release an incident's camera ranges (back to retention)."""
    from akashi.cameras.retention import apply_camera_holds, release_ranges

    ak = open_akashi()
    n = release_ranges(ak, incident)
    report = apply_camera_holds(ak)
    emit(None, False, f"解除 / released: {n} range(s), {len(report.released)} segment(s)")


@export_app.command("camera")
def export_camera_cmd(
    names: list[str] = typer.Argument(..., help="Camera name(s)"),
    start: str = typer.Option(..., "--from", help="ISO 8601 (no zone: Japan time)"),
    end: str = typer.Option(..., "--to", help="ISO 8601 (no zone: Japan time)"),
    out: Path = typer.Option(..., "--out", help="FILE.zip"),
    as_user: str | None = typer.Option(
        None, "--as", help="Export as this user (permission checked, audited)"
    ),
) -> None:
    """カメラ映像の証拠パッケージ（再エンコードなし）/ camera footage package (remux, no re-encode)."""
    from akashi.cameras.export import export_cameras
    from akashi.cli.core import parse_time

    t0 = parse_time(start, "--from")
    t1 = parse_time(end, "--to")
    assert t0 is not None and t1 is not None
    who = principal_for(as_user)
    ak = open_akashi()
    path = export_cameras(ak, who, names, start=t0, end=t1, out=out, client="cli")
    emit(None, False, f"証拠パッケージ / evidence package: {path}")


@cameras_app.command("pause")
def cameras_pause(
    name: str,
    as_user: str | None = typer.Option(None, "--as-user", help="Act as this admin (default: cli, audited)"),
) -> None:
    """カメラを一時停止（再開まで録画しない・映像は残る）/ pause a camera until resumed (footage stays)."""
    _pause(name, True, as_user)
    emit(None, False, f"一時停止しました / paused: {name}")


@cameras_app.command("resume")
def cameras_resume(
    name: str,
    as_user: str | None = typer.Option(None, "--as-user", help="Act as this admin (default: cli, audited)"),
) -> None:
    """一時停止したカメラの録画を再開 / resume a paused camera."""
    _pause(name, False, as_user)
    emit(None, False, f"再開しました / resumed: {name}")


def _pause(name: str, paused: bool, as_user: str | None) -> None:
    """What the admin page's 一時停止/再開 does (admins only, audited): a running service follows."""
    from akashi.db.base import session_scope
    from akashi.web.services.adminconfig import pause_camera

    who = principal_for(as_user)
    ak = open_akashi()
    with session_scope(ak.engine) as s:
        pause_camera(ak, s, who, name, paused, "cli")
