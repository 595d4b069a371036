"""Live detection's tap on the relay: utterances cut from the customer channel, sent to the transcriber.

The relay calls :meth:`LiveTap.audio` with every customer packet (16-bit PCM, 8 kHz). A cheap energy
VAD with hangover (:class:`UtteranceCutter`, O(1) per packet, no I/O) cuts utterances; a finished one
goes into a bounded queue that one sender task drains to the transcriber process over a Unix socket
(:func:`encode_frame`: length-prefixed frames). When the queue is full the *live copy* of an utterance
is dropped and counted: the recording never depends on this path, and post-call analysis of the whole
call stays the source of record. The transcriber answers every utterance with its text and flags; a
flag becomes ``on_flag(call_id, severity, text, at, categories)`` (``TelephonyService.live_flag``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import struct
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

RATE = 8000
#: the largest frame either side accepts (a 30 s utterance of 8 kHz PCM is 480 kB)
MAX_FRAME = 8 << 20
#: a call silent this long (no packets) is forgotten: it ended without ``end`` being called
FORGET_S = 120.0
_HEAD = struct.Struct(">IH")  # length of the rest of the frame, length of the JSON header


def socket_path(home: Path) -> Path:
    """Where the transcriber of this host listens for live utterances: ``HOME/run/live.sock``."""
    return home / "run" / "live.sock"


# -- framing (sans-I/O) -------------------------------------------------------------------------
def encode_frame(header: Mapping[str, Any], body: bytes = b"") -> bytes:
    """One frame: u32 length of the rest, u16 header length, the header as JSON, then ``body``."""
    head = json.dumps(header, ensure_ascii=False, separators=(",", ":")).encode()
    if len(head) > 0xFFFF:
        raise ValueError(f"live frame header too long: {len(head)} bytes")
    size = 2 + len(head) + len(body)
    if size > MAX_FRAME:
        raise ValueError(f"live frame too long: {size} bytes (at most {MAX_FRAME})")
    return _HEAD.pack(size, len(head)) + head + body


class FrameDecoder:
    """Bytes in (any cut), ``(header, body)`` frames out; ValueError on a malformed frame."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[dict[str, Any], bytes]]:
        """The frames completed by ``data``."""
        self._buf += data
        out: list[tuple[dict[str, Any], bytes]] = []
        while len(self._buf) >= _HEAD.size:
            size, hlen = _HEAD.unpack_from(self._buf)
            if size > MAX_FRAME:
                raise ValueError(f"live frame length: {size} bytes is more than {MAX_FRAME}")
            if hlen > size - 2:
                raise ValueError(f"live frame header length: {hlen} is more than the frame ({size - 2})")
            if len(self._buf) < 4 + size:
                break
            raw = bytes(self._buf[6 : 6 + hlen])
            body = bytes(self._buf[6 + hlen : 4 + size])
            del self._buf[: 4 + size]
            try:
                header = json.loads(raw)
            except ValueError as exc:
                raise ValueError(f"live frame header: not JSON ({exc})") from exc
            if not isinstance(header, dict):
                raise ValueError("live frame header: not a JSON object")
            out.append((header, body))
        return out

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame held."""
        return len(self._buf)


# -- utterance cutting (sans-I/O) ---------------------------------------------------------------
@dataclass(frozen=True)
class Utterance:
    """A stretch of the customer's speech: wall-clock start and end (UTC epoch s) and 8 kHz PCM."""

    call_id: str
    t0: float
    t1: float  # when the last loud packet arrived: the utterance's end
    pcm: bytes
    site: str = ""

    def frame(self) -> bytes:
        """The utterance as a frame for the transcriber."""
        head = {"call_id": self.call_id, "site": self.site, "t0": self.t0, "t1": self.t1, "rate": RATE}
        return encode_frame(head, self.pcm)


@dataclass
class CutterSettings:
    """The VAD's knobs (defaults suit 8 kHz telephone speech)."""

    threshold_dbfs: float = -40.0  # a packet louder than this is speech
    hangover_s: float = 0.5  # this much quiet ends an utterance
    pre_roll_s: float = 0.2  # kept from before the first loud packet (soft onsets)
    min_voiced_s: float = 0.25  # shorter bursts (clicks, coughs) are not sent
    max_s: float = 10.0  # a longer stretch is cut here, so a rant is not judged only when it stops


