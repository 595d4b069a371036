"""Camera URLs: credentials never leave this module in clear text."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from akashi.errors import ConfigError

_CRED_RE = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<cred>[^@/\s]+)@")


def mask_url(url: str) -> str:
    """``rtsp://user:pass@host/x`` -> ``rtsp://***@host/x``: safe for logs and the UI."""
    return _CRED_RE.sub(lambda m: f"{m.group('scheme')}***@", url)


def mask_text(text: str, url: str) -> str:
    """Remove the URL's credentials (and the URL itself) from an error message."""
    out = text.replace(url, mask_url(url))
    parts = urlsplit(url)
    for secret in (parts.password, parts.username):
        if secret and len(secret) >= 3:
            out = out.replace(secret, "***")
    return mask_url(out)


def check_rtsp_url(url: str) -> str:
    """Validate an RTSP(S) URL and return it unchanged; the error message never shows the password."""
    parts = urlsplit(url)
    if parts.scheme not in ("rtsp", "rtsps") or not parts.hostname:
        raise ConfigError(
            f"カメラのURLは rtsp://ホスト/パス の形にしてください: {mask_url(url)}",
            f"camera URL must look like rtsp://host/path: {mask_url(url)}",
        )
    return urlunsplit(parts)
