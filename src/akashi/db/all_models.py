"""Imports every table module so that ``Base.metadata`` knows all tables (for Alembic and tests)."""

from __future__ import annotations

import importlib
import pkgutil

import akashi.db
from akashi.db import models
from akashi.db.base import Base

# Packages add tables in akashi/db/models_<area>.py; import them all.
for _mod in pkgutil.iter_modules(akashi.db.__path__):
    if _mod.name.startswith("models_"):
        importlib.import_module(f"akashi.db.{_mod.name}")

__all__ = ["Base", "models"]
