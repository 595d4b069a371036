"""An insider deletes the ledger's newest entries; new recordings must not carry the anchors past the gap.

The insider has the database and the home: the ``sqlite3`` shell deletes the last recordings' ledger
entries and rows (their files too), and sets the ``kv`` anchor to the new last entry. Recordings made
afterwards reuse the deleted numbers. The head anchors move only along the chain they remember, so the
file ``ledger.head`` stays on the deleted head and ``akashi verify`` keeps naming it. Accepting the
shorter ledger on purpose is ``ledger-accept-head``: audited, and then the anchors move again.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from akashi.config import load_settings
from akashi.context import Akashi
from akashi.store.backends.base import object_key
from akashi.store.evidence import HEAD_FILE
from akashi.store.ledger import KV_HEAD
from tests.conftest import require_binary

AKASHI = [sys.executable, "-m", "akashi.cli.main"]


def akashi(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real ``akashi`` executable on ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKASHI_")}
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
    sqlite3 = require_binary("sqlite3")
    db = make_url(load_settings(home).database_url).database
    assert db
    out = subprocess.run(
        ["timeout", "30", sqlite3, db, statement], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def record(home: Path, n: int, tag: str) -> list[str]:
    """``n`` recordings stored the way the recorders store them."""
    with Akashi.open(home) as ak:
        return [
            ak.store.put(
                io.BytesIO(f"{tag} call {i}".encode()), kind="call_audio", media_type="audio/wav"
            ).object_id
            for i in range(n)
        ]


def verify(home: Path) -> tuple[int, dict[str, Any]]:
    """``akashi verify --json``: exit code and report."""
    r = akashi(home, "verify", "--json")
    return r.returncode, json.loads(r.stdout)


def ledger_problems(report: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        (str(p["kind"]), p.get("seq")) for p in report["problems"] if str(p["kind"]).startswith("ledger_")
    ]


def file_head(home: Path) -> tuple[int, str]:
    value = json.loads((home / HEAD_FILE).read_text())
    return int(value["seq"]), str(value["hash"])


def erase_tail(home: Path, ids: list[str], keep: int) -> None:
    """Erase every recording after the first ``keep``: files, rows, ledger entries; fix the kv anchor."""
    for oid in ids[keep:]:
        (home / "evidence" / object_key(oid)).unlink()
    gone = ", ".join(f"'{oid}'" for oid in ids[keep:])
    sql(home, f"DELETE FROM evidence_objects WHERE id IN ({gone}); DELETE FROM ledger WHERE seq > {keep};")
    seq, h = sql(home, "SELECT seq, entry_hash FROM ledger ORDER BY seq DESC LIMIT 1").split("|")
    sql(home, f"""UPDATE kv SET value = '{{"seq": {seq}, "hash": "{h}"}}' WHERE key = '{KV_HEAD}';""")


@pytest.fixture
def recorded(sqlite_home: Path) -> tuple[Path, list[str], tuple[int, str]]:
    """Five recordings, verified clean; returns the home, their ids and the anchored head."""
    ids = record(sqlite_home, 5, "first")
    code, report = verify(sqlite_home)
    assert code == 0 and report["ok"], report["problems"]
    head = file_head(sqlite_home)
    assert head[0] == 5
    return sqlite_home, ids, head


def test_deleted_tail_stays_reported_after_new_recordings(
    recorded: tuple[Path, list[str], tuple[int, str]],
) -> None:
    home, ids, anchored = recorded
    erase_tail(home, ids, keep=3)
    code, report = verify(home)
    assert code == 1 and ("ledger_tail_missing", 4) in ledger_problems(report), report["problems"]
    # The next recording reuses #4: the kv anchor (fixed by the insider) follows it, the file does not.
    record(home, 1, "second")
    code, report = verify(home)
    assert code == 1 and ledger_problems(report) == [("ledger_tail_missing", 5)], report["problems"]
    assert file_head(home) == anchored
    # More recordings pass the deleted head's number: they must not launder it either.
    record(home, 3, "third")
    assert sql(home, "SELECT max(seq) FROM ledger") == "7"
    assert file_head(home) == anchored
    code, report = verify(home)
    assert code == 1 and ("ledger_rewritten", anchored[0]) in ledger_problems(report), report["problems"]
    text = akashi(home, "verify")
    assert text.returncode == 1 and "NG" in text.stdout and f"#{anchored[0]}" in text.stdout, text.stdout


def test_kv_anchor_alone_does_not_follow_a_deleted_tail(
    recorded: tuple[Path, list[str], tuple[int, str]],
) -> None:
    """An insider who leaves ``kv`` alone: the database's own anchor stays on the deleted head too."""
    home, ids, anchored = recorded
    for oid in ids[3:]:
        (home / "evidence" / object_key(oid)).unlink()
    gone = ", ".join(f"'{oid}'" for oid in ids[3:])
    sql(home, f"DELETE FROM evidence_objects WHERE id IN ({gone}); DELETE FROM ledger WHERE seq > 3;")
    record(home, 4, "again")
    kv = json.loads(sql(home, f"SELECT value FROM kv WHERE key = '{KV_HEAD}'"))
    assert (kv["seq"], kv["hash"]) == anchored
    # Even with the file removed as well, the kv row alone still names the rewrite.
    (home / HEAD_FILE).unlink()
    code, report = verify(home)
    assert code == 1 and ("ledger_rewritten", anchored[0]) in ledger_problems(report), report["problems"]


def test_accepting_the_shorter_ledger_is_audited_and_anchors_move_again(
    recorded: tuple[Path, list[str], tuple[int, str]],
) -> None:
    home, ids, anchored = recorded
    erase_tail(home, ids, keep=3)
    record(home, 3, "second")
    assert verify(home)[0] == 1
    refused = akashi(home, "ledger-accept-head", "--reason", "restored backup")
    assert refused.returncode != 0 and file_head(home) == anchored  # nothing moved without --yes
    done = akashi(home, "ledger-accept-head", "--reason", "restored the 12-01 backup", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    last = tuple(sql(home, "SELECT seq, entry_hash FROM ledger ORDER BY seq DESC LIMIT 1").split("|"))
    assert file_head(home) == (int(last[0]), last[1])
    code, report = verify(home)
    assert code == 0 and report["ok"], report["problems"]
    row = sql(home, "SELECT user_name, detail FROM audit WHERE action = 'ledger_accept_head'").split("|", 1)
    assert row[0] == "cli"
    detail = json.loads(row[1])
    assert detail["reason"] == "restored the 12-01 backup" and detail["head"] == [int(last[0]), last[1]]
    # From the accepted head on, recordings advance both anchors again.
    record(home, 2, "after")
    seq, h = sql(home, "SELECT seq, entry_hash FROM ledger ORDER BY seq DESC LIMIT 1").split("|")
    assert file_head(home) == (int(seq), h)
    kv = json.loads(sql(home, f"SELECT value FROM kv WHERE key = '{KV_HEAD}'"))
    assert (kv["seq"], kv["hash"]) == (int(seq), h)
    code, report = verify(home)
    assert code == 0 and report["ok"], report["problems"]
