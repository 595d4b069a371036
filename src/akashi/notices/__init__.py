"""Notices: recording-notice audio from text, its lint, operator scripts and printable signs."""

from akashi.notices.audio import synthesize, synthesize_cached
from akashi.notices.lint import LintMessage, estimate_duration, lint_notice

__all__ = ["LintMessage", "estimate_duration", "lint_notice", "synthesize", "synthesize_cached"]
