"""``verify`` against the external checkpoints: are the heads they fixed still in the chains?

Every checkpoint found in a readable place (the home, the evidence bucket, the remote bucket) is
checked from its name: the ledger and audit rows it names must still exist with the same hash. A
checkpoint that names a row that is gone or different is fetched and its signature checked before it
is reported (so a planted file is reported as such, not as lost history). Checkpoints written by
``ledger-accept-head`` are fetched: one that replaced a head no longer in the ledger is reported, with
its reason -- accepting a head hides nothing. The newest checkpoint anchored outside the box (a valid
RFC 3161 token, or a copy in a WORM or remote place) says how far back the chains are anchored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from sqlalchemy import select

from akashi.db.base import session_scope
from akashi.db.models import AuditEntry, LedgerEntry
from akashi.errors import StoreError
from akashi.store import tsa
from akashi.store.checkpoint import CheckpointName, audit_head, ledger_head, load_tsa_ca
from akashi.store.checkpoint_places import Place, close_places, places

if TYPE_CHECKING:
    from akashi.store.evidence import EvidenceStore
    from akashi.store.verify_report import VerifyReport

#: A TSA time further than this from the checkpoint's own time means the clock or the name lies.
TIME_TOLERANCE = timedelta(minutes=10)
#: At most this many checkpoints are fetched while looking for the newest externally anchored one.
MAX_FETCH = 25


@dataclass
class _Fetched:
    name: CheckpointName
    body: bytes | None
    sig: bytes | None
    tsr: bytes | None
    where: list[str]


class _Index:
    """Checkpoint names found in each readable place."""

    def __init__(self, found: list[Place], report: VerifyReport) -> None:
        self.where: dict[str, list[Place]] = {}
        self.reported: set[str] = set()  # names already reported as badly signed
        self.stamped: set[str] = set()  # names with a TSA response in some place
        for place in found:
            if not place.readable:
                continue
            try:
                names = place.names()
            except StoreError as err:
                if place.label.startswith("s3:") and any(
                    p.kind == "backend_unreachable" for p in report.problems
                ):
                    continue  # the evidence bucket itself: already reported as unreachable
                report.add(
                    "checkpoint_unreachable",
                    f"チェックポイントの保存先を読めません（{place.label}）: {err.ja}",
                    f"cannot read the checkpoints in {place.label}: {err.en}",
                )
                continue
            for n in names:
                if n.endswith(".json"):
                    self.where.setdefault(n[: -len(".json")], []).append(place)
                elif n.endswith(".tsr"):
                    self.stamped.add(n[: -len(".tsr")])
        parsed = (CheckpointName.parse(b) for b in self.where)
        self.names = sorted((n for n in parsed if n is not None), key=lambda n: n.created_at)

    def fetch(self, name: CheckpointName) -> _Fetched:
        """The files of one checkpoint, from an external place first."""
        holders = sorted(self.where.get(name.base, []), key=lambda p: not p.external)
        out = _Fetched(name, None, None, None, [p.label for p in holders])
        for place in holders:
            try:
                body = place.read(name.base + ".json")
                if body is None:
                    continue
                out.body, out.sig, out.tsr = (
                    body,
                    place.read(name.base + ".sig"),
                    place.read(name.base + ".tsr"),
                )
                return out
            except StoreError:
                continue
        return out

    def external(self, name: CheckpointName) -> bool:
        """Whether a copy is in a place this machine cannot rewrite."""
        return any(p.external for p in self.where.get(name.base, []))


def _hashes(
    store: EvidenceStore, model: type[LedgerEntry] | type[AuditEntry], seqs: Iterable[int]
) -> dict[int, str]:
    want = sorted({s for s in seqs if s > 0})
    out: dict[int, str] = {}
    with session_scope(store.engine) as s:
        for i in range(0, len(want), 500):
            part = want[i : i + 500]
            out.update(
                (int(a), str(b))
                for a, b in s.execute(select(model.seq, model.entry_hash).where(model.seq.in_(part)))
            )
    return out


def _body(store: EvidenceStore, f: _Fetched) -> dict[str, Any] | None:
    """The parsed body when the signature is the installation's, else None."""
    if f.body is None or f.sig is None:
        return None
    try:
        store.keys.public_key.verify(f.sig, f.body)
        value = json.loads(f.body)
        led, aud = value["ledger"], value["audit"]
        named = (f.name.ledger_seq, f.name.ledger_prefix, f.name.audit_seq, f.name.audit_prefix)
        if (int(led["seq"]), str(led["hash"])[:16], int(aud["seq"]), str(aud["hash"])[:16]) != named:
            return None  # a body swapped in under another checkpoint's name
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, dict) else None