class UtteranceCutter:
    """Energy VAD with hangover for one call: :meth:`feed` a packet, get an utterance when one ends."""

    def __init__(self, call_id: str, settings: CutterSettings | None = None, site: str = "") -> None:
        self.call_id = call_id
        self.site = site
        self.s = settings or CutterSettings()
        # mean square of int16 samples above which a packet is speech
        self._level = (32768.0 * 10 ** (self.s.threshold_dbfs / 20)) ** 2
        self._pre: collections.deque[bytes] = collections.deque()
        self._pre_s = 0.0
        self._parts: list[bytes] = []
        self._t0 = 0.0
        self._t1 = 0.0
        self._len_s = 0.0
        self._voiced_s = 0.0
        self._quiet_s = 0.0
        self.last_t = 0.0  # arrival of the latest packet (idle calls are flushed by the sender)

    @property
    def speaking(self) -> bool:
        """Whether an utterance is open."""
        return bool(self._parts)

    def loud(self, pcm16: bytes) -> bool:
        """Whether a packet's mean square is above the threshold."""
        n = len(pcm16) // 2
        if n == 0:
            return False
        x = np.frombuffer(pcm16, dtype="<i2", count=n).astype(np.float32)
        return float(np.dot(x, x)) / n > self._level

    def feed(self, pcm16: bytes, t: float) -> Utterance | None:
        """Take one packet (arrived at ``t``); the utterance it ends, if any."""
        dur = len(pcm16) / (2 * RATE)
        self.last_t = t
        loud = self.loud(pcm16)
        if not self._parts:
            if not loud:
                self._pre.append(pcm16)
                self._pre_s += dur
                while self._pre_s > self.s.pre_roll_s and len(self._pre) > 1:
                    self._pre_s -= len(self._pre.popleft()) / (2 * RATE)
                return None
            self._parts = [*self._pre, pcm16]
            self._len_s = self._pre_s + dur
            self._t0 = t - self._len_s
            self._pre.clear()
            self._pre_s = 0.0
            self._voiced_s, self._quiet_s, self._t1 = dur, 0.0, t
            return None
        self._parts.append(pcm16)
        self._len_s += dur
        if loud:
            self._voiced_s += dur
            self._quiet_s = 0.0
            self._t1 = t
        else:
            self._quiet_s += dur
        if self._quiet_s >= self.s.hangover_s or self._len_s >= self.s.max_s:
            return self.flush()
        return None

    def flush(self) -> Utterance | None:
        """Close the open utterance (hangover, length cut, or the call's end); None if too short."""
        if not self._parts:
            return None
        pcm = b"".join(self._parts)
        self._parts = []
        if self._voiced_s < self.s.min_voiced_s:
            return None
        return Utterance(self.call_id, self._t0, self._t1, pcm, self.site)


# -- the tap and its sender ---------------------------------------------------------------------
#: ``(call_id, severity, text, utterance end, categories)``: a flagged utterance
OnFlag = Callable[[str, str, str, float, tuple[str, ...]], None]


@dataclass
class TapStats:
    """What the tap did (the live copy only: recording is never affected)."""

    utterances: int = 0
    sent: int = 0
    answered: int = 0
    flags: int = 0
    dropped_full: int = 0  # the queue was full: the transcriber is behind or away
    lost_in_flight: int = 0  # sent, then the connection broke before the answer
    latencies_s: list[float] = field(default_factory=list)  # utterance end -> answer, last 1000


