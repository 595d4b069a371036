"""An insider with the home folder rewrites history; the external checkpoints make ``akashi verify`` say so.

The insider uses what they have: the ``sqlite3`` shell on the database, the ``rm`` of evidence files,
and Akashi's own ``ledger-accept-head`` / ``audit-accept-head``. Before checkpoints these left verify
clean. The TSA is a real ``openssl ts`` on loopback.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from akashi.context import Akashi
from akashi.store.backends.base import object_key
from tests.conftest import require_binary
from tests.store.local_tsa import LocalTsa, local_tsa

__all__ = ["local_tsa"]

AKASHI = [sys.executable, "-m", "akashi.cli.main"]


def akashi(home: Path, tsa: LocalTsa, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKASHI_")}
    env |= {"AKASHI_STORE__TSA_URL": tsa.url, "AKASHI_STORE__TSA_CA_FILE": str(tsa.ca)}
    return subprocess.run(
        [*AKASHI, "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def sql(home: Path, statement: str) -> str:
    """What the insider types into the sqlite3 shell."""
    from akashi.config import load_settings

    sqlite3 = require_binary("sqlite3")
    db = load_settings(home).database_url.removeprefix("sqlite:///")
    out = subprocess.run(
        ["timeout", "30", sqlite3, db, statement], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


@pytest.fixture
def recorded(sqlite_home: Path, local_tsa: LocalTsa) -> tuple[Path, list[str]]:
    """Three recordings, then a checkpoint taken with ``akashi checkpoint`` (TSA-stamped)."""
    with Akashi.open(sqlite_home) as ak:
        ids = [
            ak.store.put(
                io.BytesIO(f"call {i}".encode()), kind="call_audio", media_type="audio/wav"
            ).object_id
            for i in range(3)
        ]
    done = akashi(sqlite_home, local_tsa, "checkpoint", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["tsa_verified"] is True
    return sqlite_home, ids


def problems(proc: subprocess.CompletedProcess[str]) -> list[dict[str, object]]:
    data = json.loads(proc.stdout)
    return [p for p in data["problems"] + data.get("audit_problems", [])]


def test_deleted_ledger_row_then_accepted_head_is_caught(
    recorded: tuple[Path, list[str]], local_tsa: LocalTsa
) -> None:
    home, ids = recorded
    last = ids[-1]
    # Erase the last recording entirely: its file, its row, its ledger entry; then accept the shorter ledger.
    (home / "evidence" / object_key(last)).unlink()
    sql(home, f"DELETE FROM evidence_objects WHERE id = '{last}'; DELETE FROM ledger WHERE seq = 3;")
    accepted = akashi(home, local_tsa, "ledger-accept-head", "--reason", "restored backup", "--yes")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "checkpoint" in accepted.stdout  # checkpointed at once, outside the box
    verify = akashi(home, local_tsa, "verify", "--json")
    assert verify.returncode == 1, verify.stdout + verify.stderr
    kinds = {str(p["kind"]) for p in problems(verify)}
    # The chains themselves are whole again (that was the hole): only the checkpoints catch it.
    assert kinds == {"checkpoint_ledger_missing", "checkpoint_ledger_cut_back"}, verify.stdout
    cut = next(p for p in problems(verify) if p["kind"] == "checkpoint_ledger_cut_back")
    assert "restored backup" in str(cut["en"]) and cut["seq"] == 3
    text = akashi(home, local_tsa, "verify")
    assert text.returncode == 1 and "NG" in text.stdout and "#3" in text.stdout
    # The accept itself is in the audit log, and verify's own run changed nothing it checks.
    assert sql(home, "SELECT count(*) FROM audit WHERE action = 'ledger_accept_head'") == "1"
    assert sql(home, "SELECT count(*) FROM ledger") == "2"


def test_trimmed_audit_log_is_caught(recorded: tuple[Path, list[str]], local_tsa: LocalTsa) -> None:
    home, _ = recorded
    # Leave a trace worth hiding, checkpoint it, then cut the audit log back before it.
    before = int(sql(home, "SELECT max(seq) FROM audit"))
    assert akashi(home, local_tsa, "verify").returncode == 0  # an audited action
    assert akashi(home, local_tsa, "checkpoint").returncode == 0
    sql(home, f"DELETE FROM audit WHERE seq > {before};")
    # The insider also re-anchors the audit log's own head, as the new command allows after a restore.
    reanchor = akashi(home, local_tsa, "audit-accept-head", "--reason", "cleanup", "--yes")
    assert reanchor.returncode == 0, reanchor.stdout + reanchor.stderr  # the head anchors now say nothing
    verify = akashi(home, local_tsa, "verify", "--json")
    assert verify.returncode == 1, verify.stdout + verify.stderr
    kinds = {str(p["kind"]) for p in problems(verify)}
    assert kinds & {"checkpoint_audit_missing", "checkpoint_audit_rewritten"}, verify.stdout
    assert not {k for k in kinds if k.startswith("ledger_") or k.startswith("object_")}


def test_planted_checkpoint_signed_by_another_key_is_named(
    recorded: tuple[Path, list[str]], local_tsa: LocalTsa
) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    home, _ = recorded
    folder = home / "checkpoints"
    real = sorted(folder.glob("*.json"))[-1]
    # A forged checkpoint that "fixes" a ledger row that never existed, signed with a fresh key.
    forged = real.name.replace("-L000003-", "-L000009-")
    body = json.loads(real.read_bytes())
    body["ledger"]["seq"] = 9
    raw = json.dumps(body).encode()
    (folder / forged).write_bytes(raw)
    (folder / forged.replace(".json", ".sig")).write_bytes(Ed25519PrivateKey.generate().sign(raw))
    verify = akashi(home, local_tsa, "verify", "--json")
    assert verify.returncode == 1
    kinds = [str(p["kind"]) for p in problems(verify)]
    assert kinds == ["checkpoint_bad_signature"], verify.stdout