def _bad_signature(report: VerifyReport, idx: _Index, f: _Fetched) -> None:
    if f.name.base in idx.reported:
        return
    idx.reported.add(f.name.base)
    report.add(
        "checkpoint_bad_signature",
        f"チェックポイント {f.name.base} の署名がこの設置の鍵と一致しないか、名前と中身が違います"
        f"（{', '.join(f.where)}）",
        f"checkpoint {f.name.base} is not signed by this installation's key or does not match its name"
        f" ({', '.join(f.where)})",
    )


def _check_heads(
    store: EvidenceStore, report: VerifyReport, idx: _Index, chain_name: str, current: dict[int, str]
) -> None:
    """Report the newest checkpoint whose head of ``chain_name`` is gone or different."""
    ja_chain = "台帳" if chain_name == "ledger" else "監査記録"

    def named(n: CheckpointName) -> tuple[int, str]:
        return (n.ledger_seq, n.ledger_prefix) if chain_name == "ledger" else (n.audit_seq, n.audit_prefix)

    bad = [
        n for n in idx.names if named(n)[0] > 0 and not current.get(named(n)[0], "").startswith(named(n)[1])
    ]
    for n in sorted(bad, key=lambda n: named(n)[0], reverse=True)[:MAX_FETCH]:
        f = idx.fetch(n)
        body = _body(store, f)
        if body is None:
            _bad_signature(report, idx, f)
            continue
        seq, full = int(body[chain_name]["seq"]), str(body[chain_name]["hash"])
        have = current.get(seq)
        if have == full:
            continue
        what_ja = (
            "ありません（削除または切り詰め）" if have is None else "記録と違います（作り直されています）"
        )
        what_en = "is gone (deleted or cut back)" if have is None else "differs (the chain was rewritten)"
        others = len(bad) - 1
        report.add(
            f"checkpoint_{chain_name}_{'missing' if have is None else 'rewritten'}",
            f"チェックポイント（{n.created_at.isoformat()}, {', '.join(f.where)}）が固定した{ja_chain} #{seq} が"
            f"{what_ja}" + (f"。ほかに {others} 件のチェックポイントも同様です" if others else ""),
            f"the {chain_name} entry #{seq} fixed by the checkpoint of {n.created_at.isoformat()}"
            f" ({', '.join(f.where)}) {what_en}" + (f"; {others} other checkpoint(s) too" if others else ""),
            seq=seq if chain_name == "ledger" else None,
        )
        return


def _check_accepted(store: EvidenceStore, report: VerifyReport, idx: _Index) -> None:
    """Report every ``ledger-accept-head`` checkpoint that replaced a head now missing from the ledger."""
    for n in idx.names:
        if n.kind != "accept":
            continue
        f = idx.fetch(n)
        body = _body(store, f)
        if body is None:
            _bad_signature(report, idx, f)
            continue
        acc = body.get("accepted") or {}
        before = acc.get("from") or {}
        try:
            seq, full = int(before.get("seq", 0)), str(before.get("hash", ""))
        except (TypeError, ValueError):
            continue
        if seq > 0 and _hashes(store, LedgerEntry, [seq]).get(seq) != full:
            to = (acc.get("to") or {}).get("seq")
            reason = str(acc.get("reason", ""))
            report.add(
                "checkpoint_ledger_cut_back",
                f"{n.created_at.isoformat()} に ledger-accept-head で台帳の末尾が #{seq} から #{to} に戻されました"
                f"（理由: {reason}）。その間の記録は失われています",
                f"ledger-accept-head at {n.created_at.isoformat()} moved the ledger head back from #{seq}"
                f" to #{to} (reason: {reason}); the entries in between are lost",
                seq=seq,
            )


