"""Signed checkpoints of the ledger and audit heads, written to places this machine's owner cannot rewrite.

The head anchors of :mod:`akashi.store.ledger` live inside the box: whoever holds the home can delete
a ledger row and run ``ledger-accept-head``, or trim the audit log, and the chains are whole again. A
checkpoint fixes the heads outside the box:

* its body is canonical JSON -- ledger head and count, audit head and count, object counts, time,
  the installation key's fingerprint (and, for ``ledger-accept-head``, the head it replaced and why),
  signed with the installation's Ed25519 key (``.sig``, raw, like the evidence packages);
* an RFC 3161 time stamp of the body from ``store.tsa_url`` is kept beside it (``.tsr``): no one,
  the owner included, can later make a checkpoint that claims an earlier time;
* the files go to every place of :mod:`akashi.store.checkpoint_places` (the home, the evidence bucket
  under compliance-mode Object Lock, the remote copy).

``akashi serve`` writes one every ``store.checkpoint_minutes`` (skipped while nothing changed, for at
most a day), ``akashi checkpoint`` on demand, ``ledger-accept-head`` at once; ``akashi verify`` checks
the chains against them (:mod:`akashi.store.checkpoint_verify`).

A checkpoint's base name carries its time, kind and both heads
(``20261206T091000123456Z-periodic-L000042-<16 hex>-A000108-<16 hex>``) so that ``verify`` can
check every checkpoint ever written from a bucket listing, fetching only the ones it must.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from akashi.db import chain
from akashi.db.base import session_scope
from akashi.db.models import AuditEntry, EvidenceObject, LedgerEntry
from akashi.errors import StoreError
from akashi.store import ledger, tsa
from akashi.store.checkpoint_places import DIR, LocalPlace, Place, close_places, places
from akashi.store.keys import public_key_fingerprint

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

    from akashi.store.evidence import EvidenceStore

log = logging.getLogger(__name__)

FORMAT = "akashi-checkpoint/1"
KINDS = ("periodic", "manual", "accept", "export")
#: A periodic checkpoint is skipped while the heads have not moved, but at least one is made a day.
UNCHANGED_MAX_AGE = timedelta(hours=24)
_NAME = re.compile(
    r"^(?P<t>\d{8}T\d{12})Z-(?P<kind>[a-z]+)-L(?P<ls>\d+)-(?P<lh>[0-9a-f]{16})-A(?P<as>\d+)-(?P<ah>[0-9a-f]{16})$"
)


@dataclass(frozen=True)
class Head:
    """The last entry of a chain (``seq`` 0 and the genesis hash when it is empty) and its row count."""

    seq: int
    hash: str
    count: int

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the body."""
        return {"seq": self.seq, "hash": self.hash, "count": self.count}


