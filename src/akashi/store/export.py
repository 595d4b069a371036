"""Evidence packages: a ZIP anyone can check offline, with our code or with openssl and sha256sum.

Layout::

    media/<name>        original media, decrypted, bit-identical to what was recorded
    metadata.json       what the caller describes (the call, its parties, times)
    audit.json          the audit entries for it
    README.txt          how to check the package (Japanese and English)
    public_key.pem      the installation's Ed25519 public key
    SHA256SUMS          ``sha256sum -c`` list of every file above
    SHA256SUMS.sig      raw Ed25519 signature of SHA256SUMS
    manifest.json       format, time, key id, sha256 + size of every file above, object ids
    manifest.sig        raw Ed25519 signature of manifest.json

Media is streamed from the store into the archive (stored, not deflated), so memory stays small
whatever the length of the recording.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from akashi.db.base import utcnow
from akashi.errors import IntegrityError
from akashi.store.keys import InstallationKeys

if TYPE_CHECKING:
    from akashi.store.evidence import EvidenceStore

FORMAT = "akashi-evidence-package/1"
MANIFEST, MANIFEST_SIG = "manifest.json", "manifest.sig"
SUMS, SUMS_SIG = "SHA256SUMS", "SHA256SUMS.sig"
PUBLIC_KEY, README = "public_key.pem", "README.txt"
_UNLISTED = {MANIFEST, MANIFEST_SIG, SUMS_SIG}
_BLOCK = 1024 * 1024

DEFAULT_README = """\
証拠パッケージ（Akashi） / Evidence package (Akashi)
====================================================

このパッケージには録音・録画の原本（復号済み、記録時とビット単位で同一）、メタデータ、
監査記録、各ファイルの SHA-256 と、それに対する Ed25519 署名が入っています。
This package holds the original recordings (decrypted, bit-identical to what was recorded),
metadata, audit entries, the SHA-256 of every file and an Ed25519 signature over them.

確認の手順（OpenSSL 3 と coreutils） / How to check it (OpenSSL 3 and coreutils):

  1. 展開する / unpack:
       unzip package.zip -d package && cd package
  2. 署名を確かめる / check the signature ("Signature Verified Successfully"):
       openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin -in SHA256SUMS -sigfile SHA256SUMS.sig
       openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin -in manifest.json -sigfile manifest.sig
  3. 各ファイルのハッシュを確かめる / check every file ("OK" on each line):
       sha256sum -c SHA256SUMS
  4. 公開鍵が提出元のものか確かめる / check that the key is the installation's:
       openssl pkey -pubin -in public_key.pem -outform DER | sha256sum
     この値を manifest.json の public_key_sha256 および提出元が別途示す値と比べてください。
     Compare it with public_key_sha256 in manifest.json and with the value the sender publishes.

どれか一つでも失敗した場合、そのパッケージは改ざんされているか不完全です。
If any step fails, the package was altered or is incomplete.