def _anchor(store: EvidenceStore, report: VerifyReport, idx: _Index) -> dict[str, Any] | None:
    """The newest checkpoint anchored outside the box, with its TSA time; problems found on the way."""
    cfg = store.settings.store
    try:
        ca = load_tsa_ca(cfg.tsa_ca_file)
    except (StoreError, tsa.TsaError) as err:
        report.add("checkpoint_tsa_ca", err.ja, err.en)
        ca = None
    # Only checkpoints that can anchor anything: a TSA token, or a copy in a WORM/remote place.
    candidates = [n for n in reversed(idx.names) if n.base in idx.stamped or idx.external(n)]
    for n in candidates[:MAX_FETCH]:
        f = idx.fetch(n)
        body = _body(store, f)
        if body is None:
            _bad_signature(report, idx, f)
            continue
        stamp: tsa.TimeStamp | None = None
        if f.tsr is not None and f.body is not None:
            try:
                stamp = tsa.check_response(f.tsr, f.body, ca=ca)
            except tsa.TsaError as err:
                report.add(
                    "checkpoint_tsa_invalid",
                    f"チェックポイント {n.base} のタイムスタンプが不正です: {err.ja}",
                    f"the time stamp of checkpoint {n.base} is invalid: {err.en}",
                )
                continue
            created = datetime.fromisoformat(str(body.get("created_at")))
            if abs(stamp.gen_time - created) > TIME_TOLERANCE:
                report.add(
                    "checkpoint_time_mismatch",
                    f"チェックポイント {n.base} の時刻と TSA の時刻が {TIME_TOLERANCE} 以上違います",
                    f"checkpoint {n.base}: its time and the TSA's differ by more than {TIME_TOLERANCE}",
                )
                continue
        if stamp is None and not idx.external(n):
            continue  # only in the home: anchors nothing against its owner
        return {
            "checkpoint": n.base,
            "created_at": body.get("created_at"),
            "tsa_time": stamp.gen_time.isoformat() if stamp else None,
            "tsa_verified": bool(stamp and stamp.chain_verified),
            "places": f.where,
            "ledger_seq": body["ledger"]["seq"],
            "audit_seq": body["audit"]["seq"],
        }
    return None


def check_checkpoints(store: EvidenceStore, report: VerifyReport) -> None:
    """Check the chains against every checkpoint found; set ``report.anchor``. Adds problems to ``report``."""
    found = places(store.settings)
    try:
        idx = _Index(found, report)
        if not idx.names:
            report.anchor = {"checkpoint": None}
            return
        ledger = _hashes(store, LedgerEntry, (n.ledger_seq for n in idx.names))
        audit = _hashes(store, AuditEntry, (n.audit_seq for n in idx.names))
        _check_heads(store, report, idx, "ledger", ledger)
        _check_heads(store, report, idx, "audit", audit)
        _check_accepted(store, report, idx)
        anchor = _anchor(store, report, idx) or {"checkpoint": None}
        with session_scope(store.engine) as s:
            led, aud = ledger_head(s), audit_head(s)
        if anchor.get("checkpoint"):
            anchor["unanchored_ledger_entries"] = max(0, led.seq - int(anchor["ledger_seq"]))
            anchor["unanchored_audit_entries"] = max(0, aud.seq - int(anchor["audit_seq"]))
        anchor["checkpoints_found"] = len(idx.names)
        report.anchor = anchor
    finally:
        close_places(found)
