"""Long blocking work (one RTSP session) in its own thread, awaited from the event loop.

``asyncio.to_thread`` borrows the loop's default pool (``cpu + 4`` threads): a few long sessions
would take it all and starve every short call (uploads, database) and the other cameras.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def in_own_thread(name: str, fn: Callable[[], T]) -> T:
    """Run ``fn`` in a new daemon thread and await its result (or exception)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()

    def done(result: T | None, exc: BaseException | None) -> None:
        if fut.cancelled():
            return
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)  # type: ignore[arg-type]

    def body() -> None:
        try:
            result = fn()
        except BaseException as exc:
            loop.call_soon_threadsafe(done, None, exc)
        else:
            loop.call_soon_threadsafe(done, result, None)

    threading.Thread(target=body, name=name, daemon=True).start()
    return await fut
