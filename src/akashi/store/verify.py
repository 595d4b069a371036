"""``verify``: prove that the store matches the ledger, naming every difference.

Checks, in order: the ledger hash chain and its head anchors (edited, deleted, inserted, reordered
rows and a removed tail); each ledger entry against the object rows (a row whose facts disagree
with its ``put`` entry, a row with no ``put``, a ``put`` with no row, holds and tombstones not
reflected); every stored object re-read in full, authenticated chunk by chunk and hashed
(altered, truncated, extended, missing); and every object in the backend or spool that no row
explains (added). Objects deleted by retention have a tombstone entry and are not problems.
Last, the audit log's hash chain and its head anchors (``kv`` and ``audit.head``), the same way.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from typing import TYPE_CHECKING

from sqlalchemy import select

from akashi.access.audit import AUDIT_FIELDS, KV_HEAD, anchor_file
from akashi.db import chain
from akashi.db.base import session_scope, utcnow
from akashi.db.models import AuditEntry, EvidenceObject, LedgerEntry, Site
from akashi.errors import StoreError
from akashi.store import ledger
from akashi.store.backends.base import object_id_of
from akashi.store.crypto import HEADER_LEN, MAX_CHUNK, MIN_CHUNK, TAG_LEN, CryptoError, Decryptor
from akashi.store.pipeline import prefetch
from akashi.store.verify_report import VerifyReport

if TYPE_CHECKING:
    from akashi.store.evidence import EvidenceStore

_CHAIN_KINDS = {
    "edited": ("ledger_edited", "台帳の行が改ざんされています", "ledger row was edited"),
    "deleted_or_inserted": (
        "ledger_gap",
        "台帳の行が削除または挿入されています",
        "ledger row deleted or inserted",
    ),
    "reordered_or_removed_before": (
        "ledger_broken_link",
        "台帳の前の行へのつながりが切れています（並べ替えまたは削除）",
        "ledger link to the previous row is broken (reordered or a row removed)",
    ),
    "tail_missing": (
        "ledger_tail_missing",
        "台帳の末尾の行が削除されています",
        "rows at the end of the ledger were removed",
    ),
}
#: Audit log chain problems: kind, Japanese, English (the log is named in every message).
_AUDIT_KINDS = {
    "edited": ("audit_edited", "監査ログの行が改ざんされています", "audit log entry was edited"),
    "deleted_or_inserted": (
        "audit_gap",
        "監査ログの行が削除または挿入されています",
        "audit log entry deleted or inserted",
    ),
    "reordered_or_removed_before": (
        "audit_broken_link",
        "監査ログの前の行へのつながりが切れています（並べ替えまたは削除）",
        "audit log link to the previous entry is broken (reordered or an entry removed)",
    ),
    "tail_missing": (
        "audit_tail_missing",
        "監査ログの末尾の行が削除されています",
        "entries at the end of the audit log were removed",
    ),
    "rewritten": (
        "audit_rewritten",
        "監査ログの行が記録済みの先頭と一致しません（監査ログが作り直されています）",
        "audit log entry differs from the recorded head (the audit log was rewritten)",
    ),
}


def _check_chain(
    rows: list[LedgerEntry], report: VerifyReport, anchors: list[tuple[int, str] | None]
) -> None:
    known = [a for a in anchors if a is not None]
    expected_last = max((a[0] for a in known), default=None)
    for p in chain.check(rows, ledger.FIELDS, expected_last=expected_last):
        kind, ja, en = _CHAIN_KINDS.get(p.problem, ("ledger_" + p.problem, p.problem, p.problem))
        if kind == "ledger_tail_missing":
            ja += f"（最後に記録された行 #{expected_last}）"
            en += f" (last recorded entry #{expected_last})"
        report.add(kind, ja, en, seq=p.seq)
    by_seq = {r.seq: r for r in rows}
    for seq, h in sorted(set(known)):
        row = by_seq.get(seq)
        if row is not None and row.entry_hash != h:
            report.add(
                "ledger_rewritten",
                "台帳の行が記録済みの先頭と一致しません（台帳が作り直されています）",
                "ledger row differs from the recorded head (the ledger was rewritten)",
                seq=seq,
            )


def _check_object(  # noqa: PLR0912 - one branch per check of an object, each reported on its own
    store: EvidenceStore, row: EvidenceObject, report: VerifyReport, listed: dict[str, int] | None
) -> None:
    oid = row.id
    try:
        if listed is not None and row.state == "stored":
            stored: int | None = listed.get(row.location)  # one listing instead of a HEAD per object
        else:
            stored = store.raw_size(oid, row.state, row.location)
    except StoreError as err:
        report.add("backend_unreachable", f"読めません: {err.ja}", f"cannot read: {err.en}", object_id=oid)
        return
    if stored is None:
        report.add("object_missing", "保存先から消えています", "missing from the store", object_id=oid)
        return
    csha, psha = hashlib.sha256(), hashlib.sha256()
    dec = Decryptor(store.keys.kek, oid)
    crypto_err: CryptoError | None = None
    try:
        # Header first, then whole sealed chunks: the decryptor then never copies.
        step = row.chunk_size + TAG_LEN if MIN_CHUNK <= row.chunk_size <= MAX_CHUNK else 1 << 20
        read = store.raw_reader(oid, row.state, row.location, step)
        for data in prefetch(itertools.chain(read(0, min(HEADER_LEN, stored)), read(HEADER_LEN, stored))):
            csha.update(data)
            if crypto_err is None:
                try:
                    for plain in dec.update(data):
                        psha.update(plain)
                except CryptoError as err:
                    crypto_err = err
        if crypto_err is None:
            try:
                psha.update(dec.finish())
            except CryptoError as err:
                crypto_err = err
    except FileNotFoundError:
        report.add("object_missing", "保存先から消えています", "missing from the store", object_id=oid)
        return
    except StoreError as err:
        report.add("backend_unreachable", f"読めません: {err.ja}", f"cannot read: {err.en}", object_id=oid)
        return
    if stored < row.cipher_size:
        report.add(
            "object_truncated",
            f"切り詰められています（{stored} / {row.cipher_size} バイト）",
            f"truncated ({stored} of {row.cipher_size} bytes)",
            object_id=oid,
        )
    elif stored > row.cipher_size:
        report.add(
            "object_extended",
            f"データが追加されています（{stored} > {row.cipher_size} バイト）",
            f"bytes were appended ({stored} > {row.cipher_size} bytes)",
            object_id=oid,
        )
    elif crypto_err is not None:
        where = (
            f"チャンク {crypto_err.chunk} の認証に失敗" if crypto_err.chunk is not None else "ヘッダが不正"
        )
        report.add(
            "object_altered", f"改ざんされています（{where}）", f"altered: {crypto_err}", object_id=oid
        )
    elif csha.hexdigest() != row.cipher_sha256 or psha.hexdigest() != row.sha256:
        report.add(
            "object_altered", "SHA-256 が記録と違います", "SHA-256 differs from the record", object_id=oid
        )


#: How long an object without a row may be a put in flight (written, row not yet committed).
IN_FLIGHT_GRACE_S = 10.0


def _await_rows(store: EvidenceStore, ids: list[str], grace_s: float) -> set[str]:
    """Which of ``ids`` have a row, waiting up to ``grace_s`` seconds for puts in flight.

    A local put renames its object into place just before it commits the row, so a listing can
    show an object whose row is a moment away. Only objects still unexplained after the grace
    period are reported (a planted file costs verify this wait once).
    """
    deadline = time.monotonic() + grace_s
    found: set[str] = set()
    while ids:
        with session_scope(store.engine) as s:
            found |= set(s.scalars(select(EvidenceObject.id).where(EvidenceObject.id.in_(ids))))
        if found >= set(ids) or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    return found


def verify_store(store: EvidenceStore, in_flight_grace_s: float = IN_FLIGHT_GRACE_S) -> VerifyReport:  # noqa: PLR0912, PLR0915 - the verification walk: one step per check the module docstring lists
    """Check everything; see the module docstring.

    ``in_flight_grace_s``: how long an object with no row yet may be a put still committing.
    """
    report = VerifyReport()
    with session_scope(store.engine) as s:
        # One consistent view: the ledger lock keeps puts, holds and retention (which take it) from
        # committing between these reads, or a half-seen put would look like tampering.
        chain.lock_chain(s, "ledger")
        entries = list(s.scalars(select(LedgerEntry).order_by(LedgerEntry.seq)))
        kv = ledger.kv_head(s)
        file_head = store.anchor.read()  # under the lock: it only ever names committed entries
        rows = list(s.scalars(select(EvidenceObject).order_by(EvidenceObject.created_at, EvidenceObject.id)))
        sites: dict[int, str] = {sid: name for sid, name in s.execute(select(Site.id, Site.name))}
        s.expunge_all()
    report.ledger_entries = len(entries)
    _check_chain(entries, report, [kv, file_head])
    history, bad = ledger.replay(entries)
    for seq, why in bad:
        report.add("ledger_bad_entry", f"台帳の行が不正です: {why}", f"invalid ledger entry: {why}", seq=seq)

    listed: dict[str, int] | None
    try:
        listed = dict(store.backend.list_objects())
    except StoreError as err:
        listed = None
        report.add(
            "backend_unreachable", f"一覧を取得できません: {err.ja}", f"cannot list the store: {err.en}"
        )
    by_id = {r.id: r for r in rows}
    for row in rows:
        h = history.get(row.id)
        if h is None or h.put_seq is None:
            report.add(
                "row_unledgered",
                "台帳に登録の記録がない証拠行です（追加された行）",
                "evidence row has no ledger put entry (row added)",
                object_id=row.id,
            )
        else:
            facts = ledger.row_facts(row, sites.get(row.site_id) if row.site_id else None)
            diff = sorted(k for k in facts.keys() | h.facts.keys() if facts.get(k) != h.facts.get(k))
            if diff:
                names = ", ".join(diff)
                report.add(
                    "row_mismatch",
                    f"証拠行が台帳の記録と違います: {names}",
                    f"evidence row differs from its ledger entry #{h.put_seq}: {names}",
                    object_id=row.id,
                    seq=h.put_seq,
                )
            if h.deleted_seq is not None and row.state not in ("deleting", "deleted"):
                report.add(
                    "tombstone_not_applied",
                    f"台帳 #{h.deleted_seq} で削除済みのはずが残っています",
                    f"ledger #{h.deleted_seq} deleted it but the row says {row.state}",
                    object_id=row.id,
                )
            if h.deleted_seq is None and row.state in ("deleting", "deleted"):
                report.add(
                    "deleted_without_tombstone",
                    "削除の記録（台帳）なしに削除されています",
                    "deleted without a ledger tombstone",
                    object_id=row.id,
                )
            if h.held != row.legal_hold:
                report.add(
                    "hold_mismatch",
                    "保全（リーガルホールド）の状態が台帳と違います",
                    f"legal hold is {row.legal_hold} but the ledger says {h.held}",
                    object_id=row.id,
                )
        if row.state in ("stored", "pending"):
            report.checked += 1
            _check_object(store, row, report, listed)
        else:
            report.tombstones += 1
    for oid, h in history.items():
        if h.put_seq is not None and oid not in by_id:
            report.add(
                "row_missing",
                "台帳に登録された証拠の行が消えています",
                f"evidence row of ledger entry #{h.put_seq} was removed",
                object_id=oid,
                seq=h.put_seq,
            )

    late: set[str] = set()
    unexplained = [k for k in listed or {} if (object_id_of(k) or "") not in by_id]
    if unexplained:
        late = _await_rows(store, [i for i in (object_id_of(k) for k in unexplained) if i], in_flight_grace_s)
    for key in listed or {}:
        key_oid = object_id_of(key)
        found = by_id.get(key_oid) if key_oid else None
        if found is None and key_oid in late:
            continue
        if found is None:
            report.add(
                "object_unknown",
                f"台帳にないオブジェクトが保存先にあります: {key}",
                f"object in the store that no ledger entry explains: {key}",
                object_id=key_oid,
            )
        elif found.state == "deleted":
            report.add(
                "object_not_deleted",
                "保存期間満了で削除済みのはずが保存先に残っています",
                "deleted by retention but still present in the store",
                object_id=key_oid,
            )
    for spooled, _size in store.spool.entries():
        if spooled not in by_id:
            report.add(
                "spool_unknown",
                f"台帳にないファイルが送信待ちにあります: {spooled}",
                f"file in the upload spool that no ledger entry explains: {spooled}",
            )
    _forget_concurrent_deletions(store, report)
    check_audit_log(store, report)
    from akashi.store.checkpoint_verify import check_checkpoints  # noqa: PLC0415 - checkpoint places import boto3 (slow); only packages with checkpoints need them

    check_checkpoints(store, report)  # the chains against the external checkpoints
    report.finished_at = utcnow()
    return report


def _forget_concurrent_deletions(store: EvidenceStore, report: VerifyReport) -> None:
    """Drop 'missing' reports for objects that retention tombstoned while we were reading them."""
    missing = {p.object_id for p in report.problems if p.kind == "object_missing" and p.object_id}
    if not missing:
        return
    with session_scope(store.engine) as s:
        gone = set(
            s.scalars(
                select(EvidenceObject.id).where(
                    EvidenceObject.id.in_(missing), EvidenceObject.state.in_(("deleting", "deleted"))
                )
            )
        )
    if gone:
        report.problems = [
            p for p in report.problems if not (p.kind == "object_missing" and p.object_id in gone)
        ]
        report.checked -= len(gone)
        report.tombstones += len(gone)


def check_audit_log(store: EvidenceStore, report: VerifyReport) -> None:
    """Check the audit log's hash chain against its two head anchors, naming the audit log.

    Read under the audit chain's lock, so that no entry commits between reading the rows and the
    anchors (the file anchor only ever names committed entries).
    """

    with session_scope(store.engine) as s:
        chain.lock_chain(s, AuditEntry.__tablename__)
        rows = list(s.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
        anchors = [chain.kv_head(s, KV_HEAD), anchor_file(store.settings.home).read()]
        s.expunge_all()
    report.audit_entries = len(rows)
    expected_last = max((a[0] for a in anchors if a is not None), default=None)
    for p in chain.check_anchored(rows, AUDIT_FIELDS, anchors):
        kind, ja, en = _AUDIT_KINDS.get(p.problem, ("audit_" + p.problem, p.problem, p.problem))
        if kind == "audit_tail_missing":
            ja += f"（最後に記録された行 #{expected_last}）"
            en += f" (last recorded entry #{expected_last})"
        report.add(kind, ja, en, seq=p.seq)
