"""linphone's ``linphonec`` as a second, independent SIP/RTP stack (belle-sip, mediastreamer2) for tests.

It auto-answers (``-a``) as a phone on loopback, with no sound card (it then sends and receives RTP
all the same). IPv4 only: liblinphone 5 migrates ``use_ipv6=0`` away (and then offers ``c=IN IP6``)
unless ``ipv6_migration_done=1`` is written beside it. Each instance has its own HOME (its database
and config live there).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path

from tests.conftest import require_binary
from tests.ports import free_udp_port

RC = """[sip]
sip_port={sip_port}
sip_tcp_port=-1
sip_tls_port=-1
use_ipv6=0
prefer_ipv6=0
ipv6_migration_done=1
contact="{display}" <sip:{user}@127.0.0.1>
[rtp]
audio_rtp_port={rtp_port}
[sound]
echocancellation=0
[video]
enabled=0
"""


#: an account that calls out through Akashi (its outbound proxy) without registering, with the digest secret
ACCOUNT = """[proxy_0]
reg_proxy=<sip:{proxy};transport=udp>
reg_route=<sip:{proxy};transport=udp;lr>
reg_identity="{display}" <sip:{user}@127.0.0.1>
reg_expires=3600
reg_sendregister=0
publish=0
[auth_info_0]
username={user}
userid={user}
passwd={password}
"""


class Linphone:
    """A running ``linphonec``: ``port`` is its SIP port; ``connected`` is set when a call is up.

    ``proxy`` (``host:port``) and ``password``: an account that calls out through Akashi.
    """

    def __init__(self, workdir: Path, user: str, display: str, proxy: str = "", password: str = "") -> None:
        self.dir = workdir / f"linphone-{user}"
        self.user = user
        self.display = display
        self.proxy = proxy
        self.password = password
        self.port = free_udp_port()
        self.rtp_port = free_udp_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self.ready = asyncio.Event()
        self.connected = asyncio.Event()
        self.ended = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start it and wait for its prompt (its SIP socket is bound by then)."""
        binary = require_binary("linphonec")
        (self.dir / ".local" / "share" / "linphone").mkdir(parents=True, exist_ok=True)
        rc = self.dir / "linphonerc"
        text = RC.format(sip_port=self.port, rtp_port=self.rtp_port, user=self.user, display=self.display)
        if self.proxy:
            text += ACCOUNT.format(
                proxy=self.proxy, user=self.user, display=self.display, password=self.password
            )
        rc.write_text(text)
        env = {**os.environ, "HOME": str(self.dir)}
        self.proc = await asyncio.create_subprocess_exec(
            "timeout", "-s", "KILL", "120", binary, "-c", str(rc), "-a", "-S",
            "-d", "6", "-l", str(self.dir / "linphone.log"),  # its own log: SIP, call states, RTP statistics
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env=env, cwd=self.dir, start_new_session=True,
        )  # fmt: skip
        self._reader = asyncio.create_task(self._read())
        await asyncio.wait_for(self.ready.wait(), 30)

    async def _read(self) -> None:
        # chunks, not lines: the prompt "linphonec> " ends without a newline
        assert self.proc is not None and self.proc.stdout is not None
        while chunk := await self.proc.stdout.read(4096):
            self.lines.append(chunk.decode(errors="replace"))
            text = "".join(self.lines[-3:])
            if "linphonec>" in text:
                self.ready.set()
            if " connected." in text:
                self.connected.set()
            if re.search(r"Call \d+ .*(ended|error|failed|terminated)", text):
                self.ended.set()
        self.ready.set()

    async def command(self, line: str) -> None:
        """Type a linphonec command (``call sip:...``, ``terminate``)."""
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    def saw(self, text: str) -> bool:
        """Whether linphonec printed ``text``."""
        return text in "".join(self.lines)

    def debug_log(self) -> str:
        """liblinphone's own log (level 6: SIP messages, call states, RTP statistics)."""
        path = self.dir / "linphone.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def rtp_received(self) -> int:
        """RTP packets its audio stream received, from the statistics it logs when a stream stops."""
        stats = self.debug_log().split("AUDIO SESSION'S RTP STATISTICS")[1:]
        counts = [re.search(r"received\s+(\d+) packets", part) for part in stats]
        return sum(int(m.group(1)) for m in counts if m)

    def log(self) -> str:
        """What linphonec printed (for assertion messages)."""
        return "".join(self.lines)[-4000:]

    async def stop(self) -> None:
        """Quit, then kill its process group if it lingers."""
        if self.proc is None:
            return
        if self.proc.returncode is None and self.proc.stdin is not None:
            with contextlib.suppress(OSError, RuntimeError):
                self.proc.stdin.write(b"quit\n")
                await self.proc.stdin.drain()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.proc.wait(), 5)
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._reader, 5)


@contextlib.asynccontextmanager
async def linphone(
    workdir: Path, user: str, display: str = "", *, proxy: str = "", password: str = ""
) -> AsyncIterator[Linphone]:
    """An auto-answering linphonec phone for SIP user ``user`` (calling out through ``proxy`` when given)."""
    phone = Linphone(workdir, user, display or user, proxy, password)
    try:
        await phone.start()
        yield phone
    finally:
        await phone.stop()
