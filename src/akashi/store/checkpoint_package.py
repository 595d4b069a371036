"""The checkpoint inside an evidence package, and its offline check.

A package carries, under ``checkpoint/``:

* ``<name>.json`` / ``.sig`` / ``.tsr`` -- the newest checkpoint that covers every object of the
  package (its ledger head is at or after each object's ``put``), made on the spot when none does;
* ``tsa-ca.pem`` -- the TSA certificates of ``store.tsa_ca_file``, when configured, so that
  ``openssl ts -verify -in checkpoint/<name>.tsr -data checkpoint/<name>.json -CAfile checkpoint/tsa-ca.pem``
  works offline (the reader compares the root with the one the TSA publishes);
* ``ledger-entries.json`` -- the ledger ``put`` entries of the package's objects, with their hashes.

Offline, :func:`verify_checkpoint_offline` checks the checkpoint's signature (by the package key, which
the checker pins), the TSA token over it, each ledger entry's hash, that the checkpoint comes after
each entry, and that each entry records the SHA-256 of the media in the package. That each entry is
*in* the chain up to the checkpoint's head is proven by ``akashi verify`` on the installation, not
offline (the other entries of the ledger are not in the package).
"""

from __future__ import annotations

import json
import zipfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select

from akashi.db import chain
from akashi.db.base import session_scope
from akashi.db.models import LedgerEntry
from akashi.store import tsa

if TYPE_CHECKING:
    from akashi.store.evidence import EvidenceStore

PREFIX = "checkpoint/"
ENTRIES = PREFIX + "ledger-entries.json"
TSA_CA = PREFIX + "tsa-ca.pem"
Status = Literal["ok", "ng", "unverified"]
#: One result line: (file, status, Japanese, English).
Finding = tuple[str, Status, str, str]


def _put_entries(store: EvidenceStore, object_ids: list[str]) -> list[dict[str, Any]]:
    with session_scope(store.engine) as s:
        rows = s.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.action == "put", LedgerEntry.object_id.in_(object_ids))
            .order_by(LedgerEntry.seq)
        )
        return [
            {
                "seq": r.seq,
                "ts": r.ts.isoformat(),
                "action": r.action,
                "object_id": r.object_id,
                "data": r.data,
                "prev_hash": r.prev_hash,
                "entry_hash": r.entry_hash,
            }
            for r in rows
        ]


def checkpoint_files(store: EvidenceStore, object_ids: list[str]) -> list[tuple[str, bytes]]:
    """The ``checkpoint/`` files of a package of these objects (a new checkpoint when none covers them)."""
    from akashi.store.checkpoint import CheckpointName, take_checkpoint  # noqa: PLC0415 - checkpoint places import boto3 (slow); only packages with checkpoints need them
    from akashi.store.checkpoint_places import DIR, LocalPlace  # noqa: PLC0415 - checkpoint places import boto3 (slow); only packages with checkpoints need them

    entries = _put_entries(store, object_ids)
    need = max((e["seq"] for e in entries), default=0)
    local = LocalPlace(store.settings.home / DIR)
    names = [CheckpointName.parse(n[: -len(".json")]) for n in local.names() if n.endswith(".json")]
    covering = sorted(
        (n for n in names if n is not None and n.ledger_seq >= need), key=lambda n: n.created_at
    )
    base = covering[-1].base if covering else take_checkpoint(store, "export").name
    out: list[tuple[str, bytes]] = []
    for suffix in (".json", ".sig", ".tsr"):
        data = local.read(base + suffix)
        if data is not None:
            out.append((f"{PREFIX}{base}{suffix}", data))
    ca_file = store.settings.store.tsa_ca_file
    if ca_file and Path(ca_file).is_file():
        out.append((TSA_CA, Path(ca_file).read_bytes()))
    body = json.dumps(entries, ensure_ascii=False, indent=2, sort_keys=True).encode() + b"\n"
    out.append((ENTRIES, body))
    return out


def _read(zf: zipfile.ZipFile, name: str) -> bytes | None:
    try:
        return zf.read(name)
    except KeyError:
        return None


def _check_tsa(zf: zipfile.ZipFile, base: str, body: bytes) -> Finding:
    tsr_name = f"{PREFIX}{base}.tsr"
    der = _read(zf, tsr_name)
    if der is None:
        return (
            tsr_name,
            "unverified",
            "TSA のタイムスタンプがありません",
            "no TSA time stamp in the package",
        )
    ca_pem = _read(zf, TSA_CA)
    try:
        ca = tsa.load_ca(ca_pem) if ca_pem else None
        stamp = tsa.check_response(der, body, ca=ca)
    except tsa.TsaError as err:
        return (tsr_name, "ng", err.ja, err.en)
    when = stamp.gen_time.isoformat()
    if not stamp.chain_verified:
        return (
            tsr_name,
            "unverified",
            f"TSA 時刻 {when}（ハッシュ一致、TSA の証明書がないため署名者未確認）",
            f"TSA time {when} (hash matches; no TSA certificate in the package, signer not verified)",
        )
    assert ca is not None
    roots = [c for c in ca if c.issuer == c.subject]
    fp = ", ".join("SHA256:" + c.fingerprint(hashes.SHA256()).hex() for c in roots)
    return (
        tsr_name,
        "ok",
        f"TSA 時刻 {when}、署名確認済み（{TSA_CA} のルート {fp} を TSA の公表値と比べてください）",
        f"TSA time {when}, signature verified (compare the root in {TSA_CA}, {fp}, with the TSA's published one)",
    )


