"""The running installation: settings, database engine and evidence store, opened once and shared.

CLI commands, ``akashi serve`` and tests all reach services through an :class:`Akashi` object.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from sqlalchemy import Engine

from akashi.access.audit import register_anchor
from akashi.config import Settings, load_settings
from akashi.db.base import make_engine
from akashi.db.migrate import migrate
from akashi.store.evidence import EvidenceStore


class Akashi:
    """One installation, opened from its home folder."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        register_anchor(engine, settings.home)  # audit entries advance <home>/audit.head

    @classmethod
    def open(cls, home: str | Path | None = None, *, run_migrations: bool = True) -> Akashi:
        """Load settings, connect to the database and bring its schema up to date."""
        settings = load_settings(home)
        engine = make_engine(settings.database_url, echo=settings.database.echo)
        if run_migrations:
            migrate(engine)
        return cls(settings, engine)

    @cached_property
    def store(self) -> EvidenceStore:
        """The evidence store (opened on first use: it needs the installation key)."""
        return EvidenceStore(self.settings, self.engine)

    def close(self) -> None:
        """Release connections."""
        if "store" in self.__dict__:
            self.store.close()
        self.engine.dispose()

    def __enter__(self) -> Akashi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
