"""CLI commands of the notices area."""

from __future__ import annotations
