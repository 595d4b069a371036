"""Answering with a written evidence package (calls, camera ranges, incidents)."""

from __future__ import annotations

import shutil
from pathlib import Path

from fastapi import BackgroundTasks
from fastapi.responses import FileResponse


def package_response(path: Path, name: str, tasks: BackgroundTasks) -> FileResponse:
    """Send a written package and remove its temporary folder afterwards."""
    tasks.add_task(shutil.rmtree, path.parent, True)
    return FileResponse(path, media_type="application/zip", filename=name)
