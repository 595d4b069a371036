"""Base class of every configuration section."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict


def cores() -> int:
    """The cores this process may run on (a container's cpuset, ``taskset``), else all of the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


class Section(BaseModel):
    """A configuration section: unknown keys are refused, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)
