"""CLI commands of the core area."""

from __future__ import annotations
