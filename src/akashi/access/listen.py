"""Listening in to a call in progress (issue 14 item 2): its two channels, read from the call's spool.

The telephony process writes each call's packets to a spool folder while the call runs (flushed at least
every second; see :mod:`akashi.telephony.recorder`). A web process on the same host follows those files
and hands the browser 16-bit stereo PCM at 8 kHz: left what the caller says, right what the caller hears
(the operator, a notice, a warning). The board's telephony node may run elsewhere: then there is no spool
here to follow and listening is refused as not available (the board itself still works over the database).

Who may listen: those who may watch the board (admins, managers of the call's site) and play media. Each
listen is audited as ``play`` on the live call before the first byte, like a play of a stored call.
G.711 calls only (PCMU, PCMA); other codecs are refused with a message.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from akashi.access.audit import audit
from akashi.access.evidence import refuse
from akashi.access.live import may_watch
from akashi.access.principal import Principal
from akashi.codecs import g711
from akashi.db.models_live import LiveCall
from akashi.errors import AkashiError, NotFoundError

MAGIC = b"AKSPOOL1"  # akashi.telephony.recorder's spool header (access reads, never writes, spools)
_REC = struct.Struct("<dH")
CHANNELS = ("caller.spool", "heard.spool")
RATE = 8000
#: Spool folders looked at, newest first (a call in progress is among the newest).
SCAN_LIMIT = 500


def find_spool(roots: list[Path], call_id: str) -> Path | None:
    """The spool folder of the unfinished call whose Call-IDs include ``call_id``."""
    folders: list[Path] = []
    for root in roots:
        if root.is_dir():
            folders.extend(p for p in root.iterdir() if p.is_dir())
    for folder in sorted(folders, key=lambda p: p.name, reverse=True)[:SCAN_LIMIT]:
        try:
            meta = json.loads((folder / "meta.json").read_text())
        except (OSError, ValueError):
            continue
        if call_id in meta.get("call_ids", []) and not meta.get("finished"):
            return folder
    return None


@dataclass
class _Tail:
    """Reads the whole records appended to one spool file since the last read."""

    path: Path
    pos: int = len(MAGIC)
    checked: bool = field(default=False)

    def read(self) -> list[bytes]:
        try:
            with self.path.open("rb") as f:
                if not self.checked:
                    if f.read(len(MAGIC)) != MAGIC:
                        return []
                    self.checked = True
                f.seek(self.pos)
                data = f.read()
        except OSError:
            return []
        out, pos = [], 0
        while pos + _REC.size <= len(data):
            _t, n = _REC.unpack_from(data, pos)
            if pos + _REC.size + n > len(data):
                break  # a record still being written
            out.append(data[pos + _REC.size : pos + _REC.size + n])
            pos += _REC.size + n
        self.pos += pos
        return out


class ListenStream:
    """The call's new audio since the last :meth:`chunk`, as interleaved stereo PCM16 (little-endian)."""

    def __init__(self, folder: Path, codec: str, payload_type: int) -> None:
        self.folder = folder
        self.codec = codec
        self.payload_type = payload_type
        self.tails = [_Tail(folder / name) for name in CHANNELS]
        for t in self.tails:  # start now: what was said before the supervisor came is in the recording
            t.read()

    def _pcm(self, packets: list[bytes]) -> np.ndarray:
        payload = b"".join(
            p[12 + 4 * (p[0] & 0x0F) :] for p in packets if len(p) > 12 and (p[1] & 0x7F) == self.payload_type
        )
        return g711.decode(payload, self.codec) if payload else np.zeros(0, dtype=np.int16)

    def chunk(self) -> bytes:
        """New audio of both sides, the shorter padded with silence so the two stay together."""
        left, right = (self._pcm(t.read()) for t in self.tails)
        n = max(len(left), len(right))
        frames = np.zeros((n, 2), dtype="<i2")
        frames[: len(left), 0] = left
        frames[: len(right), 1] = right
        return frames.tobytes()

    def finished(self) -> bool:
        """Whether the call has ended (or its spool was taken for storing)."""
        try:
            return bool(json.loads((self.folder / "meta.json").read_text()).get("finished"))
        except (OSError, ValueError):
            return True


def open_listen(s: Session, p: Principal, roots: list[Path], call_id: str, client: str) -> ListenStream:
    """Check and audit a listen-in, then open the call's stream; refused and audited when not allowed."""
    engine = s.get_bind()
    assert isinstance(engine, Engine)
    if not (may_watch(p) and p.can_play):
        raise refuse(
            engine,
            p,
            "play",
            "live_call",
            call_id[:64],
            client,
            f"role_{p.role}_no_listen",
            message=("通話の傍受は管理者とマネージャーのみです", "only admins and managers may listen in"),
        )
    row = s.scalar(select(LiveCall).where(LiveCall.call_id == call_id, LiveCall.ended_at.is_(None)))
    if row is None or not p.sees_site(row.site_id):
        if row is not None:
            refuse(engine, p, "play", "live_call", call_id[:64], client, "out_of_scope")
        raise NotFoundError("この通話は通話中ではありません", "this call is not in progress")
    folder = find_spool(roots, call_id)
    if folder is None:
        raise NotFoundError(
            "この通話の音声はこのサーバーにありません（別の電話ノードで録音中）",
            "this call's audio is not on this server (another telephony node records it)",
        )
    meta = json.loads((folder / "meta.json").read_text())
    codec = str(meta.get("codec", "PCMU")).upper()
    if codec not in ("PCMU", "PCMA"):
        raise AkashiError(
            f"{codec} の通話は傍受できません", f"listening in to a {codec} call is not supported"
        )
    audit(
        s,
        user=p.name,
        action="play",
        target_type="live_call",
        target_id=call_id[:64],
        client=client,
        detail={"live": True, "site": row.site, "caller": row.caller, "agent": row.agent},
    )
    s.commit()  # the play is on record before the first byte
    return ListenStream(folder, codec, int(meta.get("payload_type", 0)))
