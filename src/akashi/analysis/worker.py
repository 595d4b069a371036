"""The transcriber: a separate process that runs the analysis jobs.

Speech recognition takes whole CPU cores for seconds at a time. It must never run inside the process
that relays and records calls, so ``akashi serve`` starts a :class:`TranscriberProcess` (a child
``akashi transcriber``) and leaves the ``transcribe``/``analyze`` job kinds to it; on bigger sites
``akashi transcriber`` runs on its own hosts (GPU) against the same PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from akashi.context import Akashi

ANALYSIS_KINDS = ["transcribe", "analyze"]


def run_transcriber(ak: Akashi, workers: int = 1, stop: threading.Event | None = None) -> None:
    """Run analysis jobs in this process until ``stop`` is set (SIGTERM/SIGINT set it when not given)."""
    from akashi.analysis.model import load_model
    from akashi.analysis.pipeline import model_cache
    from akashi.jobs import WorkerPool

    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    cfg = ak.settings.analysis
    load_model(cfg, model_cache(cfg), online=cfg.online)  # fail early, and warm before the first call
    with WorkerPool(ak, workers, kinds=ANALYSIS_KINDS):
        stop.wait()


class TranscriberProcess:
    """Owner of one child ``akashi transcriber`` process: ``with TranscriberProcess(home): ...``."""

    def __init__(self, home: Path, workers: int = 1) -> None:
        self.home = home
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the child process."""
        cmd = [
            sys.executable,
            "-m",
            "akashi.cli.main",
            "--home",
            str(self.home),
            "transcriber",
            "--workers",
            str(self.workers),
        ]
        self.proc = subprocess.Popen(cmd, env={**os.environ, "AKASHI_HOME": str(self.home)})

    @property
    def running(self) -> bool:
        """Whether the child is alive."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        """Ask the child to stop after its current job (SIGTERM), kill it after ``timeout``."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def __enter__(self) -> TranscriberProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
