"""CLI commands of the telephony area."""

from __future__ import annotations
