"""Checking an evidence package offline, against a pinned signer.

A package carries its own ``public_key.pem``: anyone can re-sign a forged package with a fresh key
and put that key inside, so the signatures alone prove only that the package is self-consistent.
Who signed it is proven by comparing the key's fingerprint with a key the checker already trusts:
a :class:`Pin` (the installation's own signing key, a public key file, or a published fingerprint).

Fingerprints are the SHA-256 of the key's DER SubjectPublicKeyInfo, written ``SHA256:`` and 64
lowercase hex digits: the hex is what ``openssl pkey -pubin -in public_key.pem -outform DER |
sha256sum`` prints, so a person can compare it with standard tools (OpenSSH's base64 form is not
used). :func:`parse_fingerprint` also accepts the bare hex, upper case and ``:`` between bytes.

Verdicts: ``OK`` (intact and signed by the pinned key), ``NG`` (anything altered, or signed by
another key than the pinned one) and ``UNVERIFIED`` (intact, but no key was pinned: the signer is
not known). :attr:`CheckReport.exit_code` maps them to 0, 1 and 2.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

MANIFEST, MANIFEST_SIG = "manifest.json", "manifest.sig"
SUMS, SUMS_SIG = "SHA256SUMS", "SHA256SUMS.sig"
PUBLIC_KEY = "public_key.pem"
UNLISTED = {MANIFEST, MANIFEST_SIG, SUMS_SIG}
REPORT_FORMAT = "akashi-package-check/1"
_BLOCK = 1024 * 1024
_HEX64 = re.compile(r"[0-9a-f]{64}")

Status = Literal["ok", "ng", "unverified"]
PinSource = Literal["installation", "public-key", "fingerprint"]
_PIN_LABEL: dict[str, tuple[str, str]] = {
    "installation": ("この設置の署名鍵", "this installation's signing key"),
    "public-key": ("--public-key で指定した鍵", "the key given with --public-key"),
    "fingerprint": ("--fingerprint で指定した指紋", "the fingerprint given with --fingerprint"),
}


def der_fingerprint(key: Ed25519PublicKey) -> str:
    """``SHA256:`` + hex SHA-256 of the DER SubjectPublicKeyInfo of ``key``."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "SHA256:" + hashlib.sha256(der).hexdigest()


