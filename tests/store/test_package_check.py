"""The package checker: fingerprints, pins, verdicts, and forgeries consistent in every other way."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from akashi.store.evidence import EvidenceStore
from akashi.store.package_check import Pin, check_package, der_fingerprint, parse_fingerprint
from tests.store.test_export import make_package

HEX = "ab" * 32


@pytest.mark.parametrize(
    "text",
    [f"SHA256:{HEX}", f"sha256:{HEX.upper()}", HEX, ":".join(["AB"] * 32), f"{HEX}  -", f"  SHA256:{HEX}\n"],
)
def test_fingerprint_forms_accepted(text: str) -> None:
    assert parse_fingerprint(text) == f"SHA256:{HEX}"


@pytest.mark.parametrize(
    "text", ["", "SHA256:", "SHA256:" + "A" * 43, "MD5:" + HEX, HEX[:-1], HEX + "00", "SHA256:" + "zz" * 32]
)
def test_fingerprint_forms_refused(text: str) -> None:
    with pytest.raises(ValueError, match="SHA-256 of the DER public key"):
        parse_fingerprint(text)


def test_verdicts_and_exit_codes(sqlite_store: EvidenceStore, tmp_path: Path) -> None:
    pkg, _ = make_package(sqlite_store, tmp_path)
    real = der_fingerprint(sqlite_store.keys.public_key)
    assert (
        real
        == "SHA256:"
        + hashlib.sha256(
            sqlite_store.keys.public_key.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ).hexdigest()
    )
    unpinned = check_package(pkg)
    assert unpinned.ok and unpinned.verdict == "UNVERIFIED" and unpinned.exit_code == 2
    assert unpinned.signer == real and "署名者未確認 / signer not verified" in unpinned.to_text()
    pinned = check_package(pkg, pins=[Pin(real, "fingerprint")])
    assert pinned.verdict == "OK" and pinned.exit_code == 0 and pinned.signer_verified
    raw = sqlite_store.keys.public_key.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert check_package(pkg, raw).verdict == "OK"  # 32 raw bytes still pin
    other = Pin(der_fingerprint(Ed25519PrivateKey.generate().public_key()), "public-key")
    wrong = check_package(pkg, pins=[other])
    assert wrong.verdict == "NG" and wrong.exit_code == 1
    assert [p.file for p in wrong.problems] == ["public_key.pem"] and real in wrong.problems[0].en
    both = check_package(pkg, pins=[Pin(real, "fingerprint"), other])  # every pin must match
    assert both.verdict == "NG"


def resign(
    pkg: Path, out: Path, edit: dict[str, bytes], manifest_edit: dict[str, object] | None = None
) -> str:
    """Replace members, re-sign SHA256SUMS and manifest.json with a fresh key inside; returns its fingerprint."""
    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with zipfile.ZipFile(pkg) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["public_key.pem"] = pem
    members.update(edit)
    manifest = json.loads(members["manifest.json"])
    for f in manifest["files"]:
        f["sha256"] = hashlib.sha256(members[f["name"]]).hexdigest()
        f["size"] = len(members[f["name"]])
    manifest["public_key_sha256"] = der_fingerprint(key.public_key()).removeprefix("SHA256:")
    manifest.update(manifest_edit or {})
    members["SHA256SUMS.sig"] = key.sign(members["SHA256SUMS"])
    members["manifest.json"] = json.dumps(manifest).encode()
    members["manifest.sig"] = key.sign(members["manifest.json"])
    with zipfile.ZipFile(out, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    return der_fingerprint(key.public_key())


def test_sha256sums_that_disagree_with_the_manifest(sqlite_store: EvidenceStore, tmp_path: Path) -> None:
    # The forger changes metadata.json and fixes the manifest, but leaves SHA256SUMS (what
    # `sha256sum -c` would check) listing the old hash: both are signed, so only the cross-check sees it.
    pkg, _ = make_package(sqlite_store, tmp_path)
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(pkg) as zf:
        sums = zf.read("SHA256SUMS")
    resign(pkg, bad, {"metadata.json": b'{"call_id": 8}', "SHA256SUMS": sums})
    report = check_package(bad)
    assert report.verdict == "NG"
    failed = {(line.check, line.file): line.en for line in report.lines if line.status == "ng"}
    assert "metadata.json" in failed[("sums", "SHA256SUMS")], report.to_text()
    assert not any(check in ("file", "signature") for check, _ in failed)  # consistent everywhere else


def test_manifest_fingerprint_must_name_the_key_inside(sqlite_store: EvidenceStore, tmp_path: Path) -> None:
    pkg, _ = make_package(sqlite_store, tmp_path)
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(pkg) as zf:
        sums = zf.read("SHA256SUMS")
    real = der_fingerprint(sqlite_store.keys.public_key).removeprefix("SHA256:")
    resign(pkg, bad, {"SHA256SUMS": sums}, {"public_key_sha256": real})  # claims the real key's fingerprint
    report = check_package(bad)
    kinds = {line.check for line in report.lines if line.status == "ng"}
    assert "key_fingerprint" in kinds and report.verdict == "NG", report.to_text()
