"""Agents' digest secrets and the outbound settings at load time."""

from __future__ import annotations

from pathlib import Path

import pytest

from akashi.config import load_settings
from akashi.errors import ConfigError


def write(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    (home / "akashi.toml").write_text(text, encoding="utf-8")
    return home


def test_short_secret_refused_naming_the_agent(tmp_path: Path) -> None:
    """A secret under 12 characters (svcrack found "1234") stops the load and names the agent."""
    home = write(tmp_path, '[[agents]]\nname = "佐藤"\nsip_user = "201"\npassword = "1234"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(home, environ={})
    msg = str(err.value)
    assert "201" in msg and "佐藤" in msg and "12" in msg
    assert "1234" not in msg  # the secret itself is never echoed


def test_long_secret_and_no_secret_load(tmp_path: Path) -> None:
    """12 characters or more load; an agent without a secret loads too (it just cannot call out)."""
    home = write(
        tmp_path,
        '[[agents]]\nname = "a"\nsip_user = "201"\npassword = "abcdefghijkl"\n'
        '[[agents]]\nname = "b"\nsip_user = "202"\n',
    )
    s = load_settings(home, environ={})
    assert s.agents[0].password.get_secret_value() == "abcdefghijkl"
    assert s.agents[1].password.get_secret_value() == ""


def test_outbound_defaults(tmp_path: Path) -> None:
    """agent_networks is empty by default; a trunk refuses international and premium by default."""
    home = write(tmp_path, '[[sip.trunks]]\nname = "main"\nhost = "192.0.2.1"\n')
    s = load_settings(home, environ={})
    assert s.sip.agent_networks == []
    t = s.sip.trunks[0]
    assert (t.allow_international, t.allow_premium, t.allow_emergency, t.dial_allow) == (
        False,
        False,
        True,
        [],
    )
    assert s.sip.auth_lockout_after == 5


def test_bad_agent_network_refused(tmp_path: Path) -> None:
    """An agent_networks entry that is no network is refused at load."""
    home = write(tmp_path, '[sip]\nagent_networks = ["10.0.0.0/33"]\n')
    with pytest.raises(ConfigError, match="agent_networks"):
        load_settings(home, environ={})
