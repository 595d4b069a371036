"""The transcriber: a separate process that runs the analysis jobs.

Speech recognition takes whole CPU cores for seconds at a time. It must never run inside the process
that relays and records calls, so ``akashi serve`` starts a :class:`TranscriberProcess` (a child
``akashi transcriber``) and leaves the ``transcribe``/``analyze`` job kinds to it; on bigger sites
``akashi transcriber`` runs on its own hosts (GPU) against the same PostgreSQL. It also listens for
live utterances from the relay on this host (``HOME/run/live.sock``, see :mod:`akashi.analysis.live`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from akashi.context import Akashi

log = logging.getLogger(__name__)

ANALYSIS_KINDS = ["transcribe", "analyze"]
#: the transcriber's niceness: the relay and recorder on the same host come first
NICE = 10


def run_transcriber(ak: Akashi, workers: int | None = None, stop: threading.Event | None = None) -> None:
    """Run analysis jobs in this process until ``stop`` is set (SIGTERM/SIGINT set it when not given).

    ``workers`` jobs run side by side, each on a worker of the one model (default: ``analysis.workers``).
    """
    from akashi.analysis.model import load_model  # noqa: PLC0415 - the serving process imports this module for TranscriberProcess; only the transcriber loads the analysis stack
    from akashi.analysis.pipeline import model_cache  # noqa: PLC0415 - only the transcriber process loads the analysis stack
    from akashi.jobs import WorkerPool  # noqa: PLC0415 - only the transcriber process loads the job queue

    # Below the relay: on a shared host, speech recognition must wait for the CPU, never the calls'
    # audio (threads made later, the recogniser's too, inherit this).
    with contextlib.suppress(OSError):
        os.nice(NICE)
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    parent = os.environ.get(PARENT_ENV, "")
    if parent.isdigit():
        threading.Thread(
            target=_stop_when_orphaned, args=(int(parent), stop), name="akashi-parent-watch", daemon=True
        ).start()
    from akashi.analysis.live import start_live_server  # noqa: PLC0415 - only the transcriber process loads the analysis stack

    cfg = ak.settings.analysis
    if workers:
        cfg.workers = workers  # the jobs load the model from these settings too: the same model, gated
    model = load_model(cfg, model_cache(cfg), online=cfg.online)  # fail early, warm before the first call
    n = cfg.worker_count
    log.info("文字起こし: 同時 %d 件、1 件 %d スレッド / transcriber: %d calls at once, %d thread(s) each",
             n, cfg.cpu_threads, n, cfg.cpu_threads)  # fmt: skip
    # live detection: utterances of live calls from this host's relay (akashi.telephony.livetap)
    # live batches go before post-call transcription on the shared model (BENCH_LIVE_FIFO=1:
    # first come, first served, for bench/live.py's comparison only)
    fifo = bool(os.environ.get("BENCH_LIVE_FIFO"))
    start_live_server(ak.settings.home, cfg, model, stop, first=not fifo)
    with WorkerPool(ak, n, kinds=ANALYSIS_KINDS):
        stop.wait()


#: set by :class:`TranscriberProcess`: the pid of the ``akashi serve`` that started the child
PARENT_ENV = "TRANSCRIBER_PARENT_PID"  # not AKASHI_*: those are settings


def _stop_when_orphaned(parent: int, stop: threading.Event) -> None:
    """Stop the child once its ``akashi serve`` is gone (killed with -9, it cannot stop the child itself)."""
    while not stop.wait(1.0):
        if os.getppid() != parent:
            stop.set()


class TranscriberProcess:
    """Owner of one child ``akashi transcriber`` process: ``with TranscriberProcess(home): ...``."""

    def __init__(self, home: Path, workers: int | None = None) -> None:
        self.home = home
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the child process."""
        cmd = [sys.executable, "-m", "akashi.cli.main", "--home", str(self.home), "transcriber"]
        if self.workers is not None:  # else analysis.workers
            cmd += ["--workers", str(self.workers)]
        # OpenMP threads that sleep at once instead of spinning: the relay shares these cores
        env = {
            "OMP_WAIT_POLICY": "PASSIVE",
            **os.environ,
            "AKASHI_HOME": str(self.home),
            PARENT_ENV: str(os.getpid()),
        }
        self.proc = subprocess.Popen(cmd, env=env)

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