derived/ フォルダがあれば、その中は原本から再生用に作った複製です（証拠は media/ の原本）。
作り方は manifest.json の "derived" に書かれています。
A derived/ folder, when present, holds copies made from the originals for listening; the
evidence is the original in media/. manifest.json ("derived") says how each was made.
"""


def _safe_name(name: str) -> str:
    p = PurePosixPath(name)
    if not name or p.is_absolute() or ".." in p.parts or "\\" in name or name != p.as_posix():
        raise ValueError(f"unsafe archive name: {name!r}")
    return name


def _public_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_fingerprint(pem: bytes) -> str:
    """SHA-256 of the DER SubjectPublicKeyInfo (what ``openssl pkey -outform DER | sha256sum`` prints)."""
    key = serialization.load_pem_public_key(pem)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def write_package(
    out: Path,
    *,
    keys: InstallationKeys,
    store: EvidenceStore,
    media: list[tuple[str, str]],
    metadata: dict[str, Any],
    audit: list[dict[str, Any]],
    readme_text: str | None = None,
    derived: list[Derived] | None = None,
) -> Path:
    """Write the package to ``out`` (via a temporary name, fsynced) and return ``out``.

    ``media`` is a list of (name inside ``media/``, object id). Raises :class:`IntegrityError`
    when a stored object fails authentication: a package never contains unverified media.
    ``derived``: listening copies made from the originals (e.g. a WAV of a call kept as RTP), put
    under ``derived/``, hashed and signed like everything else and marked in the manifest as not
    being the evidence.
    """
    names = [f"media/{_safe_name(n)}" for n, _ in media]
    if len(set(names)) != len(names):
        raise ValueError("duplicate media names")
    files: list[dict[str, Any]] = []
    objects: list[dict[str, Any]] = []
    part = out.with_name(out.name + ".part")
    when = utcnow()
    stamp = when.timetuple()[:6]

    def add_bytes(zf: zipfile.ZipFile, name: str, data: bytes, listed: bool = True) -> None:
        info = zipfile.ZipInfo(name, stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, data)
        if listed:
            files.append({"name": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)})

    try:
        with zipfile.ZipFile(part, "w", allowZip64=True) as zf:
            for arc, (_, oid) in zip(names, media, strict=True):
                info = store.object_info(oid)
                zi = zipfile.ZipInfo(arc, stamp)
                zi.compress_type = zipfile.ZIP_STORED
                digest, size = hashlib.sha256(), 0
                with zf.open(zi, "w", force_zip64=True) as f:
                    for piece in store.iter_plaintext(oid):
                        digest.update(piece)
                        size += len(piece)
                        f.write(piece)
                if digest.hexdigest() != info.sha256 or size != info.size:
                    raise IntegrityError(
                        f"{oid} のハッシュが記録と違います", f"{oid} does not match its record"
                    )
                files.append({"name": arc, "sha256": info.sha256, "size": size})
                objects.append(
                    {
                        "file": arc,
                        "object_id": oid,
                        "media_type": info.media_type,
                        "recorded_sha256": info.sha256,
                        "recorded_at": info.created_at.isoformat(),
                        "original_filename": info.filename,
                    }
                )
            derived_rows = []
            for d in derived or []:
                arc = f"derived/{_safe_name(d.name)}"
                add_bytes(zf, arc, d.data)
                derived_rows.append({"file": arc, "from": f"media/{_safe_name(d.source)}", "how": d.how})
            add_bytes(zf, "metadata.json", _json(metadata))
            add_bytes(zf, "audit.json", _json(audit))
            add_bytes(zf, README, (readme_text or DEFAULT_README).encode())
            pem = keys.public_pem()
            add_bytes(zf, PUBLIC_KEY, pem)
            sums = "".join(f"{f['sha256']}  {f['name']}\n" for f in files).encode()
            add_bytes(zf, SUMS, sums)
            add_bytes(zf, SUMS_SIG, keys.signing.sign(sums), listed=False)
            manifest = {
                "format": FORMAT,
                "created_at": when.isoformat(),
                "key_id": keys.key_id,
                "public_key_sha256": public_key_fingerprint(pem),
                "files": files,
                "objects": objects,
                **({"derived": derived_rows} if derived_rows else {}),
            }
            body = _json(manifest)
            add_bytes(zf, MANIFEST, body, listed=False)
            add_bytes(zf, MANIFEST_SIG, keys.signing.sign(body), listed=False)
        with open(part, "rb") as f:
            os.fsync(f.fileno())
        os.replace(part, out)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return out


@dataclass(frozen=True)
class Derived:
    """A file made from an original for convenience (listening), never the evidence itself."""

    name: str  # inside derived/
    data: bytes
    source: str  # the original's name inside media/
    how: str  # what was done, for the reader


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True, default=str).encode() + b"\n"


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
    """Result of :func:`check_package`."""

    files_checked: int = 0
    problems: list[PackageProblem] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Signature valid and every file present and unchanged."""
        return not self.problems

    def add(self, file: str, ja: str, en: str) -> None:
        """Record a problem."""
        self.problems.append(PackageProblem(file, ja, en))

    def as_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "ok": self.ok,
            "files_checked": self.files_checked,
            "problems": [asdict(p) for p in self.problems],
        }

    def to_json(self) -> str:
        """JSON text."""
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=2)

    def to_text(self) -> str:
        """Summary and one line per problem."""
        head = (
            f"OK: 署名と {self.files_checked} ファイルを確認しました"
            f" / signature and {self.files_checked} files verified"
            if self.ok
            else f"NG: {len(self.problems)} 件の問題 / {len(self.problems)} problem(s)"
        )
        return "\n".join([head, *(p.text() for p in self.problems)])


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


