"""Playback WAVs derived on the fly from stored media that browsers cannot play (``akrtp1`` RTP), or
whose waveform needs PCM (MP3/M4A imported as received).

The whole WAV is derived in memory (Range requests need its size) and a few are kept in the app's
bounded cache keyed by object id (count and bytes). Decrypted media never touches the disk.
"""

from __future__ import annotations

from akashi.access.evidence import MediaHandle
from akashi.codecs.audiofile import KINDS
from akashi.codecs.container import MEDIA_TYPE
from akashi.codecs.decode import playable_wav
from akashi.web.cache import BoundedCache


def needs_deriving(handle: MediaHandle) -> bool:
    """Whether the stored object is not itself playable."""
    return handle.info.media_type == MEDIA_TYPE or handle.info.media_type in KINDS  # RTP, or MP3/M4A


def derived_wav(handle: MediaHandle, cache: BoundedCache[str, bytes]) -> bytes:
    """The playable WAV of ``handle``'s object: decoded once (even for concurrent Range requests), then
    from ``cache`` (the app's, :class:`akashi.web.cache.WebCaches`)."""
    return cache.get_or_make(handle.info.object_id, lambda: playable_wav(b"".join(handle.iter())))
