"""Ports for the tests' peers and servers: from a pool the kernel never hands out by itself.

``bind(port 0)`` draws from the kernel's ephemeral range (32768-60999 on Linux), and so does every
outgoing connection. A port found free there and closed again could go to the next process that binds
port 0 or connects (Akashi, an RTP peer, a database client) before the peer or server it was meant for
binds it. Nothing binds in this pool unless told to, and each pytest-xdist worker has its own slice.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
from pathlib import Path

#: ports handed out together: SIPp's ``-mp`` port is its audio and that port + 2 its video socket
BLOCK = 4


def _pool() -> range:
    """Ports the kernel never hands out by itself: above its ephemeral range, else below it."""
    try:
        lo, hi = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        lo, hi = 32768, 60999
    if 65535 - hi >= 1000:
        first, last = hi + 1, 65535
    else:  # above the B2BUA tests' RTP ranges (10000-29999)
        first, last = 30000, max(30000 + 1000, lo - 1)
    # each pytest-xdist worker takes its own slice, so two workers never hand out the same port
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    size = (last - first + 1) // max(1, workers) // BLOCK * BLOCK
    start = first + index * size
    return range(start, start + size - BLOCK + 1, BLOCK)


_POOL = _pool()
_cursor = itertools.count(random.randrange(len(_POOL)))


def _free(port: int, kinds: tuple[int, ...], host: str) -> bool:
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def _take(kinds: tuple[int, ...], host: str = "127.0.0.1") -> int:
    """The next block of the pool whose ports are all free now on ``host``; its first port."""
    for _ in range(len(_POOL)):
        port = _POOL[next(_cursor) % len(_POOL)]
        if all(_free(p, kinds, host) for p in range(port, port + BLOCK)):
            return port
    raise RuntimeError("no free port in the test pool")


def free_udp_port() -> int:
    """A UDP port free right now on 127.0.0.1, the first of a free block of 4, outside the ephemeral range."""
    return _take((socket.SOCK_DGRAM,))


def free_udp_tcp_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (baresip and Akashi's SIP bind both)."""
    return _take((socket.SOCK_DGRAM, socket.SOCK_STREAM))


def free_port() -> int:
    """A TCP port free right now on 127.0.0.1 (a web server, an S3 endpoint, an RTSP server)."""
    return _take((socket.SOCK_STREAM,))


def free_port_on(host: str, kind: int = socket.SOCK_DGRAM) -> int:
    """A port free right now on ``host`` (an address of this machine, such as a test LAN's gateway)."""
    return _take((kind,), host)
