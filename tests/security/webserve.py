"""A home's web application served by uvicorn in a process of its own, for tests that measure the server.

``python -m tests.security.webserve HOME PORT`` serves until killed; :class:`WebServer` starts it on a
free port, waits for ``/healthz`` and reads its memory from ``/proc``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def set_web(home: Path, **values: int) -> None:
    """Set ``[web]`` keys of a home's ``akashi.toml`` (the file already has a ``[web]`` table)."""
    path = home / "akashi.toml"
    lines = "".join(f"{k} = {v}\n" for k, v in values.items())
    text = path.read_text(encoding="utf-8")
    assert text.count("[web]\n") == 1
    path.write_text(text.replace("[web]\n", "[web]\n" + lines), encoding="utf-8")


def proc_kib(pid: int, field: str) -> int:
    """A ``/proc/PID/status`` memory field (``VmRSS``, ``VmHWM``: the peak) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


class WebServer:
    """``akashi``'s web app for ``home`` in a child process (a context manager)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> WebServer:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.security.webserve", str(self.home), str(self.port)], cwd=ROOT
        )
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"web server exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("web server did not answer /healthz within 60 s")
            time.sleep(0.1)

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.proc is not None
        return self.proc.pid


def main() -> None:
    """Serve ``HOME`` on ``127.0.0.1:PORT``."""
    import uvicorn

    from akashi.context import Akashi
    from akashi.web.app import create_app

    home, port = Path(sys.argv[1]), int(sys.argv[2])
    with Akashi.open(home) as ak:
        uvicorn.run(create_app(ak), host="127.0.0.1", port=port, log_level="warning", lifespan="off")


if __name__ == "__main__":
    main()