class LiveTap:
    """The relay's utterance tap (``TelephonyService.live_tap``) and its sender task.

    ``audio`` runs in the relay's hot path: one VAD step and, when an utterance ends, one append to a
    bounded queue. ``run`` (one task) sends the queue to the transcriber's socket at ``path``, at most
    ``in_flight`` unanswered utterances at a time, and turns answers into ``on_flag`` calls.
    """

    def __init__(
        self,
        path: Path,
        on_flag: OnFlag,
        *,
        max_queue: int = 64,
        in_flight: int = 16,
        settings: CutterSettings | None = None,
        idle_s: float = 2.0,
        on_result: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.path = path
        self.on_flag = on_flag
        self.on_result = on_result
        self.max_queue = max_queue
        self.in_flight = in_flight
        self.settings = settings or CutterSettings()
        self.idle_s = idle_s
        self.stats = TapStats()
        self.connected = asyncio.Event()
        self._cutters: dict[str, UtteranceCutter] = {}
        self._sites: dict[str, str] = {}
        self._queue: collections.deque[Utterance] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._unanswered: dict[tuple[str, float], Utterance] = {}

    # relay side (hot path) -----------------------------------------------------------------
    def begin(self, call_id: str, site: str = "") -> None:
        """Optional: name the site of a live call (sent with its utterances)."""
        self._sites[call_id] = site

    def audio(self, call_id: str, side: str, pcm16: bytes, t: float) -> None:
        """One packet of a live call's customer channel (8 kHz 16-bit PCM, arrival time ``t``, UTC)."""
        cutter = self._cutters.get(call_id)
        if cutter is None:
            cutter = self._cutters[call_id] = UtteranceCutter(
                call_id, self.settings, self._sites.get(call_id, "")
            )
        utt = cutter.feed(pcm16, t)
        if utt is not None:
            self._put(utt)

    def end(self, call_id: str) -> None:
        """The call ended: send what it was still saying."""
        self._sites.pop(call_id, None)
        cutter = self._cutters.pop(call_id, None)
        if cutter is not None and (utt := cutter.flush()) is not None:
            self._put(utt)

    def _put(self, utt: Utterance) -> None:
        self.stats.utterances += 1
        if len(self._queue) >= self.max_queue:
            self.stats.dropped_full += 1
            return
        self._queue.append(utt)
        if self._loop is not None and self._wake is not None:
            if self._loop is _running_loop():
                self._wake.set()
            else:
                self._loop.call_soon_threadsafe(self._wake.set)

    # sender task --------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Send utterances and take answers until ``stop``; reconnect when the transcriber restarts."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        sweeper = asyncio.create_task(self._sweep(stop))
        try:
            while not stop.is_set():
                try:
                    reader, writer = await asyncio.open_unix_connection(str(self.path))
                except OSError:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 0.5)
                    continue
                self.connected.set()
                try:
                    await self._session(reader, writer, stop)
                except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
                    log.warning("live transcriber link broke: %s", exc)
                finally:
                    self.connected.clear()
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()
                    self.stats.lost_in_flight += len(self._unanswered)
                    self._unanswered.clear()
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

    async def _session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, stop: asyncio.Event
    ) -> None:
        room = asyncio.Semaphore(self.in_flight)
        receiving = asyncio.create_task(self._receive(reader, room))
        stopping = asyncio.create_task(stop.wait())

        async def until(aw: Awaitable[object]) -> bool:
            """Await ``aw`` unless the link breaks or ``stop`` is set first (False then)."""
            task = asyncio.ensure_future(aw)
            await asyncio.wait({task, receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                return False
            task.result()
            return True

        try:
            while not stop.is_set() and not receiving.done():
                assert self._wake is not None
                if not self._queue:
                    self._wake.clear()
                    await until(self._wake.wait())
                    continue
                if not await until(room.acquire()):  # at most in_flight unanswered
                    continue
                if not self._queue:
                    room.release()
                    continue
                utt = self._queue.popleft()
                self._unanswered[(utt.call_id, utt.t1)] = utt
                writer.write(utt.frame())
                self.stats.sent += 1
                await until(writer.drain())  # a transcriber that stops reading must not hold stop up
            if receiving.done():
                receiving.result()  # raise why the link broke
        finally:
            stopping.cancel()
            receiving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiving

    async def _receive(self, reader: asyncio.StreamReader, room: asyncio.Semaphore) -> None:
        frames = FrameDecoder()
        while data := await reader.read(65536):
            for head, _body in frames.feed(data):
                self._answer(head)
                room.release()
        raise ConnectionResetError("the transcriber closed the live link")

    def _answer(self, head: dict[str, Any]) -> None:
        call_id, t1 = str(head.get("call_id", "")), float(head.get("t1", 0.0))
        self._unanswered.pop((call_id, t1), None)
        self.stats.answered += 1
        lat = self.stats.latencies_s
        lat.append(time.time() - t1)
        del lat[:-1000]
        if self.on_result is not None:
            try:
                self.on_result(head)
            except Exception:
                log.exception("live result handler failed")
        severity = str(head.get("severity") or "")
        if severity:
            self.stats.flags += 1
            try:
                cats = tuple(str(c) for c in head.get("categories") or ())
                self.on_flag(call_id, severity, str(head.get("text", "")), t1, cats)
            except Exception:  # a flag for a call that just ended must not stop the link
                log.exception("live flag for %s failed", call_id)

    async def _sweep(self, stop: asyncio.Event) -> None:
        """Close utterances of calls that stopped sending audio (on hold, or ended without :meth:`end`)."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
            now = time.time()
            for call_id, cutter in list(self._cutters.items()):
                if now - cutter.last_t > FORGET_S:
                    self.end(call_id)
                elif (
                    cutter.speaking
                    and now - cutter.last_t > self.idle_s
                    and (utt := cutter.flush()) is not None
                ):
                    self._put(utt)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