def _check_entries(
    zf: zipfile.ZipFile, covered_seq: int, head_hash: str, manifest: dict[str, Any]
) -> list[Finding]:
    raw = _read(zf, ENTRIES)
    if raw is None:
        return [(ENTRIES, "ng", "ファイルがありません", "file is missing")]
    try:
        entries = json.loads(raw)
        sha_of = {str(f["name"]): str(f["sha256"]) for f in manifest.get("files", [])}
        objects = {str(o["object_id"]): sha_of.get(str(o["file"]), "") for o in manifest.get("objects", [])}
        seen: set[str] = set()
        out: list[Finding] = []
        for e in entries:
            seq, oid = int(e["seq"]), str(e["object_id"])
            fields = {"action": e["action"], "object_id": oid, "data": e["data"]}
            ts = datetime.fromisoformat(str(e["ts"]))
            if (
                chain.entry_hash(str(e["prev_hash"]), seq, ts, fields) != e["entry_hash"]
                or e["action"] != "put"
            ):
                out.append(
                    (ENTRIES, "ng", f"台帳 #{seq} のハッシュが一致しません", f"ledger #{seq}: hash mismatch")
                )
            elif seq == covered_seq and e["entry_hash"] != head_hash:
                out.append(
                    (
                        ENTRIES,
                        "ng",
                        f"台帳 #{seq} がチェックポイントの先頭と違います",
                        f"ledger #{seq} is not the checkpoint's head",
                    )
                )
            elif seq > covered_seq:
                out.append(
                    (
                        ENTRIES,
                        "ng",
                        f"台帳 #{seq} はチェックポイントより後です",
                        f"ledger #{seq} is after the checkpoint",
                    )
                )
            elif oid in objects and json.loads(e["data"]).get("sha256") != objects[oid]:
                out.append(
                    (
                        ENTRIES,
                        "ng",
                        f"台帳 #{seq} の SHA-256 が原本と違います",
                        f"ledger #{seq}: SHA-256 is not the media's",
                    )
                )
            seen.add(oid)
    except (ValueError, KeyError, TypeError) as err:
        return [(ENTRIES, "ng", f"読めません: {err}", f"invalid: {err}")]
    for oid in sorted(set(objects) - seen):
        out.append((ENTRIES, "ng", f"{oid} の台帳記録がありません", f"no ledger entry for object {oid}"))
    if not out:
        out.append(
            (
                ENTRIES,
                "ok",
                f"{len(entries)} 件の登録記録はハッシュが正しく、チェックポイント（台帳 #{covered_seq}）以前で、原本の SHA-256 と一致",
                f"{len(entries)} put entries hash correctly, precede the checkpoint (ledger #{covered_seq})"
                " and record the media's SHA-256",
            )
        )
    return out


def verify_checkpoint_offline(
    zf: zipfile.ZipFile, public_key: Ed25519PublicKey, manifest: dict[str, Any]
) -> list[Finding]:
    """Check a package's ``checkpoint/`` files offline (see the module docstring)."""
    from akashi.store.checkpoint import CheckpointName  # noqa: PLC0415 - checkpoint places import boto3 (slow); only packages with checkpoints need them

    bases = [
        n[len(PREFIX) : -len(".json")]
        for n in zf.namelist()
        if n.startswith(PREFIX) and n.endswith(".json") and n != ENTRIES
    ]
    if not bases:
        return [
            (
                PREFIX,
                "unverified",
                "外部チェックポイントがありません",
                "no external checkpoint in the package",
            )
        ]
    if len(bases) != 1:
        return [(PREFIX, "ng", "チェックポイントが複数あります", "more than one checkpoint in the package")]
    base = bases[0]
    body_name = f"{PREFIX}{base}.json"
    body, sig = _read(zf, body_name), _read(zf, f"{PREFIX}{base}.sig")
    name = CheckpointName.parse(base)
    if body is None or sig is None or name is None:
        return [(body_name, "ng", "チェックポイントが不完全です", "the checkpoint is incomplete or misnamed")]
    try:
        public_key.verify(sig, body)
        data = json.loads(body)
        covered = int(data["ledger"]["seq"])
        if (covered, str(data["ledger"]["hash"])[:16]) != (name.ledger_seq, name.ledger_prefix):
            raise ValueError("name and body differ")
    except InvalidSignature:
        return [
            (
                body_name,
                "ng",
                "チェックポイントの署名が一致しません",
                "the checkpoint's signature does not match",
            )
        ]
    except (ValueError, KeyError, TypeError) as err:
        return [(body_name, "ng", f"チェックポイントが不正です: {err}", f"invalid checkpoint: {err}")]
    out: list[Finding] = [
        (
            body_name,
            "ok",
            f"チェックポイント（{data.get('created_at')}、台帳 #{covered}）の署名を確認",
            f"checkpoint of {data.get('created_at')} (ledger #{covered}) signed by the package key",
        ),
        _check_tsa(zf, base, body),
    ]
    return out + _check_entries(zf, covered, str(data["ledger"]["hash"]), manifest)
