"""Playback WAVs derived on the fly from stored media that browsers cannot play (``akrtp1`` RTP), or
whose waveform needs PCM (MP3/M4A imported as received).

The whole WAV is derived in memory (Range requests need its size) and a few are kept in a small
LRU keyed by object id, bounded in count and bytes. Decrypted media never touches the disk.
"""

from __future__ import annotations

from collections import OrderedDict
from threading import Lock

from akashi.access.evidence import MediaHandle
from akashi.codecs.audiofile import KINDS
from akashi.codecs.container import MEDIA_TYPE
from akashi.codecs.decode import playable_wav

MAX_ENTRIES = 8
MAX_BYTES = 256 * 1024 * 1024

_CACHE: OrderedDict[str, bytes] = OrderedDict()
_LOCK = Lock()
_KEY_LOCKS: dict[str, Lock] = {}


def needs_deriving(handle: MediaHandle) -> bool:
    """Whether the stored object is not itself playable."""
    return handle.info.media_type == MEDIA_TYPE or handle.info.media_type in KINDS  # RTP, or MP3/M4A


def derived_wav(handle: MediaHandle) -> bytes:
    """The playable WAV of ``handle``'s object (decoded once, then from the LRU)."""
    key = handle.info.object_id
    with _LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
        key_lock = _KEY_LOCKS.setdefault(key, Lock())
    with key_lock:  # one decode per object even when a player sends several Range requests at once
        with _LOCK:
            if key in _CACHE:
                _CACHE.move_to_end(key)
                return _CACHE[key]
        try:
            wav = playable_wav(b"".join(handle.iter()))
        finally:
            with _LOCK:
                _KEY_LOCKS.pop(key, None)
        with _LOCK:
            if len(wav) <= MAX_BYTES:
                _CACHE[key] = wav
                while len(_CACHE) > MAX_ENTRIES or sum(map(len, _CACHE.values())) > MAX_BYTES:
                    _CACHE.popitem(last=False)
    return wav


def clear() -> None:
    """Forget every derived WAV (tests; after retention deletes an object)."""
    with _LOCK:
        _CACHE.clear()
