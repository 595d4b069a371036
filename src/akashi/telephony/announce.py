"""What a call plays to the caller: notices, the "nobody can answer" message and ringback.

Audio comes from a WAV file, or is spoken from the announcement's text by :mod:`akashi.notices`, read
as mono samples at the rate the call's codec wants (8 or 16 kHz) and encoded once per codec.
"""

from __future__ import annotations

import asyncio
import wave
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from akashi.codecs.encode import Encoded, codec_key, encode, pcm_rate
from akashi.config.telephony import UNAVAILABLE, UNAVAILABLE_TEXT, AnnouncementSettings, RouteSettings
from akashi.errors import AkashiError
from akashi.notices.audio import synthesize_cached
from akashi.telephony.sdp import Codec

if TYPE_CHECKING:
    from akashi.context import Akashi


class Announcements:
    """Announcement settings by name and their audio per codec (encoded once, off the event loop)."""

    def __init__(self, ak: Akashi, cache: Path) -> None:
        self.ak = ak
        self.cache = cache
        self._audio: dict[tuple[str, str], Encoded] = {}

    def settings(self, name: str) -> AnnouncementSettings | None:
        """The settings of an announcement (the "unavailable" one is built in unless configured)."""
        ann = self.ak.settings.announcements.get(name)
        if ann is None and name == UNAVAILABLE:
            return AnnouncementSettings(text=UNAVAILABLE_TEXT)
        return ann

    async def prepare(self, routes: Iterable[RouteSettings]) -> None:
        """Encode the notices of automatic routes, and what follows when nobody answers, at start."""
        names: set[str] = set()
        for r in routes:
            ann = self.settings(r.announcement)
            if ann is not None and ann.mode == "automatic":
                names.add(r.announcement)
                if r.unavailable_announcement:
                    names.add(r.unavailable_announcement)
        # G.711 at start (the usual case); other codecs on their first call
        for name in sorted(names):
            for codec in (Codec(0, "PCMU"), Codec(8, "PCMA")):
                await self.audio(name, codec)

    async def audio(self, name: str, codec: Codec) -> Encoded:
        """An announcement as 20 ms payloads in ``codec``."""
        key = (name, codec_key(codec))
        if key not in self._audio:
            ann = self.settings(name)
            if ann is None:
                raise AkashiError(
                    f"案内 {name} が設定されていません", f"announcement {name!r} is not configured"
                )
            self._audio[key] = await asyncio.to_thread(self._load, ann, codec)
        return self._audio[key]

    async def message(self, text: str, audio: str, codec: Codec) -> Encoded:
        """A live-protection message (warning, final, time limit): ``audio`` (a WAV), or ``text`` spoken."""
        key = (f"\0message:{audio or text}", codec_key(codec))
        if key not in self._audio:
            ann = AnnouncementSettings(text=text or "-", audio=audio)
            self._audio[key] = await asyncio.to_thread(self._load, ann, codec)
        return self._audio[key]

    async def ringback(self, codec: Codec) -> Encoded:
        """One cycle of ringback tone in ``codec`` (played in a loop)."""
        key = ("\0ringback", codec_key(codec))
        if key not in self._audio:
            self._audio[key] = await asyncio.to_thread(encode, ringback(pcm_rate(codec)), codec)
        return self._audio[key]

    def _load(self, ann: AnnouncementSettings, codec: Codec) -> Encoded:
        if ann.audio:
            path = Path(ann.audio)
        else:
            path = synthesize_cached(ann.text, self.cache, voice=ann.voice or None)
        return encode(read_wav(path, pcm_rate(codec)), codec)


def read_wav(path: Path, rate_out: int) -> np.ndarray:
    """A 16-bit PCM WAV as mono samples at ``rate_out`` (mixed down and resampled when needed)."""
    try:
        with wave.open(str(path), "rb") as w:
            if w.getsampwidth() != 2:
                raise AkashiError(
                    f"{path}: 16 ビット PCM の WAV が必要です", f"{path}: need a 16-bit PCM WAV"
                )
            rate, ch = w.getframerate(), w.getnchannels()
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    except (OSError, wave.Error, EOFError) as exc:
        raise AkashiError(
            f"案内音声を読めません: {path}", f"cannot read announcement audio {path}: {exc}"
        ) from exc
    if ch > 1:
        pcm = pcm.reshape(-1, ch).mean(axis=1)
    if rate != rate_out and len(pcm):
        n = int(len(pcm) * rate_out / rate)
        pcm = np.interp(np.arange(n) * rate / rate_out, np.arange(len(pcm)), pcm)
    return np.clip(np.round(pcm), -32768, 32767).astype(np.int16)


def ringback(rate: int = 8000) -> np.ndarray:
    """One 3 s cycle of the Japanese ringback (呼出音): 400 Hz modulated at 16 Hz, 1 s on, 2 s off."""
    t = np.arange(int(3 * rate)) / rate
    on = t < 1.0
    tone = np.sin(2 * np.pi * 400 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 16 * t)) * on
    return (tone * 0.07 * 32767).astype(np.int16)
