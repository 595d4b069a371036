"""Rewriting the audit log is caught by ``akashi verify``, which names the audit log.

The attacker has the database: the ``sqlite3`` shell deletes the newest entries (and fixes the
``kv`` anchor to match), or a script edits an entry and recomputes the chain after it with Akashi's
own hashing. The head anchored in ``<home>/audit.head`` (and in ``kv``) makes both visible, the
same way the ledger's head is anchored. Accepting a shorter log on purpose is an audited command.
"""

from __future__ import annotations

import json
import math
import os
import struct
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from akashi.access.audit import AUDIT_FIELDS, HEAD_FILE, KV_HEAD, audit
from akashi.config import load_settings
from akashi.context import Akashi
from akashi.db import chain
from akashi.db.base import session_scope
from akashi.db.models import AuditEntry
from tests.conftest import require_binary

AKASHI = [sys.executable, "-m", "akashi.cli.main"]


def akashi(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real ``akashi`` executable on ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKASHI_")}
    return subprocess.run(
        [*AKASHI, "--home", str(home), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def sql(home: Path, statement: str) -> str:
    """What the attacker types into the sqlite3 shell."""
    sqlite3 = require_binary("sqlite3")
    db = make_url(load_settings(home).database_url).database
    assert db
    out = subprocess.run(
        ["timeout", "30", sqlite3, db, statement],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def verify(home: Path) -> tuple[int, dict[str, Any]]:
    """``akashi verify --json``: exit code and report."""
    r = akashi(home, "verify", "--json")
    return r.returncode, json.loads(r.stdout)


def audit_kinds(report: dict[str, Any]) -> set[str]:
    return {str(p["kind"]) for p in report["problems"] if str(p["kind"]).startswith("audit_")}


@pytest.fixture
def audited(sqlite_home: Path, tmp_path: Path) -> Path:
    """An installation with a trail worth hiding: a user added, a call imported, shown and exported."""
    home = sqlite_home
    r = akashi(home, "user", "add", "kanri", "--role", "manager", "--site", "t", "--password-stdin",
               stdin="a-long-password\n")  # fmt: skip
    assert r.returncode == 0, r.stderr
    wav = tmp_path / "c.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(struct.pack("<h", int(6000 * math.sin(i / 3))) for i in range(8000)))
    r = akashi(home, "import", "call", str(wav), "--caller", "0312345678", "--site", "t", "--json")
    assert r.returncode == 0, r.stderr
    call_id = json.loads(r.stdout)["id"]
    for args in (("calls", "show", str(call_id), "--as", "kanri"),
                 ("export", "call", str(call_id), "--out", str(tmp_path / "p.zip"), "--as", "kanri")):  # fmt: skip
        r = akashi(home, *args)
        assert r.returncode == 0, r.stderr
    code, report = verify(home)
    assert code == 0 and report["ok"] and report["audit_entries"] >= 3, report
    return home


def test_deleted_audit_tail_is_named(audited: Path) -> None:
    home = audited
    last = int(sql(home, "SELECT max(seq) FROM audit"))
    export_seq = int(sql(home, "SELECT max(seq) FROM audit WHERE action = 'export'"))
    sql(home, f"DELETE FROM audit WHERE seq >= {export_seq};")  # the export and everything after it
    code, report = verify(home)
    assert code == 1 and not report["ok"]
    assert "audit_tail_missing" in audit_kinds(report), report["problems"]
    assert {"kind": "audit_tail_missing", "seq": export_seq} in report["audit_problems"]
    text = akashi(home, "verify")
    assert text.returncode == 1
    line = next(x for x in text.stdout.splitlines() if "audit_tail_missing" in x)
    assert "監査ログ / audit log" in line and f"#{last}" in line, line
    # New entries reuse the deleted numbers and pass the anchored one: they must not launder it.
    for _ in range(3):
        assert akashi(home, "calls", "search", "--json").returncode == 0
    assert int(sql(home, "SELECT max(seq) FROM audit")) > last
    code, report = verify(home)
    assert code == 1 and {"audit_rewritten"} <= audit_kinds(report), report["problems"]


def test_deleted_tail_with_the_kv_anchor_fixed_is_still_named(audited: Path) -> None:
    home = audited
    export_seq = int(sql(home, "SELECT max(seq) FROM audit WHERE action = 'export'"))
    sql(home, f"DELETE FROM audit WHERE seq >= {export_seq};")
    seq, h = sql(home, "SELECT seq, entry_hash FROM audit ORDER BY seq DESC LIMIT 1").split("|")
    sql(home, f"""UPDATE kv SET value = '{{"seq": {seq}, "hash": "{h}"}}' WHERE key = '{KV_HEAD}';""")
    code, report = verify(home)
    assert code == 1 and "audit_tail_missing" in audit_kinds(report), report["problems"]
    # And with the kv row deleted outright: the file in the home still remembers.
    sql(home, f"DELETE FROM kv WHERE key = '{KV_HEAD}';")
    code, report = verify(home)
    assert code == 1 and "audit_tail_missing" in audit_kinds(report), report["problems"]


def rewrite_chain(home: Path, seq: int, **changes: str) -> None:
    """Edit entry ``seq`` and recompute every hash after it with Akashi's own code, kv anchor too."""
    with Akashi.open(home) as ak, session_scope(ak.engine) as s:
        rows = list(s.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
        prev = chain.GENESIS
        for row in rows:
            if row.seq == seq:
                for k, v in changes.items():
                    setattr(row, k, v)
            row.prev_hash = prev
            row.entry_hash = chain.entry_hash(
                prev, row.seq, row.ts, {n: getattr(row, n) for n in AUDIT_FIELDS}
            )
            prev = row.entry_hash
        chain.set_kv_head(s, KV_HEAD, (rows[-1].seq, rows[-1].entry_hash))


def test_edited_entry_with_recomputed_chain_is_named(audited: Path) -> None:
    home = audited
    export_seq = int(sql(home, "SELECT max(seq) FROM audit WHERE action = 'export'"))
    sql(home, f"UPDATE audit SET user_name = 'someone-else' WHERE seq = {export_seq};")
    code, report = verify(home)  # a plain edit breaks the chain at that entry
    assert code == 1 and {"kind": "audit_edited", "seq": export_seq} in report["audit_problems"], report
    rewrite_chain(home, export_seq, user_name="someone-else")  # the careful attacker
    with Akashi.open(home) as ak, session_scope(ak.engine) as s:
        assert chain.check(s.scalars(select(AuditEntry).order_by(AuditEntry.seq)), AUDIT_FIELDS) == []
    code, report = verify(home)
    assert code == 1 and "audit_rewritten" in audit_kinds(report), report["problems"]
    text = akashi(home, "verify").stdout
    assert "監査ログが作り直されています" in text and "the audit log was rewritten" in text, text


def test_accepting_a_shorter_log_is_itself_audited(audited: Path) -> None:
    home = audited
    anchored = json.loads((home / HEAD_FILE).read_text())
    export_seq = int(sql(home, "SELECT max(seq) FROM audit WHERE action = 'export'"))
    sql(home, f"DELETE FROM audit WHERE seq >= {export_seq};")
    refused = akashi(home, "audit-accept-head", "--reason", "restored backup")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert json.loads((home / HEAD_FILE).read_text()) == anchored  # nothing moved
    done = akashi(home, "audit-accept-head", "--reason", "restored the 12-01 backup", "--yes")
    assert done.returncode == 0, done.stderr
    _, report = verify(home)
    # The head anchors now accept the shorter log (external checkpoints, if any, still remember it).
    assert not audit_kinds(report) and report["audit_problems"] == [], report["problems"]
    row = sql(home, "SELECT seq, user_name, detail FROM audit WHERE action = 'audit_accept_head'").split(
        "|", 2
    )
    assert int(row[0]) == export_seq and row[1] == "cli"
    detail = json.loads(row[2])
    assert detail["reason"] == "restored the 12-01 backup" and detail["accepted"][0] == export_seq - 1
    assert detail["previous_anchors"]["file"] == [anchored["seq"], anchored["hash"]]
    # The ledger's own anchors are untouched by any of this.
    assert (home / "ledger.head").exists()


def test_rolled_back_entry_never_moves_the_anchor(sqlite_home: Path) -> None:
    with Akashi.open(sqlite_home) as ak:
        with session_scope(ak.engine) as s:
            audit(s, user="a", action="play", target_type="call", target_id=1)
        anchored = (sqlite_home / HEAD_FILE).read_text()
        with pytest.raises(RuntimeError), session_scope(ak.engine) as s:
            audit(s, user="a", action="play", target_type="call", target_id=2)
            raise RuntimeError("the caller's transaction fails")
        assert (sqlite_home / HEAD_FILE).read_text() == anchored
        report = ak.store.verify()
        assert report.ok and report.audit_entries == 1, report.to_text()


def test_anchor_waits_for_the_outer_commit(sqlite_home: Path) -> None:
    """An entry made before a SAVEPOINT is released is anchored only when the whole transaction commits."""
    with Akashi.open(sqlite_home) as ak:
        with session_scope(ak.engine) as s:
            audit(s, user="a", action="play", target_type="call", target_id=1)
        anchored = (sqlite_home / HEAD_FILE).read_text()
        with pytest.raises(RuntimeError), session_scope(ak.engine) as s:
            audit(s, user="a", action="play", target_type="call", target_id=2)
            with s.begin_nested():
                s.execute(select(1))
            assert (sqlite_home / HEAD_FILE).read_text() == anchored
            raise RuntimeError("the outer transaction fails after the savepoint")
        assert (sqlite_home / HEAD_FILE).read_text() == anchored
        with session_scope(ak.engine) as s:
            row = audit(s, user="a", action="play", target_type="call", target_id=3)
            with s.begin_nested():
                s.execute(select(1))
        assert json.loads((sqlite_home / HEAD_FILE).read_text()) == {"seq": row.seq, "hash": row.entry_hash}
        assert ak.store.verify().ok
