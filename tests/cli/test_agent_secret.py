"""``akashi agent secret NAME``: a strong secret, written into akashi.toml, printed once, audited."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from sqlalchemy import select

from akashi.config import load_settings
from akashi.context import Akashi
from akashi.db.models import AuditEntry
from tests.cli.test_end_to_end import run

AGENTS = """
[[agents]]
name = "佐藤 花子"
sip_user = "201"
site = "tokyo"

[[agents]]
name = "鈴木 一郎"
sip_user = "202"
"""


def _secret(stdout: str) -> str:
    lines = stdout.strip().splitlines()
    assert len(lines) == 3, stdout  # heading, the secret alone on its line, the note
    return lines[1]


def test_secret_made_stored_and_printed_once(home: Path) -> None:
    """By SIP user or by name; 20 letters and digits; stored (0600), audited without the secret."""
    (home / "akashi.toml").write_text((home / "akashi.toml").read_text() + AGENTS)
    first = _secret(run(home, "agent", "secret", "201").stdout)
    assert len(first) == 20 and first.isalnum()
    settings = load_settings(home, environ={})
    assert settings.agents[0].password.get_secret_value() == first
    assert settings.agents[1].password.get_secret_value() == ""
    assert stat.S_IMODE((home / "akashi.toml").stat().st_mode) == 0o600
    second = _secret(run(home, "agent", "secret", "鈴木 一郎").stdout)
    assert second != first
    settings = load_settings(home, environ={})
    assert [a.password.get_secret_value() for a in settings.agents] == [first, second]
    with Akashi.open(home) as ak, ak.engine.connect() as c:
        rows = c.execute(select(AuditEntry.action, AuditEntry.target_id, AuditEntry.detail)).all()
    mine = [(t, json.loads(d)) for a, t, d in rows if a == "agent_secret"]
    assert mine == [("201", {"name": "佐藤 花子"}), ("202", {"name": "鈴木 一郎"})]
    assert all(first not in d and second not in d for _a, _t, d in rows)


def test_unknown_agent_refused(home: Path) -> None:
    """An agent that is not configured: a clear error, nothing written."""
    (home / "akashi.toml").write_text((home / "akashi.toml").read_text() + AGENTS)
    before = (home / "akashi.toml").read_text()
    out = run(home, "agent", "secret", "299", check=False)
    assert out.returncode != 0
    assert "no agent 299" in out.stderr
    assert (home / "akashi.toml").read_text() == before