def load_public_key(pem: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM; ``ValueError`` for anything else."""
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def parse_fingerprint(text: str) -> str:
    """Normalise a fingerprint to ``SHA256:<64 hex>``; ``ValueError`` naming what is wrong.

    Accepted: ``SHA256:`` (any case) or nothing, then 64 hex digits (any case, ``:`` between
    bytes allowed); a trailing ``  -`` as ``sha256sum`` prints it is ignored.
    """
    value = text.strip()
    if value.endswith(" -"):
        value = value[:-2].strip()
    if value[:7].upper() == "SHA256:":
        value = value[7:]
    value = value.replace(":", "").lower()
    if not _HEX64.fullmatch(value):
        raise ValueError(
            "fingerprint must be SHA256: followed by the 64 hex digits of the SHA-256 of the DER public key"
        )
    return "SHA256:" + value


@dataclass(frozen=True)
class Pin:
    """A signer the checker trusts: its fingerprint and where it came from."""

    fingerprint: str
    source: PinSource

    @classmethod
    def from_pem(cls, pem: bytes, source: PinSource = "public-key") -> Pin:
        """Pin an Ed25519 public key (PEM); ``ValueError`` when it is not one."""
        return cls(der_fingerprint(load_public_key(pem)), source)

    @classmethod
    def from_text(cls, text: str) -> Pin:
        """Pin a published fingerprint (see :func:`parse_fingerprint`)."""
        return cls(parse_fingerprint(text), "fingerprint")

    def label(self) -> tuple[str, str]:
        """Japanese and English words for where the pin came from."""
        return _PIN_LABEL[self.source]


@dataclass(frozen=True)
class CheckLine:
    """One check and its result: ``check`` names the kind, ``file`` what it is about."""

    check: str  # zip | signature | signer | key_fingerprint | sums | file | unlisted | duplicate
    file: str
    status: Status
    ja: str
    en: str

    def text(self) -> str:
        """One line for people: status, the file, Japanese / English."""
        mark = {"ok": "OK", "ng": "NG", "unverified": "??"}[self.status]
        return f"{mark}  {self.file}: {self.ja} / {self.en}"

    def as_dict(self) -> dict[str, str]:
        """Plain data for JSON."""
        return {"check": self.check, "file": self.file, "status": self.status, "ja": self.ja, "en": self.en}


@dataclass(frozen=True)
class PackageProblem:
    """One thing in a package that does not match; ``file`` names it."""

    file: str
    ja: str
    en: str

    def text(self) -> str:
        """One line for people."""
        return f"{self.file}: {self.ja} / {self.en}"


@dataclass
class CheckReport:
    """Result of :func:`check_package`: one :class:`CheckLine` per check, in the order made.

    ``ok`` says that nothing was found wrong (integrity, and the signer when a key was pinned);
    only ``verdict == "OK"`` also says who signed it.
    """

    package: str = ""
    lines: list[CheckLine] = field(default_factory=list)
    files_checked: int = 0
    manifest: dict[str, Any] = field(default_factory=dict)
    signer: str | None = None  # fingerprint of the key inside the package
    pins: list[Pin] = field(default_factory=list)

    @property
    def problems(self) -> list[PackageProblem]:
        """The checks that failed."""
        return [PackageProblem(x.file, x.ja, x.en) for x in self.lines if x.status == "ng"]

    @property
    def ok(self) -> bool:
        """Nothing found wrong (the signer is proven only when :attr:`signer_verified`)."""
        return not any(x.status == "ng" for x in self.lines)

    @property
    def signer_verified(self) -> bool:
        """The package key is the pinned key (every pin, when several were given)."""
        return self.ok and bool(self.pins) and any(x.check == "signer" for x in self.lines)

    @property
    def verdict(self) -> Literal["OK", "NG", "UNVERIFIED"]:
        """``OK``, ``NG`` or ``UNVERIFIED`` (intact, signer not verified)."""
        return "NG" if not self.ok else "OK" if self.signer_verified else "UNVERIFIED"

    @property
    def exit_code(self) -> int:
        """0 OK, 1 NG, 2 signer not verified."""
        return {"OK": 0, "NG": 1, "UNVERIFIED": 2}[self.verdict]

    def line(self, check: str, file: str, status: Status, ja: str, en: str) -> None:
        """Record one check."""
        self.lines.append(CheckLine(check, file, status, ja, en))

    def add(self, file: str, ja: str, en: str, check: str = "integrity") -> None:
        """Record a failed check."""
        self.line(check, file, "ng", ja, en)

    def as_dict(self) -> dict[str, Any]:
        """The machine-readable report (``akashi export check --json``); fields in the README."""
        return {
            "format": REPORT_FORMAT,
            "package": self.package,
            "verdict": self.verdict,
            "ok": self.verdict == "OK",
            "exit_code": self.exit_code,
            "signer": {
                "fingerprint": self.signer,
                "verified": self.signer_verified,
                "pinned": [{"fingerprint": p.fingerprint, "source": p.source} for p in self.pins],
            },
            "files_checked": self.files_checked,
            "checks": [x.as_dict() for x in self.lines],
            "problems": [{"file": p.file, "ja": p.ja, "en": p.en} for p in self.problems],
        }

    def to_json(self) -> str:
        """JSON text."""
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=2)

    def to_text(self) -> str:
        """The report for people: a title, one line per check, the verdict."""
        out = [f"証拠パッケージの確認 / Evidence package check: {self.package}"]
        out += [x.text() for x in self.lines]
        if self.verdict == "OK":
            out.append(
                f"結果 / Result: OK — 署名者 {self.signer} を確認、{self.files_checked} ファイルに改ざんなし"
                f" / signer {self.signer} verified, {self.files_checked} files unaltered"
            )
        elif self.verdict == "NG":
            n = len(self.problems)
            out.append(f"結果 / Result: NG — {n} 件の問題 / {n} problem(s)")
        else:
            out.append(
                f"結果 / Result: 署名者未確認 / signer not verified — 改ざんは見つかりませんが、署名した鍵"
                f" {self.signer} を信頼できる値と照合していません（--public-key か --fingerprint を指定）"
                f" / no alteration found, but the signing key {self.signer} was not compared with a"
                f" trusted one (give --public-key or --fingerprint)"
            )
        return "\n".join(out)

    def __str__(self) -> str:
        return self.to_text()


def _read(zf: zipfile.ZipFile, name: str) -> bytes | None:
    try:
        return zf.read(name)
    except KeyError:
        return None


def _hash_member(zf: zipfile.ZipFile, name: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with zf.open(name) as f:
        while block := f.read(_BLOCK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def _signature(
    report: CheckReport, pub: Ed25519PublicKey, signed: str, sig_name: str, zf: zipfile.ZipFile
) -> None:
    body, sig = _read(zf, signed), _read(zf, sig_name)
    if body is None or sig is None:
        report.add(
            sig_name if sig is None else signed, "ファイルがありません", "file is missing", "signature"
        )
        return
    try:
        pub.verify(sig, body)
    except InvalidSignature:
        report.add(
            sig_name, f"{signed} の署名が一致しません", f"signature does not match {signed}", "signature"
        )
        return
    report.line("signature", sig_name, "ok", f"{signed} の署名は正しい", f"signature of {signed} is valid")


def _signer(report: CheckReport, fingerprint: str) -> None:
    if not report.pins:
        report.line(
            "signer",
            PUBLIC_KEY,
            "unverified",
            f"署名者未確認（鍵の指紋 {fingerprint}）",
            f"signer not verified (key fingerprint {fingerprint})",
        )
        return
    for pin in report.pins:
        ja, en = pin.label()
        if hmac.compare_digest(pin.fingerprint, fingerprint):
            report.line(
                "signer", PUBLIC_KEY, "ok", f"署名者は{ja}（{fingerprint}）", f"signed by {en} {fingerprint}"
            )
        else:
            report.add(
                PUBLIC_KEY,
                f"署名者 {fingerprint} は信頼する鍵（{ja} {pin.fingerprint}）ではありません",
                f"signer {fingerprint} is not the trusted key ({en} {pin.fingerprint})",
                "signer",
            )


def _sums(report: CheckReport, zf: zipfile.ZipFile, listed: dict[str, tuple[str, int]]) -> None:
    """SHA256SUMS (what ``sha256sum -c`` checks) must list exactly the manifest's other files."""
    raw = _read(zf, SUMS)
    if raw is None:
        return  # already reported by its signature check
    sums: dict[str, str] = {}
    for text in raw.decode("utf-8", "replace").splitlines():
        digest, sep, name = text.partition("  ")
        if not sep or not _HEX64.fullmatch(digest):
            report.add(
                SUMS, f"読めない行があります: {text[:80]!r}", f"unreadable line: {text[:80]!r}", "sums"
            )
            return
        sums[name] = digest
    want = {name: sha for name, (sha, _) in listed.items() if name != SUMS}  # it cannot list itself
    if sums == want:
        report.line(
            "sums", SUMS, "ok", "manifest.json と同じ一覧", "lists the same files and hashes as manifest.json"
        )
    else:
        diff = ", ".join(sorted(n for n in sums.keys() | want.keys() if sums.get(n) != want.get(n)))
        report.add(
            SUMS, f"manifest.json と一致しません: {diff}", f"differs from manifest.json: {diff}", "sums"
        )


def check_package(
    path: Path, trusted_public_key: bytes | None = None, *, pins: list[Pin] | None = None
) -> CheckReport:
    """Verify a package offline; every check is a line of the report, every problem names its file.

    ``pins``: the signers to trust. ``trusted_public_key`` (PEM or 32 raw bytes) adds one. With no
    pin the key inside the package is used for the signatures, which proves integrity but not who
    made the package: the verdict is then ``UNVERIFIED`` at best.
    """
    report = CheckReport(package=path.name, pins=list(pins or []))
    if trusted_public_key is not None:
        if len(trusted_public_key) == 32:
            raw_key = Ed25519PublicKey.from_public_bytes(trusted_public_key)
            report.pins.append(Pin(der_fingerprint(raw_key), "public-key"))
        else:
            report.pins.append(Pin.from_pem(trusted_public_key))
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        report.add(path.name, f"ZIP として読めません: {err}", f"not a readable ZIP: {err}", "zip")
        return report
    with zf:
        _check_open(report, zf)
    return report


def _check_open(report: CheckReport, zf: zipfile.ZipFile) -> None:  # noqa: PLR0912 - one branch per check of the package, reported in order
    pem, body = _read(zf, PUBLIC_KEY), _read(zf, MANIFEST)
    for name, data in ((PUBLIC_KEY, pem), (MANIFEST, body)):
        if data is None:
            report.add(name, "ファイルがありません", "file is missing")
    if pem is None or body is None:
        return
    try:
        pub = load_public_key(pem)
    except ValueError as err:
        report.add(PUBLIC_KEY, f"公開鍵が読めません: {err}", f"unreadable public key: {err}", "signer")
        return
    report.signer = der_fingerprint(pub)
    _signer(report, report.signer)
    _signature(report, pub, MANIFEST, MANIFEST_SIG, zf)
    _signature(report, pub, SUMS, SUMS_SIG, zf)
    try:
        manifest = json.loads(body)
        listed = {str(f["name"]): (str(f["sha256"]), int(f["size"])) for f in manifest["files"]}
    except (ValueError, KeyError, TypeError) as err:
        report.add(
            MANIFEST, f"manifest.json が不正です: {err}", f"manifest.json is invalid: {err}", "manifest"
        )
        return
    report.manifest = manifest
    stated = manifest.get("public_key_sha256") if isinstance(manifest, dict) else None
    if stated is not None and "SHA256:" + str(stated).lower() != report.signer:
        report.add(
            MANIFEST,
            f"public_key_sha256 が public_key.pem の指紋 {report.signer} と違います",
            f"public_key_sha256 differs from the fingerprint of public_key.pem, {report.signer}",
            "key_fingerprint",
        )
    for name, (want_sha, want_size) in listed.items():
        try:
            got_sha, got_size = _hash_member(zf, name)
        except KeyError:
            report.add(name, "ファイルがありません", "file is missing", "file")
            continue
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            report.add(
                name,
                f"読めません（改ざんまたは破損）: {err}",
                f"unreadable (altered or damaged): {err}",
                "file",
            )
            continue
        report.files_checked += 1
        if got_size != want_size:
            report.add(
                name,
                f"サイズが違います（{got_size} ≠ {want_size}）",
                f"size {got_size} != {want_size}",
                "file",
            )
        elif got_sha != want_sha:
            report.add(name, "SHA-256 がマニフェストと違います", "SHA-256 differs from the manifest", "file")
        else:
            report.line(
                "file",
                name,
                "ok",
                f"SHA-256 一致（{got_size} バイト）",
                f"SHA-256 matches ({got_size} bytes)",
            )
    _sums(report, zf, listed)
    from akashi.store.checkpoint_package import verify_checkpoint_offline  # noqa: PLC0415 - the offline checker loads the database layer only for a package that carries checkpoints

    # The checkpoint and its TSA token (store/checkpoint_package.py).
    for cp_file, status, ja, en in verify_checkpoint_offline(zf, pub, manifest):
        report.line("checkpoint", cp_file, status, ja, en)
    seen: set[str] = set()
    for name in zf.namelist():
        if name in seen:
            report.add(
                name,
                "同じ名前のファイルが複数あります",
                "the archive holds this name more than once",
                "duplicate",
            )
        seen.add(name)
        if name not in listed and name not in UNLISTED:
            report.add(name, "マニフェストにないファイルです", "file not listed in the manifest", "unlisted")
