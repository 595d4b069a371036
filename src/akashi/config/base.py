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


def cuda_devices() -> int:
    """The CUDA devices CTranslate2 sees (0 without the optional analysis packages or a GPU)."""
    try:
        import ctranslate2  # noqa: PLC0415 - the optional 'analysis' extra; asked only for device = "auto"
    except ImportError:
        return 0
    return int(ctranslate2.get_cuda_device_count())


def auto_or_count(value: object, lowest: int, highest: int, refusal: str) -> object:
    """A setting's "auto", or a whole number from ``lowest`` to ``highest`` (digits from an environment
    variable count); anything else is refused with ``refusal``."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if value == "auto" or (
        isinstance(value, int) and not isinstance(value, bool) and lowest <= value <= highest
    ):
        return value
    raise ValueError(refusal)


class Section(BaseModel):
    """A configuration section: unknown keys are refused, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)
