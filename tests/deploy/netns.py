"""Hosts on one machine for the several-node tests: network namespaces on a bridge, and their processes.

Each telephony node runs in a network namespace of its own with its own address on a Linux bridge, as on
separate hosts: its SIP port and RTP ports are its own, a kill of it leaves the others' sockets alone, and
nothing reaches it through 127.0.0.1. The root namespace holds the bridge's address, where Kamailio, SIPp,
the S3 server and the web node live. PostgreSQL is reached through its Unix socket (a file, which network
namespaces do not separate).
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import missing_peer
from tests.ports import free_port_on


def _ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = ["ip", *args] if netns is None else ["ip", "netns", "exec", netns, "ip", *args]
    return subprocess.run(["timeout", "20", *cmd], capture_output=True, text=True, check=check)


@dataclass
class Lan:
    """A bridge in the root namespace (``gateway``) and one namespace per host with its own address."""

    tag: str
    prefix: str
    bridge: str
    hosts: dict[str, str] = field(default_factory=dict)  # host name -> address
    namespaces: dict[str, str] = field(default_factory=dict)  # host name -> namespace

    @property
    def gateway(self) -> str:
        """The bridge's address in the root namespace."""
        return f"{self.prefix}.1"

    def add_host(self, name: str, last_octet: int) -> str:
        """A namespace with a veth on the bridge and address ``prefix.last_octet``; returns the address."""
        ns = f"akashi-{self.tag}-{name}"
        here, there = f"akv{self.tag}{name}"[:15], f"akp{self.tag}{name}"[:15]
        _ip("netns", "add", ns)
        self.namespaces[name] = ns
        _ip("link", "add", here, "type", "veth", "peer", "name", there)
        _ip("link", "set", there, "netns", ns)
        _ip("link", "set", here, "master", self.bridge, "up")
        addr = f"{self.prefix}.{last_octet}"
        _ip("addr", "add", f"{addr}/24", "dev", there, netns=ns)
        _ip("link", "set", there, "up", netns=ns)
        _ip("link", "set", "lo", "up", netns=ns)
        self.hosts[name] = addr
        return addr

    def close(self) -> None:
        """Remove the namespaces (their veths go with them) and the bridge."""
        for ns in self.namespaces.values():
            _ip("netns", "del", ns, check=False)
        _ip("link", "del", self.bridge, check=False)


@contextlib.contextmanager
def lan() -> Iterator[Lan]:
    """A private /24 on a fresh bridge; skipped (failed in CI) where namespaces cannot be made."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        missing_peer("network namespaces (root and iproute2's ip)")
    used = _ip("-4", "addr", check=False).stdout
    for _ in range(50):
        prefix = f"10.{random.randint(200, 250)}.{random.randint(1, 254)}"
        if f" {prefix}." not in used:
            break
    tag = secrets.token_hex(2)
    net = Lan(tag=tag, prefix=prefix, bridge=f"akbr{tag}")
    try:
        r = _ip("link", "add", net.bridge, "type", "bridge", check=False)
        if r.returncode != 0:
            missing_peer(f"a Linux bridge (ip link add type bridge: {r.stderr.strip()})")
        _ip("addr", "add", f"{net.gateway}/24", "dev", net.bridge)
        _ip("link", "set", net.bridge, "up")
        yield net
    finally:
        net.close()


def free_port(host: str, kind: int = socket.SOCK_DGRAM) -> int:
    """A port free right now on ``host``, from the tests' pool outside the kernel's ephemeral range.

    SIPp's ``-mp`` port is its audio socket and that port + 2 its video socket: the pool hands out
    blocks of 4 checked free, so neither is taken by the next process that binds port 0.
    """
    return free_port_on(host, kind)


class Proc:
    """A child process in its own process group (``kill -9`` reaches all of it), output to a log file."""

    def __init__(self, name: str, cmd: list[str], log: Path, *, netns: str | None = None,
                 env: dict[str, str] | None = None, limit_s: int = 180) -> None:  # fmt: skip
        self.name = name
        self.log = log
        self.port = 0  # the SIP port of a SIPp
        prefix = ["ip", "netns", "exec", netns] if netns else []
        self.proc = subprocess.Popen(
            [*prefix, "timeout", "-s", "KILL", str(limit_s), *cmd],
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=log.parent,  # SIPp writes its -trace_err file in the working folder
            start_new_session=True,
        )

    @property
    def alive(self) -> bool:
        """Still running."""
        return self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL to the whole group, as a crash or a pulled plug would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, then SIGKILL if it does not go."""
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout)
        self.kill9()

    def tail(self, n: int = 3000) -> str:
        """The end of its log."""
        try:
            return f"== {self.name}\n" + self.log.read_text(errors="replace")[-n:]
        except OSError:
            return f"== {self.name}: no log"


def sip_options_ok(src: str, dest: tuple[str, int], timeout: float = 0.5) -> bool:
    """An OPTIONS from ``src`` to ``dest`` got a 200."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((src, 0))
        port = s.getsockname()[1]
        branch = "z9hG4bK" + secrets.token_hex(8)
        msg = (
            f"OPTIONS sip:{dest[0]}:{dest[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {src}:{port};branch={branch};rport\r\n"
            f"From: <sip:probe@{src}>;tag={secrets.token_hex(4)}\r\n"
            f"To: <sip:{dest[0]}:{dest[1]}>\r\n"
            f"Call-ID: {secrets.token_hex(8)}@{src}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        s.settimeout(timeout)
        s.sendto(msg.encode(), dest)
        try:
            data, _ = s.recvfrom(65535)
        except OSError:
            return False
        return data.startswith(b"SIP/2.0 200")


def wait_until(what: str, check: object, timeout: float, *procs: Proc, every: float = 0.2) -> None:
    """Poll ``check()`` until true; fail with the processes' logs when it is not within ``timeout``."""
    assert callable(check)
    end = time.monotonic() + timeout
    while not check():
        for p in procs:
            assert p.alive, f"{p.name} exited while waiting for {what}\n{p.tail()}"
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not within {timeout} s\n" + "\n".join(p.tail() for p in procs))
        time.sleep(every)
