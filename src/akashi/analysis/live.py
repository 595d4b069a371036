"""Live detection in the transcriber process: utterances in over a Unix socket, flags out.

The relay's tap (:mod:`akashi.telephony.livetap`) cuts the customer channel of live calls into
utterances and sends them here as frames. :class:`LiveServer` collects what has arrived, recognises it
as one batch (the utterances packed into shared 30 s windows: Whisper pads every window to 30 s, so one
utterance per window would cost several times more), runs the same lexicon detection as post-call
analysis on each utterance's text, and answers every utterance with its text and, when flagged, the
severity. Nothing here touches the recording; post-call analysis of the whole call stays the source
of record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from akashi.analysis.audio import resample
from akashi.analysis.detect import match_text
from akashi.analysis.lexicon import Lexicon, load_lexicon
from akashi.analysis.packing import WHISPER_RATE
from akashi.analysis.prompts import fit_prompt_to, prompt_from_terms
from akashi.telephony.livetap import RATE, FrameDecoder, encode_frame, socket_path

if TYPE_CHECKING:
    from akashi.config.analysis import AnalysisSettings

log = logging.getLogger(__name__)

#: categories whose flag is severe: threats, demands to kneel, threats to post online, abuse (and
#: discriminatory or sexual remarks). Demands for a manager or money, and restraint, are flagged but
#: not severe; polite complaints are not flagged at all (the lexicon weighs demands by mood).
SEVERE = frozenset({"暴言", "脅迫", "土下座の要求", "SNS・ネット晒し", "差別的・性的な言動"})
GAP_S = 1.0  # silence between packed utterances
WINDOW_S = 30.0
LIVE_BEAM = 1


#: the CTranslate2 calls that take the CPU for a while (one window batch each)
HEAVY = frozenset({"encode", "generate", "align", "detect_language"})
#: of these, the calls whose batch (first argument, one row per window) is run one window at a time, with
#: the positions of their other arguments that hold one entry per window (generate's prompts, align's
#: text tokens and frame counts)
SPLIT: dict[str, tuple[int, ...]] = {"encode": (), "generate": (1,), "align": (2, 3), "detect_language": ()}


class LiveFirst:
    """One model, two kinds of work: live batches go first, post-call transcription waits for them.

    Post-call jobs and live batches share the model (and the cores). Every heavy call of the model
    made outside a live batch is one :meth:`step`: it waits while a live batch is waiting or running,
    and a post-call batch of windows is run one window at a time, each its own step. So a live batch
    waits at most for one window's model call already running, never for a whole batch or job, also
    when it is the first utterance after a quiet minute. Calls made inside :meth:`live` pass. Up to
    ``slots`` post-call steps run at once (one per model worker, for as many post-call jobs side by side).
    """

    def __init__(self, slots: int = 1) -> None:
        self._cond = threading.Condition()
        self._live = 0  # live batches waiting or running
        self._busy = 0  # post-call model calls running
        self.slots = max(1, slots)
        self._local = threading.local()
        self.yielded = 0  # post-call model calls that waited for live work

    @property
    def in_live(self) -> bool:
        """Whether this thread is inside :meth:`live` (its model calls pass, whole)."""
        return bool(getattr(self._local, "live", False))

    @contextlib.contextmanager
    def live(self) -> Iterator[float]:
        """A live batch: post-call model calls wait until it is done. Gives the seconds it waited for
        the post-call model calls in progress (at most one window's each, side by side)."""
        began = time.monotonic()
        with self._cond:
            self._live += 1
            while self._busy:
                self._cond.wait()
        self._local.live = True
        try:
            yield time.monotonic() - began
        finally:
            self._local.live = False
            with self._cond:
                self._live -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        """One post-call model call (waits while live work is waiting or running)."""
        if self.in_live:
            yield
            return
        with self._cond:
            if self._live:
                self.yielded += 1
            while self._live or self._busy >= self.slots:
                self._cond.wait()
            self._busy += 1
        try:
            yield
        finally:
            with self._cond:
                self._busy -= 1
                self._cond.notify_all()


class _Gated:
    """A CTranslate2 model whose heavy calls go through :meth:`LiveFirst.step`.

    Post-call batches are split window by window always, not only while calls are live: the first
    utterance after a quiet minute would otherwise wait for a whole batch (8 windows, ~30 s on two
    cores). Split and batched give the same segments (tests/analysis/test_live_split.py); on a CPU the
    split costs little throughput (the encoder, most of the cost, gains nothing from batching there).
    On a GPU batches stay whole: a batch takes well under a second there, and the encoder's output
    stays on the device.
    """

    def __init__(self, inner: Any, gate: LiveFirst) -> None:
        self._inner = inner
        self.gate = gate

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in HEAVY or not callable(attr):
            return attr
        gate = self.gate
        split = name in SPLIT and getattr(self._inner, "device", "cpu") == "cpu"

        def call(*args: Any, **kwargs: Any) -> Any:
            if split and args and _rows(args[0]) > 1 and not gate.in_live:
                return _split(name, attr, gate, args, kwargs)
            with gate.step():
                return attr(*args, **kwargs)

        return call


def _rows(x: Any) -> int:
    shape = getattr(x, "shape", None)
    return int(shape[0]) if shape else 0


def _split(name: str, attr: Any, gate: LiveFirst, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A post-call batch of windows run one window at a time, each a :meth:`LiveFirst.step` (so a live
    batch waits for one window, not for the whole batch); results joined as the batched call's."""
    import ctranslate2  # noqa: PLC0415 - part of the optional analysis extra, loaded by the transcriber only

    x = np.asarray(args[0])
    per_window = SPLIT[name]
    out: list[Any] = []
    for i in range(len(x)):
        one = ctranslate2.StorageView.from_array(np.ascontiguousarray(x[i : i + 1]))
        more = [
            a[i : i + 1] if k in per_window and isinstance(a, list) else a
            for k, a in enumerate(args[1:], start=1)
        ]
        with gate.step():
            got = attr(one, *more, **kwargs)
        out.append(np.asarray(got) if name == "encode" else got)
    if name == "encode":
        return ctranslate2.StorageView.from_array(np.concatenate(out))
    return [r for part in out for r in part]


def live_first(model: Any) -> LiveFirst:
    """Put live batches first on ``model`` (a faster-whisper ``WhisperModel``, shared by this process's
    post-call jobs); the gate to hold around live work. Idempotent."""
    inner = model.model
    if isinstance(inner, _Gated):
        return inner.gate
    gate = LiveFirst(slots=int(getattr(inner, "num_workers", 1)))
    model.model = _Gated(inner, gate)
    return gate


@dataclass(frozen=True)
class Heard:
    """One utterance's outcome: text, flagged categories and severity ("" when not flagged)."""

    text: str
    categories: tuple[str, ...] = ()
    severity: str = ""


def judge(text: str, lexicon: Lexicon) -> Heard:
    """The lexicon's verdict on one utterance: ``severe`` for :data:`SEVERE` categories, else ``notice``."""
    hits = match_text(text, lexicon)
    cats = tuple(h["category"] for h in hits)
    if not cats:
        return Heard(text)
    severe = any(h["category"] in SEVERE and h["mood"] != "polite" for h in hits) or any(
        h["category"] == "脅迫"
        for h in hits  # a threat said politely (殺します) is still a threat
    )
    return Heard(text, cats, "severe" if severe else "notice")


def pack(
    clips: Sequence[np.ndarray[Any, Any]],
) -> tuple[np.ndarray[Any, Any], list[float], list[dict[str, float]]]:
    """Utterances (16 kHz float32) laid end to end with :data:`GAP_S` of silence after each.

    Returns the packed audio, each utterance's start in it, and windows of at most 30 s that hold
    whole utterances (a longer utterance is its own window, cut at 30 s by the recogniser).
    """
    gap = np.zeros(int(GAP_S * WHISPER_RATE), dtype=np.float32)
    parts: list[np.ndarray[Any, Any]] = []
    starts: list[float] = []
    windows: list[dict[str, float]] = []
    pos = win = 0
    limit = int(WINDOW_S * WHISPER_RATE)
    for clip in clips:
        if pos > win and pos + len(clip) + len(gap) - win > limit:
            windows.append({"start": win / WHISPER_RATE, "end": pos / WHISPER_RATE})
            win = pos
        starts.append(pos / WHISPER_RATE)
        parts += [clip.astype(np.float32, copy=False), gap]
        pos += len(clip) + len(gap)
    windows.append({"start": win / WHISPER_RATE, "end": min(pos, win + limit) / WHISPER_RATE})
    return (np.concatenate(parts) if parts else gap), starts, windows


def one_window(seconds: Sequence[float]) -> int:
    """How many of the first utterances (their lengths) fit one 30 s window, gaps included (at least 1).

    A batch is one window: its answers come as soon as that window is recognised, and what arrived
    meanwhile goes into the next (on a CPU several windows in one batch cost as much as one by one).
    """
    total, n = 0.0, 0
    for s in seconds:
        if n and total + s + GAP_S > WINDOW_S:
            break
        total += s + GAP_S
        n += 1
    return n


class LiveRecogniser:
    """The loaded model and lexicon, recognising batches of utterances (one thread at a time)."""

    def __init__(
        self, model: Any, lexicon: Lexicon, cfg: AnalysisSettings, gate: LiveFirst | None = None
    ) -> None:
        from faster_whisper import BatchedInferencePipeline  # noqa: PLC0415 - faster-whisper (CTranslate2, ONNX) is the optional 'analysis' extra and takes seconds to import

        self.model = model
        #: live batches before post-call work on the shared model (None: first come, first served)
        self.gate = gate
        # its own pipeline: faster-whisper's pipeline keeps state between calls, and the post-call
        # jobs in this process use the model's shared one at the same time
        self.pipeline = BatchedInferencePipeline(model=model)
        self.lexicon = lexicon
        self.language = cfg.language
        # greedy: about a third less work per utterance than the post-call beam (same words on the
        # test speech), so more calls fit before alerts fall behind; post-call analysis keeps its beam
        self.beam_size = min(cfg.beam_size, LIVE_BEAM)
        self.batch_size = cfg.batch_size
        self.prompt = (
            fit_prompt_to(model, prompt_from_terms(lexicon.prompt_terms())) if cfg.prompt_lexicon else None
        )
        #: how long the last batch waited for a post-call model call in progress (the bench reports it)
        self.waited_s = 0.0

    def texts(self, pcms: Sequence[bytes]) -> list[str]:
        """The text of each utterance (8 kHz 16-bit PCM), recognised in one batch.

        Whisper sometimes stops before the last utterances of a well-filled window: those that got no
        word are packed again and recognised in a second pass, as post-call recognition does, and like it
        without the lexicon prompt: a few short utterances padded out to a window are mostly silence, where
        a prompt makes Whisper write its words (an abuse word no one said would alert the board, or warn a
        polite caller automatically).
        """
        clips = [
            resample(np.frombuffer(p, dtype="<i2").astype(np.float32) / 32768.0, RATE, WHISPER_RATE)
            for p in pcms
        ]
        out = self._recognise(clips, self.prompt)
        missed = [i for i, t in enumerate(out) if not t]
        if missed and len(missed) < len(clips):
            for i, text in zip(missed, self._recognise([clips[i] for i in missed], None), strict=True):
                out[i] = text
        return out

    def _recognise(self, clips: Sequence[np.ndarray[Any, Any]], prompt: str | None) -> list[str]:
        audio, starts, windows = pack(clips)
        alone = len(clips) == 1  # nothing to tell apart: no word times needed (their alignment costs)
        segs, _info = self.pipeline.transcribe(
            audio,
            language=self.language,
            beam_size=self.beam_size,
            initial_prompt=prompt,
            condition_on_previous_text=False,
            word_timestamps=not alone,
            batch_size=self.batch_size,
            without_timestamps=alone,
            clip_timestamps=windows,
        )
        if alone:
            return ["".join(s.text for s in segs).strip()]
        out = [""] * len(clips)
        for s in segs:
            for w in s.words or ():
                # by the word's end: Whisper starts a word early, in the silence before it (the
                # first kana of an utterance went to the one before when placed by the middle)
                i = max(0, int(np.searchsorted(starts, float(w.end), side="left")) - 1)
                out[i] += w.word
        return [t.strip() for t in out]

    def hear(self, pcms: Sequence[bytes]) -> list[Heard]:
        """Text and verdict of each utterance (ahead of post-call work when there is a gate)."""
        self.waited_s = 0.0
        if self.gate is None:
            texts = self.texts(pcms)
        else:
            with self.gate.live() as waited:
                self.waited_s = waited
                texts = self.texts(pcms)
        return [judge(t, self.lexicon) for t in texts]


@dataclass
class _Pending:
    head: dict[str, Any]
    pcm: bytes
    writer: asyncio.StreamWriter
    arrived: float


class LiveServer:
    """The transcriber's live endpoint: ``serve(stop)`` in a thread of the transcriber process."""

    def __init__(self, path: Path, recogniser: LiveRecogniser) -> None:
        self.path = path
        self.recogniser = recogniser
        self.ready = threading.Event()
        self.done = 0
        self._pending: list[_Pending] = []
        self._more: asyncio.Event | None = None

    def serve(self, stop: threading.Event) -> None:
        """Listen until ``stop`` is set (blocking: run it in a thread)."""
        asyncio.run(self._main(stop))

    async def _main(self, stop: threading.Event) -> None:
        self._more = asyncio.Event()
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path.unlink(missing_ok=True)
        server = await asyncio.start_unix_server(self._client, path=str(self.path))
        self.path.chmod(0o600)  # utterances are evidence: only this installation's user may send or read
        worker = asyncio.create_task(self._recognise_loop())
        self.ready.set()
        try:
            while not stop.is_set():
                await asyncio.sleep(0.2)  # the stop event is a thread's: polled, at no cost to latency
        finally:
            worker.cancel()
            server.close()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            self.path.unlink(missing_ok=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = FrameDecoder()
        assert self._more is not None
        try:
            while data := await reader.read(1 << 16):
                for head, body in frames.feed(data):
                    self._pending.append(_Pending(head, body, writer, time.time()))
                    self._more.set()
        except (OSError, ValueError) as exc:
            log.warning("live link: %s", exc)
        finally:
            writer.close()

    async def _recognise_loop(self) -> None:
        assert self._more is not None
        while True:
            await self._more.wait()
            self._more.clear()
            while self._pending:
                n = one_window([len(p.pcm) / (2 * RATE) for p in self._pending])
                batch, self._pending = self._pending[:n], self._pending[n:]
                try:
                    heard = await asyncio.to_thread(self.recogniser.hear, [p.pcm for p in batch])
                except Exception:  # one bad batch must not end live detection
                    log.exception("live recognition failed")
                    heard = [Heard("")] * len(batch)
                for p, h in zip(batch, heard, strict=True):
                    self.done += 1
                    answer = {
                        "call_id": p.head.get("call_id", ""),
                        "t0": p.head.get("t0", 0.0),
                        "t1": p.head.get("t1", 0.0),
                        "text": h.text,
                        "categories": list(h.categories),
                        "severity": h.severity,
                        "queued_s": round(time.time() - p.arrived, 3),
                        "waited_s": round(self.recogniser.waited_s, 3),
                    }
                    if not p.writer.is_closing():
                        p.writer.write(encode_frame(answer))
                        with contextlib.suppress(OSError):
                            await p.writer.drain()


def start_live_server(
    home: Path, cfg: AnalysisSettings, model: Any, stop: threading.Event, *, first: bool = True
) -> LiveServer:
    """Start the live endpoint of this transcriber in a daemon thread; returns once it listens.

    ``first``: live batches go before this process's post-call transcription on the shared model
    (:func:`live_first`); False leaves them first come, first served (the bench's baseline).
    """
    gate = live_first(model) if first else None
    recogniser = LiveRecogniser(model, load_lexicon(cfg.lexicon or None), cfg, gate)
    server = LiveServer(socket_path(home), recogniser)
    thread = threading.Thread(target=server.serve, args=(stop,), name="akashi-live", daemon=True)
    thread.start()
    server.ready.wait(30)
    return server
