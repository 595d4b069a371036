"""Configuration of camera recording."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from akashi.config.base import Section


class CameraSettings(Section):
    """One IP camera (RTSP). More cameras can be added with ``akashi cameras add`` (kept in the database)."""

    name: str = Field(..., min_length=1, max_length=64, description="Unique name shown in the UI, e.g. 受付.")
    site: str = Field("", description="Site (拠点) the camera belongs to; sets who may see its footage.")
    url: SecretStr = Field(..., description="rtsp://user:pass@host:554/path; never logged.")
    segment_seconds: float = Field(
        4.0, ge=1.0, le=60.0, description="Target segment length (cut on keyframes)."
    )
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _rtsp(cls, v: SecretStr) -> SecretStr:
        # The message must not echo the URL: it holds the password.
        if not v.get_secret_value().startswith(("rtsp://", "rtsps://")):
            raise ValueError("must start with rtsp:// or rtsps://")
        return v


class CameraPolicySettings(Section):
    """Settings shared by all cameras."""

    retain_days: int = Field(30, ge=1, le=3650, description="Continuous footage is kept this many days.")
    socket_timeout_s: float = Field(5.0, gt=0, le=60, description="A camera silent this long is reconnected.")
    rtsp_reader: Literal["akashi", "pyav"] = Field(
        "akashi",
        description=(
            "Who reads the cameras' RTSP: Akashi's own reader (H.264/H.265 video, a fraction of the CPU), "
            "falling back to PyAV for streams it does not carry (audio, other codecs, B-frames, rtsps); "
            "or PyAV for all."
        ),
    )
    reconnect_max_s: float = Field(30.0, ge=1, le=600, description="Longest wait between reconnects.")
    thumbnail_every_s: float = Field(
        5.0, ge=1, le=600, description="Seconds between thumbnails of a segment."
    )
    local_max_mb: int = Field(
        2048, ge=16, description="Local segment queue size before dropping uploaded copies."
    )
