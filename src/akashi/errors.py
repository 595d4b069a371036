"""The one error hierarchy of Akashi.

Every error carries a message a person can act on, in Japanese first with English beside it.
"""

from __future__ import annotations


class AkashiError(Exception):
    """Base of every error Akashi raises on purpose.

    ``ja`` is the Japanese message, ``en`` the English one; ``str(err)`` gives both.
    """

    exit_code = 1

    def __init__(self, ja: str, en: str | None = None) -> None:
        self.ja = ja
        self.en = en if en is not None else ja
        super().__init__(self.ja if self.en == self.ja else f"{self.ja} / {self.en}")


class ConfigError(AkashiError):
    """The configuration file or environment is invalid; nothing was started."""

    exit_code = 2


class StoreError(AkashiError):
    """The evidence store could not complete an operation."""


class IntegrityError(StoreError):
    """Stored evidence failed authentication or does not match its ledger entry."""


class AccessDenied(AkashiError):
    """The user may not do this; the attempt has been audited."""

    exit_code = 3


class NotFoundError(AkashiError):
    """The requested record does not exist (or is not visible to the user)."""

    exit_code = 4


class ProtocolError(AkashiError, ValueError):
    """A wire message or media container could not be parsed; the field is named."""
