"""One demo at a time per installation: ``<home>/demo.pid`` names the running demo's process."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from akashi.errors import ConfigError

PID_FILE = "demo.pid"


def running(home: Path) -> int | None:
    """The process id of a demo running for ``home`` (None when none is)."""
    path = home / PID_FILE
    try:
        pid = int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return None
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


@contextlib.contextmanager
def hold(home: Path) -> Iterator[None]:
    """Mark this process as the running demo; refused while another demo runs."""
    other = running(home)
    if other is not None and other != os.getpid():
        raise ConfigError(
            f"デモは既に実行中です（プロセス {other}）", f"a demo is already running (process {other})"
        )
    path = home / PID_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(str(os.getpid()))
    tmp.replace(path)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            if path.read_text().strip() == str(os.getpid()):
                path.unlink()
