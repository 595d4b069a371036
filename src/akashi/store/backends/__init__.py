"""Where encrypted evidence objects live: a local folder or an S3-compatible bucket."""

from __future__ import annotations

from akashi.store.backends.base import Backend, BackendUnavailable, object_key

__all__ = ["Backend", "BackendUnavailable", "object_key"]
