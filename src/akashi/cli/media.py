"""``akashi calls audio``: a playable WAV of a stored call, for a user with play rights (audited)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from akashi.cli.apps import calls_app, emit, open_akashi, principal_for


@calls_app.command("audio")
def calls_audio(
    call_id: int,
    out: Path = typer.Option(..., "--out", dir_okay=False, help="WAV file to write"),
    as_user: str | None = typer.Option(None, "--as", help="Act as this user (permission and audit)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """通話の録音を WAV で書き出す（G.711 以外は変換）/ write a call's recording as a playable WAV.

    A G.711 call is written as stored; a call kept as RTP (G.722, Opus...) is decoded to stereo
    PCM16 (left: customer, right: what the customer heard). Audited as a download.
    """
    from akashi.access import open_call_media
    from akashi.codecs.decode import playable_wav

    who = principal_for(as_user)
    ak = open_akashi()
    handle = open_call_media(
        ak, who, call_id, action="download", client="cli", detail={"purpose": "audio", "file": out.name}
    )
    stored = b"".join(handle.iter())
    wav = playable_wav(stored)
    tmp = out.with_name(out.name + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(wav)
        tmp.replace(out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    data = {"call_id": call_id, "file": str(out), "bytes": len(wav), "derived": wav is not stored}
    emit(
        data,
        as_json,
        f"書き出しました / wrote {out} ({len(wav)} bytes{', derived' if data['derived'] else ''})",
    )
