"""``akashi demo``: simulated calls and a camera through the real code paths; ``--clear`` removes them."""

from __future__ import annotations

import asyncio

import typer

from akashi.cli.apps import app, emit, log_to_stderr, open_akashi


def _say(text: str) -> None:
    emit(None, False, text)


@app.command()
def demo(
    calls: int = typer.Option(6, "--calls", min=1, max=50, help="デモ通話の数 / how many demo calls"),
    duration: float = typer.Option(
        60.0, "--duration", min=5, max=3600, help="デモの長さ（秒）/ seconds the calls are spread over"
    ),
    clear: bool = typer.Option(
        False, "--clear", help="デモのデータを削除 / remove every demo call and camera"
    ),
    camera: bool = typer.Option(True, "--camera/--no-camera", help="デモカメラ / the simulated camera"),
    tts: str = typer.Option(
        "auto",
        "--tts",
        help="音声合成 / speech: auto (openjtalk, fast) | openjtalk | kokoro (closer to people, slow)",
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """デモ通話とデモカメラを流す（--clear で削除）/ run demo calls and a demo camera (--clear removes them).

    Callers place real SIP calls over loopback with Japanese speech, operators answer, a generated
    camera stream is recorded; everything is marked as demo. A running ``akashi serve`` transcribes
    and flags the calls.
    """
    ak = open_akashi()
    if clear:
        from akashi.demo.clear import clear_demo
        from akashi.demo.lock import running
        from akashi.errors import ConfigError

        if running(ak.settings.home) is not None:
            raise ConfigError(
                "デモの実行中は削除できません（終わってから実行してください）",
                "a demo is still running: remove its data after it ends",
            )

        res = clear_demo(ak)
        held = (
            f"\n訴訟ホールド中のため残したもの / kept under legal hold: {', '.join(res.held)}"
            if res.held
            else ""
        )
        emit(
            res.as_dict(),
            as_json,
            f"デモのデータを削除しました / demo data removed: 通話 / calls {len(res.calls)}, "
            f"カメラ映像 / camera segments {res.segments}, 台帳の削除記録 / ledger deletions "
            f"{len(res.objects_deleted)}{held}",
        )
        return
    from akashi.demo.run import Demo

    log_to_stderr("WARNING")
    from akashi.demo.lock import hold

    say = (lambda _t: None) if as_json else _say
    with hold(ak.settings.home):
        result = asyncio.run(Demo(ak, calls, duration, say, with_camera=camera, tts=tts).run())
    ak.close()
    emit(
        result.as_dict(),
        as_json,
        f"デモが終わりました / demo finished: 通話 / calls {result.call_ids}"
        + (f", カメラ映像 / camera segments {result.camera_segments}" if result.camera_id is not None else "")
        + "\n文字起こしとフラグは `akashi serve` の解析が付けます / `akashi serve` transcribes and flags them"
        + "\n削除 / remove: akashi demo --clear",
    )
    if result.failed:
        raise typer.Exit(1)
