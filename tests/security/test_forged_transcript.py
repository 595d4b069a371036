"""A forged readable transcript in an evidence package is caught by ``akashi export check``.

The forger edits ``derived/transcript.txt`` of a real package (the threat 「晒すぞ」 and its flag line
removed, so the customer looks polite): left as is, the file's hash no longer matches SHA256SUMS; with
SHA256SUMS and the manifest recomputed and re-signed with the forger's own key, only the pinned
installation key tells it apart. Either way the check fails naming what was forged.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from akashi.access.export import export_call
from akashi.access.principal import Principal
from akashi.context import Akashi
from tests.analysis.test_transcript_package import _analysed_call
from tests.cli.test_end_to_end import run

TXT = "derived/transcript.txt"


def _members(pkg: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(pkg) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _write(members: dict[str, bytes], out: Path) -> Path:
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out


def _soften(text: bytes) -> bytes:
    lines = [ln for ln in text.decode().splitlines() if "晒すぞ" not in ln or "★" not in ln]
    out = "\n".join(lines).replace("ネットに晒すぞ。", "よろしくお願いします。").encode()
    assert out != text and "晒すぞ".encode() not in out.split("録音告知".encode())[1]
    return out


def _resign(members: dict[str, bytes]) -> None:
    """What a careful forger does next: recompute every hash and sign with a fresh key."""
    for name in [n for n in members if n.startswith("checkpoint/")]:
        del members[name]  # the TSA-stamped checkpoint cannot be re-made: it goes
    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    members["public_key.pem"] = pem
    manifest = json.loads(members["manifest.json"])
    files = [f for f in manifest["files"] if f["name"] in members and f["name"] != "SHA256SUMS"]
    for f in files:
        f["sha256"] = hashlib.sha256(members[f["name"]]).hexdigest()
        f["size"] = len(members[f["name"]])
    sums = "".join(f"{f['sha256']}  {f['name']}\n" for f in files).encode()
    members["SHA256SUMS"], members["SHA256SUMS.sig"] = sums, key.sign(sums)
    files.append({"name": "SHA256SUMS", "sha256": hashlib.sha256(sums).hexdigest(), "size": len(sums)})
    manifest["files"], manifest["public_key_sha256"] = files, hashlib.sha256(der).hexdigest()
    body = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode() + b"\n"
    members["manifest.json"], members["manifest.sig"] = body, key.sign(body)


@pytest.fixture
def genuine(sqlite_home: Path, tmp_path: Path) -> tuple[Path, Path]:
    with Akashi.open(sqlite_home) as ak:
        call_id = _analysed_call(ak, tmp_path)
        pkg = export_call(ak, Principal.system("kanri"), call_id, tmp_path / "genuine.zip")
    assert "晒すぞ" in _members(pkg)[TXT].decode()
    return sqlite_home, pkg


def test_edited_transcript_is_named(genuine: tuple[Path, Path], tmp_path: Path) -> None:
    home, pkg = genuine
    members = _members(pkg)
    members[TXT] = _soften(members[TXT])
    forged = _write(members, tmp_path / "forged.zip")
    r = run(home, "export", "check", str(forged), check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    assert any(line.startswith("NG") and TXT in line for line in r.stdout.splitlines()), r.stdout
    assert r.stdout.splitlines()[-1].startswith("結果 / Result: NG")
    assert run(home, "export", "check", str(pkg)).returncode == 0  # the genuine one is untouched
    assert run(home, "verify").returncode == 0  # checking changed nothing in the installation


def test_resigned_transcript_forgery_fails_on_the_pinned_key(
    genuine: tuple[Path, Path], tmp_path: Path
) -> None:
    home, pkg = genuine
    members = _members(pkg)
    members[TXT] = _soften(members[TXT])
    _resign(members)
    forged = _write(members, tmp_path / "resigned.zip")
    r = run(home, "export", "check", str(forged), check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert any(line.startswith("NG  public_key.pem") and "signer" in line for line in lines), r.stdout
    assert any(line.startswith("OK  manifest.sig") for line in lines)  # consistent, yet refused
    assert lines[-1].startswith("結果 / Result: NG")
