"""The recorder: per-leg spool files written while the call runs, and the stereo WAV at the end.

Spool record: ``<d H`` (arrival wall time, packet length) followed by the whole RTP packet.
Buffers go to the file at least every second, so a killed process loses at most the last second.
"""

from __future__ import annotations

import json
import os
import struct
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from akashi.atomicfile import write_atomic
from akashi.codecs import g711
from akashi.codecs.container import write_container
from akashi.codecs.timeline import segments
from akashi.telephony.call.facts import CallFacts
from akashi.telephony.media import SpoolSink

MAGIC = b"AKSPOOL1"
_REC = struct.Struct("<dH")
CALLER = "caller.spool"  # what the customer sent
HEARD = "heard.spool"  # what the customer heard: the notice, then the operator
META = "meta.json"
RATE = 8000


#: what one leg's spool may hold in memory while its disk refuses writes (a full disk): about
#: 5 minutes of G.711; beyond that new packets are dropped (and counted), the older ones kept
MAX_BACKLOG = 4 * 1024 * 1024


class SpoolWriter(SpoolSink):
    """Appends packets of one direction; :func:`write_batch` or :meth:`flush` writes them out.

    A write the disk refuses (full, I/O error) loses nothing: the unwritten bytes wait in
    ``pending`` (touched by the writing thread only) and go first at the next write, so the file
    stays a clean sequence of records. ``append`` runs on the event loop and only reads ``backlog``.
    """

    __slots__ = ("backlog", "buf", "dropped", "fd", "packets", "path", "pending")

    def __init__(self, path: Path, *, here: bool = True) -> None:
        """``here=False``: a media worker process appends the packets; this only makes the file."""
        self.path = path
        new = not path.exists()
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if not here:
            if new:
                os.write(self.fd, MAGIC)  # before any worker appends a record
            os.close(self.fd)
            self.fd = -1
        self.buf = bytearray(MAGIC if new and here else b"")
        self.pending = b""
        self.backlog = 0
        self.packets = 0
        self.dropped = 0

    def append(self, data: bytes, t: float) -> None:
        """Record one packet (hot path)."""
        if len(self.buf) + self.backlog >= MAX_BACKLOG:
            self.dropped += 1  # the disk has been refusing writes for minutes: keep the older audio
            return
        self.buf += _REC.pack(t, len(data))
        self.buf += data
        self.packets += 1

    def take(self) -> bytearray:
        """Hand over the buffered records (written elsewhere with :func:`write_batch`)."""
        data, self.buf = self.buf, bytearray()
        return data

    def write(self, data: bytes | bytearray) -> None:
        """Write what is pending, then ``data``; on :class:`OSError` the rest stays pending."""
        out = memoryview(self.pending + bytes(data)) if self.pending else memoryview(data)
        try:
            while out:
                n = os.write(self.fd, out)
                out = out[n:]
        finally:
            self.pending = bytes(out)
            self.backlog = len(self.pending)

    def flush(self) -> None:
        """Write buffered records to the file (kernel page cache: survives the process)."""
        if (self.buf or self.pending) and self.fd >= 0:
            self.write(self.take())

    def close(self) -> None:
        """Flush and close (on :class:`OSError` the file stays open and nothing is lost)."""
        self.flush()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@dataclass
class CallMeta:
    """What is known about a call; kept in ``meta.json`` next to the spools."""

    started_at: float
    direction: str = "in"
    caller: str = ""
    dialled: str = ""
    answered_at: float | None = None
    ended_at: float | None = None
    agent: str = ""
    agent_sip_user: str = ""
    site: str = ""
    status: str = "interrupted"
    hangup_side: str = ""
    call_ids: list[str] = field(default_factory=list)
    notice_mode: str = ""
    notice_started_at: float | None = None
    notice_ended_at: float | None = None
    bridged_at: float | None = None
    codec: str = "PCMU"
    payload_type: int = 0
    finished: bool = False
    #: typed facts of the call (stored as the ``extra`` JSON; a dict read back from meta.json is validated)
    extra: CallFacts = field(default_factory=CallFacts)

    def __post_init__(self) -> None:
        if not isinstance(self.extra, CallFacts):
            self.extra = CallFacts.model_validate(self.extra)

    def to_json(self) -> str:
        """meta.json's text."""
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        data["extra"] = self.extra.to_extra()
        return json.dumps(data, ensure_ascii=False)


