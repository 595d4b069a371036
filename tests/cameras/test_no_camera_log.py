"""``akashi serve`` says "no camera configured" once, and again only when it becomes true again (issue 11).

Every configuration reload that changes what decides the cameras makes the service look again; with no
camera it used to say so each time. A disabled camera in ``akashi.toml`` is a camera configured: taking it
out makes the sentence true again, so it is said again.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from pathlib import Path

import pytest

from akashi.cameras.service import CameraService
from akashi.config.cameras import CameraSettings
from akashi.context import Akashi


async def test_no_camera_is_said_once(sqlite_home: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="akashi.cameras.service")

    def said() -> int:
        return sum(r.getMessage() == "no camera configured" for r in caplog.records)

    with Akashi.open(sqlite_home) as ak:
        svc = CameraService(ak)
        rounds = itertools.count()
        svc._fingerprint = lambda: next(rounds)  # type: ignore[method-assign]  # every round: a reload
        stop = asyncio.Event()
        async with asyncio.TaskGroup() as tg:
            for _ in range(3):
                assert await svc.reconcile(tg, stop)
            assert said() == 1
            gate = CameraSettings(name="gate", url="rtsp://192.0.2.1/stream", enabled=False)
            ak.settings = ak.settings.model_copy(update={"cameras": [gate]})
            assert await svc.reconcile(tg, stop)
            assert said() == 1  # a camera is configured (disabled): nothing to say
            ak.settings = ak.settings.model_copy(update={"cameras": []})
            for _ in range(2):
                assert await svc.reconcile(tg, stop)
            assert said() == 2  # true again: said again, once
