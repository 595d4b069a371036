"""CLI commands of the cameras area."""

from __future__ import annotations
