"""A live viewer that stops reading cannot make the server hold the camera's stream in memory."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

import pytest

from akashi.cameras import live
from akashi.cameras.live import STATS, ViewerBuffer, live_fmp4

CHUNK = 64 * 1024


def test_buffer_closes_a_viewer_that_falls_behind() -> None:
    async def main() -> None:
        stop = threading.Event()
        buf = ViewerBuffer("cam1", 4 * CHUNK, stop)
        before = STATS.slow_viewers_closed
        for _ in range(4):
            buf.offer(b"x" * CHUNK)
        assert not buf.overflowed and buf.pending == 4 * CHUNK
        assert await buf.get() == b"x" * CHUNK  # a viewer that reads makes room
        buf.offer(b"y" * CHUNK)
        assert not buf.overflowed
        buf.offer(b"z" * CHUNK)  # one chunk too many
        assert buf.overflowed and stop.is_set() and STATS.slow_viewers_closed == before + 1
        assert buf.pending == 0 and await buf.get() == b""  # what waited is dropped; the stream ends
        buf.offer(b"w" * CHUNK)
        assert buf.queue.empty()  # nothing is queued after the end

    asyncio.run(main())


@pytest.fixture
def fake_camera(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A camera whose reader writes one chunk, and once the viewer has it 63 more at once, then waits
    to be told to stop (``first_read`` is set by the test: a loaded machine could otherwise run all the
    writes before the viewer's first read)."""
    state: dict[str, Any] = {
        "written": 0,
        "reason": "",
        "done": threading.Event(),
        "first_read": threading.Event(),
    }

    def pump(url: str, timeout_s: float, sink: Any, stop: threading.Event) -> str:
        try:
            for i in range(64):
                sink.write(b"m" * CHUNK)
                state["written"] += CHUNK
                if i == 0 and not state["first_read"].wait(30):
                    state["reason"] = "first chunk never read"
                    return str(state["reason"])
            state["reason"] = "closed" if stop.wait(30) else "never stopped"
            return str(state["reason"])
        finally:
            state["done"].set()

    monkeypatch.setattr(live, "_pump", pump)
    monkeypatch.setattr(live, "configured_cameras", lambda *a: [SimpleNamespace(name="cam1", url="rtsp://x")])
    return state


def test_a_stalled_viewer_is_closed_and_the_reader_stops(fake_camera: dict[str, Any]) -> None:
    ak: Any = SimpleNamespace(
        settings=SimpleNamespace(camera_policy=SimpleNamespace(socket_timeout_s=5)), engine=None
    )
    limit = 16 * CHUNK
    before = STATS.slow_viewers_closed

    async def main() -> int:
        stream = live_fmp4(ak, "cam1", buffer_bytes=limit)
        assert len(await anext(stream)) == CHUNK
        fake_camera["first_read"].set()
        # the viewer stops reading while the camera writes four times its buffer, and the reader
        # waits to be stopped: the loop, free meanwhile, takes the writes and must close the viewer
        assert await asyncio.to_thread(fake_camera["done"].wait, 40)
        late = 0
        async for chunk in stream:
            late += len(chunk)
        return late

    late = asyncio.run(main())
    assert fake_camera["reason"] == "closed"  # the camera reader was told to stop
    assert late <= limit  # never more than the buffer was held for the viewer
    assert STATS.slow_viewers_closed == before + 1
