"""CLI commands of the analysis area."""

from __future__ import annotations