def write_batch(batch: list[tuple[SpoolWriter, bytes | bytearray]]) -> OSError | None:
    """Write taken buffers (run on the spool I/O thread); the first error, if a write was refused.

    What could not be written stays pending in its writer and goes first next time.
    """
    error = None
    for w, data in batch:
        if w.fd < 0:
            continue
        try:
            w.write(data)
        except OSError as exc:
            error = error or exc
    return error


class CallSpool:
    """The spool folder of one call.

    With ``io`` (a single-thread executor) every file write goes to that thread in order, so a
    slow disk never stalls the event loop that relays RTP; without it, writes are immediate.
    """

    def __init__(
        self, folder: Path, meta: CallMeta, io: Executor | None = None, *, media_here: bool = True
    ) -> None:
        """``media_here=False``: media worker processes write the packets (:mod:`~akashi.telephony.mediapool`)."""
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.meta = meta
        self.io = io
        self.caller = SpoolWriter(folder / CALLER, here=media_here)
        self.heard = SpoolWriter(folder / HEARD, here=media_here)
        self.save()

    def save(self) -> None:
        """Write meta.json atomically (on the I/O thread when there is one)."""
        text = self.meta.to_json()
        if self.io is None:
            self._write_meta(text)
        else:
            self.io.submit(self._write_meta, text)

    def _write_meta(self, text: str, *, check: bool = False) -> None:
        try:
            write_atomic(self.folder / META, text, durable=False)
        except OSError:
            if check:
                raise
            # a full disk: the next save writes it again, and finish() insists

    def take(self) -> list[tuple[SpoolWriter, bytes | bytearray]]:
        """Buffered records of both directions, for :func:`write_batch`."""
        out: list[tuple[SpoolWriter, bytes | bytearray]] = []
        for w in (self.caller, self.heard):
            if (w.buf or w.pending) and w.fd >= 0:
                out.append((w, w.take()))
        return out

    @property
    def dropped(self) -> int:
        """Packets not recorded because the disk refused writes for too long."""
        return self.caller.dropped + self.heard.dropped

    def finish(self) -> None:
        """The call is over: its metadata and every buffered packet written, the files closed.

        Raises :class:`OSError` while the disk refuses (nothing is lost: call it again).
        """
        self._write_meta(self.meta.to_json(), check=True)
        self.close()

    def flush(self) -> None:
        """Write both spools out."""
        self.caller.flush()
        self.heard.flush()

    def close(self) -> None:
        """Close both spools."""
        self.caller.close()
        self.heard.close()


def read_spool(path: Path) -> list[tuple[float, bytes]]:
    """Records of a spool file; a torn last record (killed mid-write) is dropped."""
    if not path.exists():
        return []
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        return []
    out = []
    pos = len(MAGIC)
    n = len(data)
    while pos + _REC.size <= n:
        t, ln = _REC.unpack_from(data, pos)
        pos += _REC.size
        if pos + ln > n:
            break
        out.append((t, data[pos : pos + ln]))
        pos += ln
    return out


