"""The shipped Kamailio config and node list parse as they are (``kamailio -c``), and with each test override."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_binary

pytestmark = pytest.mark.sip

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kamailio"


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        [
            "-A",
            'DS_ALGORITHM="4"',
            "-A",
            "PING_INTERVAL=1",
            "-A",
            "INVITE_TIMEOUT_MS=1500",
            "-A",
            "CHILDREN=2",
        ],
    ],
)
def test_config_checks(overrides: list[str]) -> None:
    kamailio = require_binary("kamailio")
    r = subprocess.run(
        ["timeout", "30", kamailio, "-c", "-f", str(DEPLOY / "kamailio.cfg"),
         "-A", f'DISPATCHER_LIST="{DEPLOY / "dispatcher.list"}"', *overrides],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert r.returncode == 0 and "config file ok" in r.stderr + r.stdout, r.stderr[-3000:]
