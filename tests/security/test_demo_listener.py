"""Attack: a SIP scanner on the network looks for the listener the demo opens for itself.

When SIP is not enabled, ``akashi demo`` starts Akashi's SIP service for its own calls. It must be
reachable on loopback only: sipvicious' ``svmap`` (what internet scanners run) sweeping the machine's
network address at the demo's port finds nothing, while the same scan on 127.0.0.1 finds Akashi
(which shows the scan itself works). The demo's calls are unaffected by the scans.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from akashi.context import Akashi
from akashi.demo.run import Demo, DemoResult
from tests.conftest import make_home, missing_peer, require_binary


def _network_address() -> str | None:
    """The machine's address toward the network (None when it has only loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
        except OSError:
            return None
        ip = str(s.getsockname()[0])
    return None if ip.startswith("127.") else ip


def _svmap(svmap: str, host: str, port: int) -> str:
    out = subprocess.run(
        ["timeout", "60", svmap, host, "-p", str(port)], capture_output=True, text=True, check=False
    )
    return out.stdout + out.stderr


@pytest.mark.sip
@pytest.mark.tts
@pytest.mark.slow
def test_svmap_on_the_network_address_finds_no_demo_listener(tmp_path: Path) -> None:
    svmap = require_binary("svmap")
    if importlib.util.find_spec("pyopenjtalk") is None:
        missing_peer("pyopenjtalk-plus (the demo's offline Japanese TTS)")
    remote = _network_address()
    if remote is None:
        pytest.skip("this machine has no network address besides loopback: nothing to scan from outside")
    home = make_home(tmp_path / "home", "")
    said: list[str] = []
    calling = threading.Event()
    result: list[DemoResult] = []

    def say(text: str) -> None:
        said.append(text)
        if "placing call" in text:
            calling.set()  # the SIP service is listening by now

    def run() -> None:
        with Akashi.open(home) as ak:
            result.append(asyncio.run(Demo(ak, 1, 20, say, with_camera=False).run()))

    worker = threading.Thread(target=run)
    worker.start()
    try:
        assert calling.wait(180), said
        port = int(re.findall(r"127\.0\.0\.1:(\d+)", " ".join(said))[0])
        outside = _svmap(svmap, remote, port)
        inside = _svmap(svmap, "127.0.0.1", port)
    finally:
        worker.join(300)
    assert not worker.is_alive()
    assert "Akashi" in inside, inside  # the scanner works and sees the listener on loopback
    assert "found nothing" in outside and "Akashi" not in outside, outside
    assert result and not result[0].failed and len(result[0].call_ids) == 1, (result, said)
