"""PyAV (FFmpeg) as an optional dependency, and the longest audio the codecs will decode.

The bottom of ``akashi.codecs`` for decoding: ``decode`` and ``audiofile`` both load PyAV through
:func:`load_av`, so a missing install gives one clear message wherever media is decoded.
"""

from __future__ import annotations

from typing import Any

from akashi.errors import AkashiError

#: longer than this is a damaged container, not a call (and would exhaust memory)
MAX_SECONDS = 24 * 3600


def load_av() -> Any:
    """The ``av`` module; :class:`AkashiError` naming the extra to install when PyAV is missing."""
    try:
        import av  # noqa: PLC0415 - PyAV is the optional 'media' extra; a call-only install never loads it
    except ImportError:
        raise AkashiError(
            "この通話のコーデックの再生・変換には PyAV (av) が必要です: pip install 'akashi[media]'",
            "playing or converting this call's codec needs PyAV (av): pip install 'akashi[media]'",
        ) from None
    return av
