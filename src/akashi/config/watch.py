"""Configuration changes reach the running services without a restart.

Every ``akashi serve`` process (web, telephony and cameras may run in different processes or on
different hosts) keeps a :class:`ConfigWatch`: it looks at ``akashi.toml`` every few seconds (a
``stat``, nothing more while the file is unchanged), loads it again when it changed, puts the new
:class:`Settings` in force and tells its listeners (telephony swaps routes, agents and notices for new
calls; cameras reconcile). A file that does not validate (a hand edit half done) is logged and the
settings in force stay.

A few settings are read once, when a service starts (listening addresses and ports, TLS, the database,
the store...): :func:`restart_needed` names those that differ from what the process started with, so the
admin page and the log can say that a restart is needed, and for which key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from akashi.config.loader import CONFIG_NAME, load_settings
from akashi.config.settings import Settings
from akashi.errors import ConfigError

if TYPE_CHECKING:
    from akashi.context import Akashi

log = logging.getLogger(__name__)

#: How often the file is looked at.
EVERY_S = 2.0

#: Settings read once at start: a change is applied by a restart of the process that uses them.
#: A dotted prefix covers everything under it (``store`` covers ``store.backend``...).
RESTART_KEYS: tuple[str, ...] = (
    "database",
    "store",
    "jobs",
    "retention.run_every_minutes",
    "web.enabled",
    "web.listen",
    "web.secure_cookies",
    "sip.enabled",
    "sip.listen",
    "sip.public_address",
    "sip.rtp_ports",
    "sip.ipv6_address",
    "sip.tls_cert",
    "sip.tls_key",
    "sip.tls_listen",
    "sip.store_processes",
    "sip.trunks",
    "sip.max_calls",
    "sip.max_calls_per_source",
    "sip.invites_per_second_per_source",
    "sip.inbound_networks",
    "sip.admission_max_loop_lag_ms",
    "sip.admission_max_cpu",
    "sip.media_workers",
    "sip.auth_lockout_after",
    "sip.auth_lockout_window_s",
    "sip.auth_lockout_s",
    "analysis.enabled",
    "analysis.model",
    "analysis.device",
    "analysis.compute_type",
    "analysis.cpu_threads",
)

Stamp = tuple[int, int, int] | None
Listener = Callable[[Settings], None]


def file_stamp(path: Path) -> Stamp:
    """What changes when the file is rewritten (an atomic replace changes the inode too)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _plain(settings: Settings) -> dict[str, Any]:
    # secrets compare by their value (a changed trunk password needs a restart as well)
    return settings.model_dump(mode="python", context=None, round_trip=False, warnings=False)


def _value(tree: dict[str, Any], dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    if isinstance(node, list):
        return [_unsecret(x) for x in node]
    return _unsecret(node)


def _unsecret(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unsecret(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unsecret(v) for v in value]
    getter = getattr(value, "get_secret_value", None)
    return getter() if callable(getter) else value


def restart_needed(started: Settings, now: Settings) -> list[str]:
    """The keys of :data:`RESTART_KEYS` whose value in ``now`` differs from the one at start."""
    a, b = _plain(started), _plain(now)
    return [key for key in RESTART_KEYS if _value(a, key) != _value(b, key)]


# The settings each running installation object started with (for the admin page of its web app).
_started: weakref.WeakKeyDictionary[Akashi, Settings] = weakref.WeakKeyDictionary()


def note_start(ak: Akashi) -> Settings:
    """Remember the settings ``ak`` started with (the first call wins); returns them."""
    return _started.setdefault(ak, ak.settings)


def pending_restart(ak: Akashi) -> list[str]:
    """Keys changed since this process started that only a restart puts in force."""
    return restart_needed(note_start(ak), ak.settings)


class ConfigWatch:
    """Reloads the home's ``akashi.toml`` when it changes and hands the new settings to listeners.

    ``await watch.run(stop)`` polls every :data:`EVERY_S` seconds; :meth:`check` does one round (also
    used by tests). ``changed`` is set after each round that put new settings in force.
    """

    def __init__(self, ak: Akashi, every_s: float = EVERY_S) -> None:
        self.ak = ak
        self.every_s = every_s
        self.path = ak.settings.home / CONFIG_NAME
        self.started = note_start(ak)
        self.listeners: list[Listener] = []
        self._stamp = file_stamp(self.path)
        self._applied = ak.settings
        self._warned: list[str] = []
        #: rounds that put new settings in force (tests wait on :attr:`changed` and read this)
        self.generation = 0
        self.changed = asyncio.Event()

    def _load(self) -> Settings | None:
        """The file again, if it changed since the last look and is valid (runs in a thread)."""
        stamp = file_stamp(self.path)
        if stamp == self._stamp:
            return None
        self._stamp = stamp
        try:
            return load_settings(self.ak.settings.home)
        except ConfigError as exc:
            log.warning(
                "設定を読み直せません（前の設定のまま動きます）/ config not reloaded, keeping the one in force: %s",
                exc.en,
            )
            return None

    async def check(self) -> bool:
        """One round: load a changed file, then tell listeners if the settings in force changed."""
        loaded = await asyncio.to_thread(self._load)
        if loaded is not None:
            self.ak.settings = loaded
        current = self.ak.settings  # the web app of this process may have reloaded it already
        if current is self._applied:
            return False
        self._applied = current
        for fn in self.listeners:
            try:
                fn(current)
            except Exception:
                log.exception("applying the new configuration failed")
        self.generation += 1
        self.changed.set()
        keys = restart_needed(self.started, current)
        fresh = [k for k in keys if k not in self._warned]
        if fresh:
            log.warning(
                "再起動が必要な設定の変更があります / a restart is needed to apply: %s", ", ".join(fresh)
            )
        self._warned = keys
        log.info("設定を反映しました / configuration applied (generation %d)", self.generation)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Check every :attr:`every_s` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.check()
            except Exception:  # keep watching; the next round retries
                log.exception("configuration watch failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every_s)
