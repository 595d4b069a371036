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
    checkpoint/         the newest signed checkpoint covering the objects, its RFC 3161 token, the TSA's
                        certificates and the objects' ledger entries (store/checkpoint_package.py)

Media is streamed from the store into the archive (stored, not deflated), so memory stays small
whatever the length of the recording. Checking a package against a pinned signer lives in
:mod:`akashi.store.package_check` (re-exported here).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from akashi.db.base import utcnow
from akashi.errors import IntegrityError
from akashi.store.checkpoint_package import checkpoint_files
from akashi.store.keys import InstallationKeys, public_key_fingerprint
from akashi.store.package_check import (
    MANIFEST,
    MANIFEST_SIG,
    PUBLIC_KEY,
    SUMS,
    SUMS_SIG,
    CheckLine,
    CheckReport,
    PackageProblem,
    Pin,
    check_package,
)

if TYPE_CHECKING:
    from akashi.store.evidence import EvidenceStore

FORMAT = "akashi-evidence-package/1"
README = "README.txt"
__all__ = [
    "CheckLine",
    "CheckReport",
    "Derived",
    "PackageProblem",
    "Pin",
    "check_package",
    "public_key_fingerprint",
    "write_package",
]

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
     Akashi では / with Akashi:  akashi export check package.zip --fingerprint SHA256:<この値 / that value>
  5. 外部チェックポイント（checkpoint/ フォルダ）/ the external checkpoint (checkpoint/ folder):
       openssl pkeyutl -verify -pubin -inkey public_key.pem -rawin -in checkpoint/<名前>.json -sigfile checkpoint/<名前>.sig
       openssl ts -verify -in checkpoint/<名前>.tsr -data checkpoint/<名前>.json -CAfile checkpoint/tsa-ca.pem
     2 行目は時刻認証局（TSA）がその時刻にこのチェックポイントを見たことを示します（"Verification: OK"）。
     tsa-ca.pem のルート証明書は TSA が公表するものと比べてください。ledger-entries.json の各記録が
     このチェックポイント以前であることは akashi export check が確かめます。
     The second line shows that the time-stamping authority saw this checkpoint at its time
     ("Verification: OK"); compare the root in tsa-ca.pem with the one the TSA publishes.
     akashi export check also checks that each entry of ledger-entries.json precedes the checkpoint.

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


def write_package(  # noqa: PLR0915 - writes the package's files in their documented order
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

    It carries the newest checkpoint covering its objects, with its TSA token (``checkpoint/``).

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
            # The newest checkpoint covering these objects, with its TSA token (checkpoint_package.py).
            for cp_name, cp_data in checkpoint_files(store, [oid for _, oid in media]):
                add_bytes(zf, cp_name, cp_data)
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
