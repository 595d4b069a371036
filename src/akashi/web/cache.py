"""One small bounded cache type for the web app, owned by the app's state (never a module global).

Each :func:`akashi.web.app.create_app` builds its own :class:`WebCaches`, so two apps (two tests, two
installations in one process) never share decrypted media, and nothing outlives the app that made it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from threading import Lock
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from akashi.web.schemas import Peaks

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """A thread-safe LRU bounded in entries and, when ``size`` is given, in total size.

    :meth:`get_or_make` computes a missing value once per key even when several threads ask at once
    (a player sends several Range requests together); a value larger than ``max_size`` is returned
    but not kept.
    """

    def __init__(
        self, max_entries: int, max_size: int | None = None, size: Callable[[V], int] | None = None
    ) -> None:
        if max_entries < 1 or (max_size is not None and size is None):
            raise ValueError("max_entries must be >= 1, and max_size needs a size function")
        self.max_entries = max_entries
        self.max_size = max_size
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()
        self._total = 0
        self._lock = Lock()
        self._making: dict[K, Lock] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def get(self, key: K) -> V | None:
        """The value kept for ``key`` (now the most recently used), or None."""
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: K, value: V) -> None:
        """Keep ``value``, dropping the least recently used entries past the bounds."""
        weight = self._size(value) if self._size is not None else 0
        if self.max_size is not None and weight > self.max_size:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None and self._size is not None:
                self._total -= self._size(old)
            self._items[key] = value
            self._total += weight
            while len(self._items) > self.max_entries or (
                self.max_size is not None and self._total > self.max_size
            ):
                _, dropped = self._items.popitem(last=False)
                if self._size is not None:
                    self._total -= self._size(dropped)

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        """The kept value, or ``make()`` run once for all the threads that ask for ``key`` together."""
        found = self.get(key)
        if found is not None:
            return found
        with self._lock:
            key_lock = self._making.setdefault(key, Lock())
        with key_lock:
            found = self.get(key)
            if found is not None:
                return found
            try:
                value = make()
            finally:
                with self._lock:
                    self._making.pop(key, None)
            self.put(key, value)
            return value

    def clear(self) -> None:
        """Forget everything (after retention deletes an object, for instance)."""
        with self._lock:
            self._items.clear()
            self._total = 0


#: derived playback WAVs kept at once, and their total bytes
DERIVED_ENTRIES = 8
DERIVED_BYTES = 256 * 1024 * 1024
#: waveform peaks kept at once (small: a few kB each)
PEAKS_ENTRIES = 64


def _new_derived() -> BoundedCache[str, bytes]:
    return BoundedCache(DERIVED_ENTRIES, DERIVED_BYTES, len)


def _new_peaks() -> BoundedCache[str, Peaks]:
    return BoundedCache(PEAKS_ENTRIES)


@dataclass
class WebCaches:
    """The caches of one web app (``app.state.caches``), keyed by evidence object id."""

    derived: BoundedCache[str, bytes] = field(default_factory=_new_derived)
    peaks: BoundedCache[str, Peaks] = field(default_factory=_new_peaks)
