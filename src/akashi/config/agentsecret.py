"""Agents' digest secrets: made here, written into ``akashi.toml`` like the rest of an agent.

A secret is what the agent's phone answers Akashi's digest challenge with, so Akashi must keep it
(digest needs the secret itself, not a one-way hash); the file is written mode 0600 by
:mod:`akashi.config.writer`. It is shown once, when made, and never again.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from tomlkit.items import AoT, Table
from tomlkit.toml_document import TOMLDocument

from akashi.config.telephony import MIN_SECRET_LENGTH, AgentSettings
from akashi.config.writer import update_config
from akashi.errors import ConfigError

#: characters of a made secret: letters and digits only, which every phone's keypad menu can enter
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
#: 20 characters of a 57-letter alphabet: about 116 bits
SECRET_LENGTH = 20


def new_secret(length: int = SECRET_LENGTH) -> str:
    """A random secret of ``length`` characters (at least :data:`MIN_SECRET_LENGTH`)."""
    if length < MIN_SECRET_LENGTH:
        raise ValueError(f"a secret has at least {MIN_SECRET_LENGTH} characters")
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def _find(agents: AoT, key: str) -> Table:
    """The agent whose SIP user is ``key``, else the one whose name is ``key`` (exactly one)."""
    tables: list[Table] = list(agents)
    by_user = [t for t in tables if str(t.get("sip_user", "")) == key]
    if by_user:
        return by_user[0]
    by_name = [t for t in tables if str(t.get("name", "")) == key]
    if len(by_name) == 1:
        return by_name[0]
    if len(by_name) > 1:
        raise ConfigError(
            f"担当者名 {key} が複数あります。SIP ユーザーで指定してください",
            f"more than one agent is named {key}; name the SIP user instead",
        )
    raise ConfigError(f"担当者 {key} は設定にありません", f"no agent {key} in the configuration")


def set_agent_secret(home: Path, key: str, secret: str | None = None) -> tuple[AgentSettings, str]:
    """Give the agent ``key`` (SIP user or name) a new secret (made when None); returns it and the agent.

    The whole configuration is validated before it is written: a secret under
    :data:`MIN_SECRET_LENGTH` characters is refused with the agent named.
    """
    value = new_secret() if secret is None else secret
    if len(value) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"パスワードは {MIN_SECRET_LENGTH} 文字以上にしてください",
            f"a secret must be at least {MIN_SECRET_LENGTH} characters",
        )
    found: dict[str, str] = {}

    def edit(doc: TOMLDocument) -> None:
        agents = doc.get("agents")
        if not isinstance(agents, AoT):
            raise ConfigError("担当者が設定にありません", "no agents in the configuration")
        table = _find(agents, key)
        table["password"] = value
        found["sip_user"] = str(table.get("sip_user", ""))

    settings = update_config(home, edit)
    agent = next(a for a in settings.agents if a.sip_user == found["sip_user"])
    return agent, value