def _trusted_raw(trusted: bytes) -> bytes:
    if len(trusted) == 32:
        return trusted
    key = serialization.load_pem_public_key(trusted)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("trusted key is not Ed25519")
    return _public_raw(key)


def check_package(path: Path, trusted_public_key: bytes | None = None) -> CheckReport:
    """Verify a package offline; every problem names the file concerned.

    ``trusted_public_key`` (PEM or 32 raw bytes) pins the signer; without it the key inside the
    package is used, which proves integrity but not who made the package.
    """
    report = CheckReport()
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        report.add(path.name, f"ZIP として読めません: {err}", f"not a readable ZIP: {err}")
        return report
    with zf:
        pem, body, sig = _read(zf, PUBLIC_KEY), _read(zf, MANIFEST), _read(zf, MANIFEST_SIG)
        for name, data in ((PUBLIC_KEY, pem), (MANIFEST, body), (MANIFEST_SIG, sig)):
            if data is None:
                report.add(name, "ファイルがありません", "file is missing")
        if pem is None or body is None or sig is None:
            return report
        try:
            pub = serialization.load_pem_public_key(pem)
            if not isinstance(pub, Ed25519PublicKey):
                raise ValueError("not Ed25519")
        except ValueError as err:
            report.add(PUBLIC_KEY, f"公開鍵が読めません: {err}", f"unreadable public key: {err}")
            return report
        if trusted_public_key is not None and _trusted_raw(trusted_public_key) != _public_raw(pub):
            report.add(PUBLIC_KEY, "信頼する公開鍵と違います", "not the trusted public key")
        try:
            pub.verify(sig, body)
        except InvalidSignature:
            report.add(
                MANIFEST_SIG, "manifest.json の署名が一致しません", "signature does not match manifest.json"
            )
        try:
            manifest = json.loads(body)
            listed = {str(f["name"]): (str(f["sha256"]), int(f["size"])) for f in manifest["files"]}
        except (ValueError, KeyError, TypeError) as err:
            report.add(MANIFEST, f"manifest.json が不正です: {err}", f"manifest.json is invalid: {err}")
            return report
        report.manifest = manifest
        for name, (want_sha, want_size) in listed.items():
            try:
                got_sha, got_size = _hash_member(zf, name)
            except KeyError:
                report.add(name, "ファイルがありません", "file is missing")
                continue
            except (zipfile.BadZipFile, OSError, EOFError) as err:
                report.add(
                    name, f"読めません（改ざんまたは破損）: {err}", f"unreadable (altered or damaged): {err}"
                )
                continue
            report.files_checked += 1
            if got_size != want_size:
                report.add(
                    name, f"サイズが違います（{got_size} ≠ {want_size}）", f"size {got_size} != {want_size}"
                )
            elif got_sha != want_sha:
                report.add(name, "SHA-256 がマニフェストと違います", "SHA-256 differs from the manifest")
        seen: set[str] = set()
        for name in zf.namelist():
            if name in seen:
                report.add(
                    name, "同じ名前のファイルが複数あります", "the archive holds this name more than once"
                )
            seen.add(name)
            if name not in listed and name not in _UNLISTED:
                report.add(name, "マニフェストにないファイルです", "file not listed in the manifest")
        sums, sums_sig = _read(zf, SUMS), _read(zf, SUMS_SIG)
        if sums_sig is None or sums is None:
            report.add(SUMS_SIG, "ファイルがありません", "file is missing")
        else:
            try:
                pub.verify(sums_sig, sums)
            except InvalidSignature:
                report.add(SUMS_SIG, "SHA256SUMS の署名が一致しません", "signature does not match SHA256SUMS")
    return report
