"""The root settings model: one field per section of ``akashi.toml``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from akashi.config.analysis import AnalysisSettings
from akashi.config.base import Section
from akashi.config.cameras import CameraPolicySettings, CameraSettings
from akashi.config.core import (
    DatabaseSettings,
    JobSettings,
    RetentionSettings,
    SiteSettings,
    StoreSettings,
    WebSettings,
)
from akashi.config.crosscheck import Sections, check_references
from akashi.config.telephony import AgentSettings, AnnouncementSettings, SipSettings


class Settings(Section):
    """Everything ``akashi.toml`` may contain. ``home`` is not a key: it is where the file was found."""

    home: Path = Field(Path("akashi-data"), exclude=True)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    sites: list[SiteSettings] = Field(default_factory=list)
    sip: SipSettings = Field(default_factory=SipSettings)
    announcements: dict[str, AnnouncementSettings] = Field(
        default_factory=lambda: {"default": AnnouncementSettings()}
    )
    agents: list[AgentSettings] = Field(default_factory=list)
    cameras: list[CameraSettings] = Field(default_factory=list)
    camera_policy: CameraPolicySettings = Field(default_factory=CameraPolicySettings)
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)

    @model_validator(mode="after")
    def _references(self) -> Settings:
        # every announcement, site and name a setting refers to exists
        check_references(Sections(self.sip, self.announcements, self.agents, self.cameras, self.sites))
        return self

    # Paths derived from home -------------------------------------------------------------
    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL in force: the configured one, else SQLite in the home."""
        return self.database.url or f"sqlite:///{(self.home / 'akashi.db').resolve()}"

    @property
    def evidence_path(self) -> Path:
        """Folder of the local evidence backend."""
        return Path(self.store.path) if self.store.path else self.home / "evidence"

    @property
    def spool_path(self) -> Path:
        """Folder of pending uploads and in-progress recordings."""
        return Path(self.store.spool_path) if self.store.spool_path else self.home / "spool"

    @property
    def keys_path(self) -> Path:
        """Folder of the installation keys (mode 0700, files 0600)."""
        return self.home / "keys"
