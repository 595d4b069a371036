"""Akashi (証): self-hosted call and camera recording with a tamper-evident evidence store."""

__version__ = "0.1.0"