@dataclass(frozen=True)
class CheckpointName:
    """What a base name says (unsigned: confirmed against the body when it matters)."""

    base: str
    created_at: datetime
    kind: str
    ledger_seq: int
    ledger_prefix: str
    audit_seq: int
    audit_prefix: str

    @classmethod
    def parse(cls, base: str) -> CheckpointName | None:
        """The name's parts, None when it is not a checkpoint name."""
        m = _NAME.match(base)
        if m is None or m["kind"] not in KINDS:
            return None
        when = datetime.strptime(m["t"], "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC)
        return cls(base, when, m["kind"], int(m["ls"]), m["lh"], int(m["as"]), m["ah"])


def base_name(created_at: datetime, kind: str, ledger: Head, audit: Head) -> str:
    """The base name of a checkpoint's files."""
    stamp = created_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%f")
    return f"{stamp}Z-{kind}-L{ledger.seq:06d}-{ledger.hash[:16]}-A{audit.seq:06d}-{audit.hash[:16]}"


def _chain_head(s: Session, model: type[LedgerEntry] | type[AuditEntry]) -> Head:
    last = s.execute(select(model.seq, model.entry_hash).order_by(model.seq.desc()).limit(1)).first()
    n = chain.count(s, model)
    return Head(int(last[0]), str(last[1]), n) if last else Head(0, chain.GENESIS, n)


def audit_head(s: Session) -> Head:
    """The audit log's head, computed from its chain (the rows are the truth whatever anchors exist)."""
    return _chain_head(s, AuditEntry)


def ledger_head(s: Session) -> Head:
    """The ledger's head, computed from its chain."""
    return _chain_head(s, LedgerEntry)


@dataclass
class Checkpoint:
    """One checkpoint: the body (bytes as signed), its signature, and the TSA response when there is one."""

    name: str
    body: bytes
    sig: bytes
    tsr: bytes | None = None

    @property
    def data(self) -> dict[str, Any]:
        """The parsed body."""
        value = json.loads(self.body)
        if not isinstance(value, dict):
            raise ValueError("checkpoint body is not an object")
        return value

    def files(self) -> dict[str, bytes]:
        """``{file name: bytes}`` in writing order: the body last, so a listed body has its signature."""
        out = {f"{self.name}.sig": self.sig}
        if self.tsr is not None:
            out[f"{self.name}.tsr"] = self.tsr
        out[f"{self.name}.json"] = self.body
        return out


def anchored_ledger_head(store: EvidenceStore) -> dict[str, Any] | None:
    """The furthest head the home remembers (``kv`` row or ``ledger.head`` file), before it is replaced."""

    with session_scope(store.engine) as s:
        kv = ledger.kv_head(s)
    found = [h for h in (kv, store.anchor.read()) if h is not None]
    if not found:
        return None
    seq, entry_hash = max(found)
    return {"seq": seq, "hash": entry_hash}


def make_checkpoint(
    store: EvidenceStore, kind: str, *, accepted: dict[str, Any] | None = None, now: datetime | None = None
) -> Checkpoint:
    """Read the heads and counts now and sign them (nothing is written)."""
    if kind not in KINDS:
        raise ValueError(f"unknown checkpoint kind {kind!r}")
    created = (now or datetime.now(UTC)).astimezone(UTC)
    with session_scope(store.engine) as s:
        led = ledger_head(s)
        aud = audit_head(s)
        total = int(s.scalar(select(func.count()).select_from(EvidenceObject)) or 0)
        stored = int(
            s.scalar(
                select(func.count())
                .select_from(EvidenceObject)
                .where(EvidenceObject.state.in_(("stored", "pending")))
            )
            or 0
        )
    body: dict[str, Any] = {
        "format": FORMAT,
        "kind": kind,
        "created_at": created.isoformat(),
        "installation": {
            "key_id": store.keys.key_id,
            "public_key_sha256": public_key_fingerprint(store.keys.public_pem()),
        },
        "ledger": led.as_dict(),
        "audit": aud.as_dict(),
        "objects": {"total": total, "kept": stored},
    }
    if accepted is not None:
        body["accepted"] = accepted
    raw = chain.canonical(body).encode()
    return Checkpoint(base_name(created, kind, led, aud), raw, store.keys.signing.sign(raw))


def load_tsa_ca(path: str) -> list[Certificate] | None:
    """The certificates of ``store.tsa_ca_file`` (None when not set)."""
    if not path:
        return None
    try:
        pem = Path(path).read_bytes()
    except OSError as err:
        raise StoreError(
            f"store.tsa_ca_file が読めません: {path}", f"cannot read store.tsa_ca_file {path}: {err}"
        ) from None
    return tsa.load_ca(pem)


@dataclass
class CheckpointResult:
    """What :func:`take_checkpoint` did: where the files went and what failed."""

    name: str
    created_at: str
    ledger_seq: int
    audit_seq: int
    tsa_time: str | None = None
    tsa_verified: bool = False
    written: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    skipped: bool = False

    @property
    def ok(self) -> bool:
        """Every configured place (and the TSA) took it."""
        return not self.failed

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "ok": self.ok,
            "name": self.name,
            "created_at": self.created_at,
            "ledger_seq": self.ledger_seq,
            "audit_seq": self.audit_seq,
            "tsa_time": self.tsa_time,
            "tsa_verified": self.tsa_verified,
            "written": self.written,
            "failed": self.failed,
            "skipped": self.skipped,
        }

    def to_text(self) -> str:
        """For people: one summary line, then one line per failure."""
        if self.skipped:
            return (
                f"変化なし（前回のチェックポイントのまま）/ unchanged since the last checkpoint: {self.name}"
            )
        tsa_part = (
            f"TSA 時刻 / TSA time {self.tsa_time}{'' if self.tsa_verified else '（署名者未確認 / signer unverified）'}"
            if self.tsa_time
            else "TSA なし / no TSA"
        )
        head = (
            f"{'OK' if self.ok else 'NG'}: チェックポイント / checkpoint {self.name}"
            f" (台帳 / ledger #{self.ledger_seq}, 監査 / audit #{self.audit_seq}); {tsa_part};"
            f" 保存先 / written to: {', '.join(self.written) or '-'}"
        )
        return "\n".join([head, *(f"  {f['place']}: {f['ja']} / {f['en']}" for f in self.failed)])


