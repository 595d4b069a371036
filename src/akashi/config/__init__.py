"""Configuration: ``akashi.toml`` in the Akashi home, overridable by ``AKASHI_SECTION__KEY`` variables."""

from akashi.config.loader import CONFIG_NAME, load_settings, resolve_home
from akashi.config.settings import Settings

__all__ = ["CONFIG_NAME", "Settings", "load_settings", "resolve_home"]
