"""Signed checkpoints: written with an RFC 3161 token from a local ``openssl ts`` TSA, checked by verify."""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from akashi.db.base import session_scope
from akashi.store.checkpoint import CheckpointName, audit_head, ledger_head, take_checkpoint
from akashi.store.evidence import EvidenceStore
from tests.store.conftest import open_store
from tests.store.local_tsa import LocalTsa, local_tsa

__all__ = ["local_tsa"]


@pytest.fixture
def tsa_store(
    sqlite_home: Path, local_tsa: LocalTsa, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EvidenceStore]:
    monkeypatch.setenv("AKASHI_STORE__TSA_URL", local_tsa.url)
    monkeypatch.setenv("AKASHI_STORE__TSA_CA_FILE", str(local_tsa.ca))
    st, engine = open_store(sqlite_home)
    yield st
    st.close()
    engine.dispose()  # type: ignore[attr-defined]


def put(store: EvidenceStore, data: bytes) -> str:
    return store.put(io.BytesIO(data), kind="call_audio", media_type="audio/wav").object_id


def test_checkpoint_is_signed_time_stamped_and_checkable_with_openssl(
    tsa_store: EvidenceStore, local_tsa: LocalTsa, sqlite_home: Path
) -> None:
    put(tsa_store, b"one")
    put(tsa_store, b"two")
    result = take_checkpoint(tsa_store, "manual")
    assert result.ok and result.tsa_verified and result.written == ["local"], result.to_text()
    folder = sqlite_home / "checkpoints"
    body_file, sig_file, tsr_file = (folder / f"{result.name}{s}" for s in (".json", ".sig", ".tsr"))
    body = json.loads(body_file.read_bytes())
    with session_scope(tsa_store.engine) as s:
        led, aud = ledger_head(s), audit_head(s)
    assert body["ledger"] == led.as_dict() and body["ledger"]["seq"] == 2
    assert body["audit"] == aud.as_dict()
    assert body["objects"] == {"total": 2, "kept": 2}
    assert body["installation"]["key_id"] == tsa_store.keys.key_id
    name = CheckpointName.parse(result.name)
    assert name is not None and name.ledger_seq == 2 and name.ledger_prefix == led.hash[:16]
    # Anyone can check both with OpenSSL alone.
    assert "Verification: OK" in local_tsa.verify(tsr_file, body_file).stdout
    pub = sqlite_home / "keys" / "signing.pub"
    sig = subprocess.run(
        ["timeout", "30", "openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(pub), "-rawin",
         "-in", str(body_file), "-sigfile", str(sig_file)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert sig.returncode == 0, sig.stdout + sig.stderr
    report = tsa_store.verify()
    assert report.ok, report.to_text()
    assert report.anchor is not None and report.anchor["checkpoint"] == result.name
    assert report.anchor["tsa_verified"] is True and report.anchor["unanchored_ledger_entries"] == 0
    put(tsa_store, b"three")
    report = tsa_store.verify()
    assert report.ok and report.anchor is not None and report.anchor["unanchored_ledger_entries"] == 1
    assert "anchored up to" in report.to_text()


def test_unchanged_heads_skip_the_periodic_checkpoint(tsa_store: EvidenceStore, local_tsa: LocalTsa) -> None:
    put(tsa_store, b"one")
    first = take_checkpoint(tsa_store, "periodic", skip_unchanged=True)
    again = take_checkpoint(tsa_store, "periodic", skip_unchanged=True)
    assert not first.skipped and again.skipped and again.name == first.name
    assert local_tsa.queries == 1
    put(tsa_store, b"two")
    assert not take_checkpoint(tsa_store, "periodic", skip_unchanged=True).skipped


def test_tsa_outage_still_writes_locally_and_says_so(tsa_store: EvidenceStore, local_tsa: LocalTsa) -> None:
    put(tsa_store, b"one")
    local_tsa.fail_with = 503
    result = take_checkpoint(tsa_store, "manual")
    assert not result.ok and [f["place"] for f in result.failed] == ["tsa"] and result.written == ["local"]
    assert "HTTP 503" in result.to_text()
    report = tsa_store.verify()
    # Nothing is wrong with the store, but nothing anchors it outside the box either: verify says so.
    assert report.ok and report.anchor is not None and report.anchor["checkpoint"] is None
    assert "not anchored" in report.to_text()


def test_package_carries_the_covering_checkpoint_and_checks_offline(
    tsa_store: EvidenceStore, local_tsa: LocalTsa, tmp_path: Path
) -> None:
    import zipfile

    from akashi.store.export import write_package
    from akashi.store.package_check import check_package
    from tests.store.test_export import rewrite

    oid = put(tsa_store, b"the call")
    stale = take_checkpoint(tsa_store, "manual")
    newer = put(tsa_store, b"a later call")  # not covered by the checkpoint above: a new one is made
    pkg = write_package(tmp_path / "p.zip", keys=tsa_store.keys, store=tsa_store,
                        media=[("a.wav", oid), ("b.wav", newer)], metadata={}, audit=[])  # fmt: skip
    with zipfile.ZipFile(pkg) as zf:
        names = [n for n in zf.namelist() if n.startswith("checkpoint/")]
        zf.extractall(tmp_path / "unpacked")
        sums = zf.read("SHA256SUMS").decode()
    base = next(n for n in names if n.endswith(".json") and "ledger-entries" not in n)[
        len("checkpoint/") : -5
    ]
    assert base != stale.name and "-export-L000002-" in base
    assert {f"checkpoint/{base}{s}" for s in (".json", ".sig", ".tsr")} | {
        "checkpoint/tsa-ca.pem", "checkpoint/ledger-entries.json"
    } == set(names)  # fmt: skip
    assert all(f"  {n}\n" in sums for n in names)  # hashed and listed like every file
    # The README's step 5, with OpenSSL only.
    cp = tmp_path / "unpacked" / "checkpoint"
    ok = local_tsa.verify(cp / f"{base}.tsr", cp / f"{base}.json")
    assert "Verification: OK" in ok.stdout, ok.stdout + ok.stderr
    report = check_package(pkg, trusted_public_key=tsa_store.keys.public_pem())
    assert report.ok and report.verdict == "OK", report.to_text()
    lines = {(x.file, x.status) for x in report.lines if x.check == "checkpoint"}
    assert (f"checkpoint/{base}.tsr", "ok") in lines and ("checkpoint/ledger-entries.json", "ok") in lines
    # A token from another time (the stale checkpoint's) does not fit this checkpoint: NG, named.
    old_tsr = (tsa_store.settings.home / "checkpoints" / f"{stale.name}.tsr").read_bytes()
    swapped = tmp_path / "swapped.zip"
    rewrite(pkg, swapped, {f"checkpoint/{base}.tsr": old_tsr})
    bad = check_package(swapped, trusted_public_key=tsa_store.keys.public_pem())
    assert any(
        x.file == f"checkpoint/{base}.tsr" and x.status == "ng" and "not over this data" in x.en
        for x in bad.lines
    ), bad.to_text()


async def test_serve_writes_a_periodic_checkpoint_when_it_starts(
    tsa_store: EvidenceStore, local_tsa: LocalTsa, sqlite_home: Path
) -> None:
    import asyncio

    from akashi.context import Akashi
    from akashi.serve import Server

    put(tsa_store, b"a call")
    with Akashi.open(sqlite_home) as ak:
        server = Server(ak, web=False, workers=0)
        task = asyncio.create_task(server.run())
        folder = sqlite_home / "checkpoints"
        deadline = asyncio.get_running_loop().time() + 30
        # The checkpoint timer's first round runs at start: wait for its file (bounded), then stop.
        while not list(folder.glob("*-periodic-*.json")) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
        server.stop.set()
        await asyncio.wait_for(task, 30)
    made = list(folder.glob("*-periodic-*.json"))
    assert len(made) == 1 and (folder / made[0].name.replace(".json", ".tsr")).exists()
    assert local_tsa.queries == 1


def test_a_long_tsa_outage_leaves_the_last_time_stamped_checkpoint_as_the_anchor(
    tsa_store: EvidenceStore, local_tsa: LocalTsa
) -> None:
    from akashi.store.checkpoint_verify import MAX_FETCH

    put(tsa_store, b"one")
    stamped = take_checkpoint(tsa_store, "manual")
    local_tsa.fail_with = 500
    put(tsa_store, b"two")
    for _ in range(MAX_FETCH + 2):  # more unstamped checkpoints than verify would fetch
        assert not take_checkpoint(tsa_store, "manual").ok
    report = tsa_store.verify()
    assert report.ok and report.anchor is not None, report.to_text()
    assert report.anchor["checkpoint"] == stamped.name and report.anchor["unanchored_ledger_entries"] == 1


def test_checkpoints_and_package_entries_on_both_databases(store: EvidenceStore, tmp_path: Path) -> None:
    from sqlalchemy import text

    from akashi.store.export import write_package
    from akashi.store.package_check import check_package

    first, second = put(store, b"first"), put(store, b"second")
    take_checkpoint(store, "manual")
    pkg = write_package(tmp_path / "p.zip", keys=store.keys, store=store, media=[("a.wav", first)],
                        metadata={}, audit=[])  # fmt: skip
    report = check_package(pkg, trusted_public_key=store.keys.public_pem())
    assert report.verdict == "OK", report.to_text()  # the entry hashes recompute from the stored times
    with store.engine.begin() as c:
        c.execute(text("DELETE FROM evidence_objects WHERE id = :i"), {"i": second})
        c.execute(text("DELETE FROM ledger WHERE seq = 2"))
    store.accept_ledger_head()
    kinds = [p.kind for p in store.verify().problems]
    assert kinds == ["object_unknown", "checkpoint_ledger_missing"], kinds  # its file is still in the store