def latest_local(store: EvidenceStore) -> CheckpointName | None:
    """The newest checkpoint in the home (by the time in its name)."""
    names = [CheckpointName.parse(n[: -len(".json")]) for n in LocalPlace(store.settings.home / DIR).names()]
    found = [n for n in names if n is not None]
    return max(found, key=lambda n: n.created_at) if found else None


def _unchanged(store: EvidenceStore, now: datetime) -> CheckpointName | None:
    last = latest_local(store)
    if last is None or now - last.created_at > UNCHANGED_MAX_AGE:
        return None
    with session_scope(store.engine) as s:
        led, aud = ledger_head(s), audit_head(s)
    same = (last.ledger_seq, last.ledger_prefix, last.audit_seq, last.audit_prefix) == (
        led.seq,
        led.hash[:16],
        aud.seq,
        aud.hash[:16],
    )
    return last if same else None


def take_checkpoint(
    store: EvidenceStore,
    kind: str = "manual",
    *,
    accepted: dict[str, Any] | None = None,
    skip_unchanged: bool = False,
) -> CheckpointResult:
    """Make a checkpoint, time-stamp it at the TSA and write it to every place.

    A TSA or a place that fails is reported in the result (and logged) and does not stop the others;
    only when not even the home folder takes it is a :class:`StoreError` raised.
    """
    now = datetime.now(UTC)
    if skip_unchanged and (last := _unchanged(store, now)) is not None:
        return CheckpointResult(
            last.base, last.created_at.isoformat(), last.ledger_seq, last.audit_seq, skipped=True
        )
    cfg = store.settings.store
    cp = make_checkpoint(store, kind, accepted=accepted, now=now)
    data = cp.data
    result = CheckpointResult(cp.name, data["created_at"], data["ledger"]["seq"], data["audit"]["seq"])
    if cfg.tsa_url:
        try:
            der, stamp = tsa.timestamp(cfg.tsa_url, cp.body, cfg.tsa_timeout_s, load_tsa_ca(cfg.tsa_ca_file))
            cp.tsr = der
            result.tsa_time, result.tsa_verified = stamp.gen_time.isoformat(), stamp.chain_verified
        except (StoreError, tsa.TsaError) as err:
            result.failed.append({"place": "tsa", "ja": err.ja, "en": err.en})
    found: list[Place] = places(store.settings)
    try:
        for place in found:
            try:
                place.write(cp.files())
                locked = place.external or isinstance(place, LocalPlace)
                result.written.append(place.label if locked else f"{place.label} (no Object Lock)")
            except StoreError as err:
                if place.label == "local":
                    raise
                result.failed.append({"place": place.label, "ja": err.ja, "en": err.en})
    finally:
        close_places(found)
    for f in result.failed:
        log.warning("checkpoint %s not written to %s: %s", cp.name, f["place"], f["en"])
    return result