def align(records: list[tuple[float, bytes]], payload_type: int, t0: float, silence: int) -> np.ndarray:
    """Place G.711 packets on a sample grid starting at wall time ``t0`` (:func:`segments`' rules).

    Jitter moves nothing and a lost packet leaves silence where it was.
    """
    end = 0
    placed: list[tuple[int, bytes]] = []
    for seg in segments(records, payload_type, RATE):
        start = round((seg.offset - t0) * RATE)
        for ext, payload in seg.packets:
            pos = start + ext
            if pos + len(payload) <= 0:
                continue
            placed.append((pos, payload))
            end = max(end, pos + len(payload))
    out = np.full(end, silence, dtype=np.uint8)
    for pos, payload in placed:
        skip = max(0, -pos)
        at = pos + skip
        out[at : at + len(payload) - skip] = np.frombuffer(payload, dtype=np.uint8, offset=skip)
    return out


def write_wav(path: Path, left: np.ndarray, right: np.ndarray, codec: str) -> None:
    """A stereo G.711 WAV (format 7 mu-law, 6 A-law): the payload bytes as received."""
    n = max(len(left), len(right))
    sil = g711.silence(codec)
    frames = np.full((n, 2), sil, dtype=np.uint8)
    frames[: len(left), 0] = left
    frames[: len(right), 1] = right
    data = frames.tobytes()
    fmt_tag = 7 if codec.upper() == "PCMU" else 6
    fmt = struct.pack("<HHIIHHH", fmt_tag, 2, RATE, RATE * 2, 2, 8, 0)
    fact = struct.pack("<I", n)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"fact" + struct.pack("<I", 4) + fact
    body += b"data" + struct.pack("<I", len(data)) + data + (b"\0" if len(data) & 1 else b"")
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def finalise(folder: Path) -> tuple[Path, CallMeta]:
    """Turn a spool folder into ``call.wav`` and its final metadata (interrupted if unfinished).

    A call in a codec other than G.711 becomes ``call.akrtp`` instead: the packets as received.
    """
    raw = json.loads((folder / META).read_text())
    meta = CallMeta(**raw)
    caller = read_spool(folder / CALLER)
    heard = read_spool(folder / HEARD)
    if not meta.finished:
        meta.status = "interrupted"
        meta.hangup_side = meta.hangup_side or "akashi"
        last = max([t for t, _ in caller[-1:] + heard[-1:]], default=meta.answered_at or meta.started_at)
        meta.ended_at = last
    t0 = audio_start(meta, caller)
    if meta.codec.upper() not in ("PCMU", "PCMA"):
        raw = folder / "call.akrtp"
        codec = meta.extra.codec.model_dump() if meta.extra.codec is not None else {"name": meta.codec}
        write_container(raw, {**codec, "payload_type": meta.payload_type, "t0": t0}, caller, heard)
        return raw, meta
    sil = g711.silence(meta.codec)  # G.711 here: other codecs became a container above
    left = align(caller, meta.payload_type, t0, sil)
    right = align(heard, meta.payload_type, t0, sil)
    wav = folder / "call.wav"
    write_wav(wav, left, right, meta.codec)
    return wav, meta


def audio_start(meta: CallMeta, caller: list[tuple[float, bytes]]) -> float:
    """Where the recording starts (wall time): the answer, or the call's start when none came.

    An answered call that had early media (the trunk's ringback or announcement, recorded on the
    customer's channel) starts at its first packet instead, so nothing of what happened is cut;
    ``audio_started_at`` and ``answer_at_s`` in the facts then say where the answer is in the audio.
    """
    if meta.answered_at is None:
        return meta.started_at
    early = meta.extra.early_media_at
    if early is None:
        return meta.answered_at
    # the customer's spool holds nothing before the 183 (no remote address yet); the first segment's
    # start (its least delayed packet) so that jitter cuts nothing of the first packet
    rate = meta.extra.codec.rate if meta.extra.codec is not None else RATE
    starts = [seg.offset for seg in segments(caller, meta.payload_type, rate) if seg.offset >= early - 1.0]
    first = min(starts, default=None)
    if first is None or first >= meta.answered_at:
        return meta.answered_at
    meta.extra.audio_started_at = first
    meta.extra.answer_at_s = round(meta.answered_at - first, 3)
    return first


def now() -> float:
    """Wall clock (UTC seconds)."""
    return time.time()
