"""The transcriber child stops by itself when its ``akashi serve`` is killed with -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

# the middle process plays `akashi serve`: it starts the "transcriber" (a child that runs the
# orphan watch exactly as run_transcriber does) with the parent variable set, prints its pid, waits
MIDDLE = """
import os, subprocess, sys, time
from akashi.analysis.worker import PARENT_ENV
child = subprocess.Popen(
    [sys.executable, "-c", sys.argv[1]], env={**os.environ, PARENT_ENV: str(os.getpid())}
)
print(child.pid, flush=True)
time.sleep(120)
"""
CHILD = """
import os, threading
from akashi.analysis.worker import PARENT_ENV, _stop_when_orphaned
stop = threading.Event()
_stop_when_orphaned(int(os.environ[PARENT_ENV]), stop)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purpose (its parent is init, which reaps it)
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_transcriber_child_stops_when_serve_is_killed() -> None:
    middle = subprocess.Popen([sys.executable, "-c", MIDDLE, CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert middle.stdout is not None
        child = int(middle.stdout.readline())
        assert _alive(child)
        middle.send_signal(signal.SIGKILL)
        middle.wait(10)
        deadline = time.monotonic() + 20
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(child), "the transcriber outlived its killed parent"
    finally:
        if middle.poll() is None:
            middle.kill()
            middle.wait()
