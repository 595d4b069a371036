"""Helpers of the store tests: streams that watch how they are read, and database tampering."""

from __future__ import annotations

import io
import os
from typing import Any

from sqlalchemy import Engine, text


class WatchedStream(io.RawIOBase):
    """Random bytes produced on demand; records the largest read and refuses 'read everything'."""

    def __init__(self, size: int, seed: bytes = b"") -> None:
        self.size = size
        self.pos = 0
        self.max_read = 0
        self._block = (seed or os.urandom(64)) * (65536 // max(1, len(seed or b"x" * 64)) + 1)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            raise AssertionError("the store must never read a whole stream at once")
        n = min(n, self.size - self.pos)
        self.max_read = max(self.max_read, n)
        out = bytearray()
        while len(out) < n:
            k = min(n - len(out), len(self._block))
            start = (self.pos + len(out)) % 4096
            out += self._block[start : start + k]
        self.pos += n
        return bytes(out[:n])


def flip_text(value: str) -> str:
    """Change one character (keeps length)."""
    c = value[len(value) // 2]
    repl = "0" if c != "0" else "1"
    i = len(value) // 2
    return value[:i] + repl + value[i + 1 :]


def sql(engine: Engine, statement: str, **params: Any) -> list[Any]:
    """Run raw SQL (a tamperer does not use our models) and return rows if any."""
    with engine.begin() as conn:
        res = conn.execute(text(statement), params)
        return list(res) if res.returns_rows else []
