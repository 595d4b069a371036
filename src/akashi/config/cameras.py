"""Configuration of camera recording."""

from __future__ import annotations

from pydantic import Field, SecretStr

from akashi.config.base import Section


class CameraSettings(Section):
    """One IP camera (RTSP)."""

    name: str = Field(..., min_length=1, max_length=64)
    site: str = ""
    url: SecretStr = Field(..., description="rtsp://user:pass@host:554/path; never logged.")
    segment_seconds: float = Field(4.0, ge=1.0, le=60.0)
    enabled: bool = True


class CameraPolicySettings(Section):
    """Settings shared by all cameras."""

    retain_days: int = Field(30, ge=1, le=3650)
    socket_timeout_s: float = Field(5.0, gt=0, le=60)
    reconnect_max_s: float = Field(30.0, ge=1, le=600)
    thumbnail_every_s: float = Field(5.0, ge=1, le=600)
    local_max_mb: int = Field(2048, ge=16, description="Local segment queue size before dropping uploaded copies.")
