"""Evidence packages: written from the store, checked by our code and by openssl + sha256sum."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from akashi.errors import IntegrityError
from akashi.store.evidence import EvidenceStore
from akashi.store.export import check_package, public_key_fingerprint, write_package
from tests.conftest import require_binary
from tests.store.helpers import WatchedStream

AUDIT = [{"seq": 1, "user": "admin", "action": "play", "target": "call:7", "outcome": "ok"}]
META = {"call_id": 7, "caller": "0312345678", "agent": "佐藤", "started_at": "2026-11-29T10:00:00+00:00"}


def make_package(store: EvidenceStore, tmp_path: Path, data: bytes | None = None) -> tuple[Path, bytes]:
    data = data if data is not None else os.urandom(200_000)
    oid = store.put(
        io.BytesIO(data), kind="call_audio", media_type="audio/wav", filename="call.wav"
    ).object_id
    out = write_package(tmp_path / "call-7.zip", keys=store.keys, store=store, media=[("call-7.wav", oid)],
                        metadata=META, audit=AUDIT)  # fmt: skip
    return out, data


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a standard tool, bounded in time."""
    return subprocess.run(["timeout", "30", *args], cwd=cwd, capture_output=True, text=True, check=False)


def rewrite(
    src: Path, dst: Path, change: dict[str, bytes | None], add: dict[str, bytes] | None = None
) -> None:
    """Copy a ZIP, replacing (or dropping, with None) some members: what a forger would do."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            if item.filename in change:
                if change[item.filename] is not None:
                    zout.writestr(item.filename, change[item.filename])  # type: ignore[arg-type]
            else:
                zout.writestr(item, zin.read(item.filename))
        for name, body in (add or {}).items():
            zout.writestr(name, body)


def test_package_round_trip(sqlite_store: EvidenceStore, tmp_path: Path) -> None:
    pkg, data = make_package(sqlite_store, tmp_path)
    with zipfile.ZipFile(pkg) as zf:
        assert zf.read("media/call-7.wav") == data
        names = set(zf.namelist())
    assert {"metadata.json", "audit.json", "manifest.json", "manifest.sig", "public_key.pem", "README.txt",
            "SHA256SUMS", "SHA256SUMS.sig"} <= names  # fmt: skip
    report = check_package(pkg, trusted_public_key=sqlite_store.keys.public_pem())
    assert report.ok, report.to_text()
    assert report.files_checked == 9  # 6 + checkpoint/<name>.json, .sig and ledger-entries.json (no TSA here)
    assert report.manifest["public_key_sha256"] == public_key_fingerprint(sqlite_store.keys.public_pem())
    assert not (tmp_path / "call-7.zip.part").exists()


def test_package_checks_with_standard_tools(sqlite_store: EvidenceStore, tmp_path: Path) -> None:
    openssl, sha256sum = require_binary("openssl"), require_binary("sha256sum")
    pkg, _ = make_package(sqlite_store, tmp_path)
    out = tmp_path / "unpacked"
    with zipfile.ZipFile(pkg) as zf:
        zf.extractall(out)
    for signed, sig in (("SHA256SUMS", "SHA256SUMS.sig"), ("manifest.json", "manifest.sig")):
        r = run(out, openssl, "pkeyutl", "-verify", "-pubin", "-inkey", "public_key.pem", "-rawin",
                "-in", signed, "-sigfile", sig)  # fmt: skip
        assert r.returncode == 0 and "Signature Verified Successfully" in r.stdout, r.stdout + r.stderr
    r = run(out, sha256sum, "-c", "SHA256SUMS")
    assert r.returncode == 0 and r.stdout.count(": OK") == 8, r.stdout  # 5 + the checkpoint's 3 files
    der = subprocess.run(
        ["timeout", "30", openssl, "pkey", "-pubin", "-in", "public_key.pem", "-outform", "DER"],
        cwd=out, capture_output=True, check=True,
    ).stdout  # fmt: skip
    assert hashlib.sha256(der).hexdigest() == public_key_fingerprint((out / "public_key.pem").read_bytes())
    # And the tools notice a change: one byte of the media.
    media = out / "media" / "call-7.wav"
    blob = bytearray(media.read_bytes())
    blob[100] ^= 1
    media.write_bytes(blob)
    r = run(out, sha256sum, "-c", "SHA256SUMS")
    assert r.returncode != 0 and "media/call-7.wav: FAILED" in r.stdout


@pytest.mark.filterwarnings("ignore:Duplicate name")  # the forger's second entry
@pytest.mark.parametrize(
    "what", ["media", "metadata", "audit", "dropped", "added", "manifest", "key", "bytes", "duplicate"]
)
def test_tampered_package_is_named(sqlite_store: EvidenceStore, tmp_path: Path, what: str) -> None:
    pkg, data = make_package(sqlite_store, tmp_path)
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(pkg) as zf:
        manifest = zf.read("manifest.json")
    if what == "media":
        rewrite(pkg, bad, {"media/call-7.wav": data[:-1] + bytes([data[-1] ^ 1])})
        expect = "media/call-7.wav"
    elif what == "metadata":
        rewrite(pkg, bad, {"metadata.json": b'{"call_id": 8}'})
        expect = "metadata.json"
    elif what == "audit":
        rewrite(pkg, bad, {"audit.json": b"[]"})
        expect = "audit.json"
    elif what == "dropped":
        rewrite(pkg, bad, {"audit.json": None})
        expect = "audit.json"
    elif what == "added":
        rewrite(pkg, bad, {}, add={"media/extra.wav": b"RIFF"})
        expect = "media/extra.wav"
    elif what == "manifest":
        rewrite(pkg, bad, {"manifest.json": manifest.replace(b'"size": 200000', b'"size": 200001')})
        expect = "manifest.sig"
    elif what == "key":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        other = Ed25519PrivateKey.generate()
        pem = other.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        rewrite(pkg, bad, {"public_key.pem": pem, "manifest.sig": other.sign(manifest)})
        expect = "public_key.pem"
    elif what == "duplicate":  # a second entry of the same name: extractors take the last one
        rewrite(pkg, bad, {}, add={"media/call-7.wav": b"RIFF forged"})
        expect = "media/call-7.wav"
    else:  # a flipped byte inside the stored ZIP member, CRC and all
        shutil.copy(pkg, bad)
        raw = bytearray(bad.read_bytes())
        at = raw.find(data[5000:5032])
        raw[at] ^= 0xFF
        bad.write_bytes(raw)
        expect = "media/call-7.wav"
    report = check_package(bad, trusted_public_key=sqlite_store.keys.public_pem())
    assert not report.ok
    assert expect in {p.file for p in report.problems}, report.to_text()
    assert expect in report.to_text() and expect in report.to_json()


def test_tampered_evidence_is_never_packaged(sqlite_store: EvidenceStore, tmp_path: Path) -> None:
    oid = sqlite_store.put(io.BytesIO(b"x" * 5000), kind="call_audio", media_type="audio/wav").object_id
    path = sqlite_store.settings.evidence_path / oid[:2] / f"{oid}.akev"
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 1
    path.write_bytes(blob)
    with pytest.raises(IntegrityError, match=oid):
        write_package(tmp_path / "p.zip", keys=sqlite_store.keys, store=sqlite_store, media=[("a.wav", oid)],
                      metadata={}, audit=[])  # fmt: skip
    assert not (tmp_path / "p.zip").exists() and not (tmp_path / "p.zip.part").exists()


def test_large_media_is_streamed(sqlite_store: EvidenceStore, tmp_path: Path) -> None:
    res = sqlite_store.put(WatchedStream(6 * 1024 * 1024 + 1), kind="camera_segment", media_type="video/mp4")
    out = write_package(tmp_path / "big.zip", keys=sqlite_store.keys, store=sqlite_store,
                        media=[("cam.mp4", res.object_id)], metadata={}, audit=[])  # fmt: skip
    assert check_package(out).ok


def test_unsafe_names_and_not_a_zip(sqlite_store: EvidenceStore, tmp_path: Path) -> None:
    oid = sqlite_store.put(io.BytesIO(b"x"), kind="k", media_type="x").object_id
    for name in ("../evil.wav", "/abs.wav", ""):
        with pytest.raises(ValueError):
            write_package(tmp_path / "p.zip", keys=sqlite_store.keys, store=sqlite_store, media=[(name, oid)],
                          metadata={}, audit=[])  # fmt: skip
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    report = check_package(junk)
    assert not report.ok and report.problems[0].file == "junk.zip"
