"""A forged evidence package, re-signed with a fresh key, is refused by ``akashi export check``.

The forger takes a real package from ``akashi export call``, silences the recording, changes the
caller in ``metadata.json``, recomputes ``SHA256SUMS`` and ``manifest.json``, signs both with a new
Ed25519 key and puts that key in ``public_key.pem``. Every signature and hash inside the package is
then consistent (the README's openssl and sha256sum steps pass): only the signer's fingerprint,
compared with a pinned key, tells it apart.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import struct
import subprocess
import sys
import wave
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.conftest import make_home, require_binary

AKASHI = [sys.executable, "-m", "akashi.cli.main"]
NOT_VERIFIED = "署名者未確認 / signer not verified"


def akashi(
    *args: str, home: Path | None, cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The real ``akashi`` executable; without ``home`` it runs where no installation exists."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKASHI_")}
    where = ["--home", str(home)] if home is not None else []
    return subprocess.run(
        [*AKASHI, *where, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def ok(proc: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def make_wav(path: Path, seconds: float = 1.0, rate: int = 8000) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(
            b"".join(
                struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
                for i in range(int(seconds * rate))
            )
        )


def openssl_fingerprint(openssl: str, pem: bytes, tmp: Path) -> str:
    """README step 4: ``openssl pkey -pubin -in public_key.pem -outform DER | sha256sum``."""
    (tmp / "key.pem").write_bytes(pem)
    der = subprocess.run(
        ["timeout", "30", openssl, "pkey", "-pubin", "-in", "key.pem", "-outform", "DER"],
        cwd=tmp,
        capture_output=True,
        check=True,
    ).stdout
    return hashlib.sha256(der).hexdigest()


def _drop_checkpoint(members: dict[str, bytes], manifest: dict[str, Any]) -> None:
    """The checkpoint cannot be forged to match (its TSA token fixes the ledger head): the forger drops it."""
    for name in [n for n in members if n.startswith("checkpoint/")]:
        del members[name]
    manifest["files"] = [f for f in manifest["files"] if not f["name"].startswith("checkpoint/")]


def forge(genuine: Path, forged: Path) -> bytes:
    """What a forger does with a real package; returns the forger's public key (PEM)."""
    with zipfile.ZipFile(genuine) as zf:
        # An external checkpoint (TSA-stamped, signed by the real key) cannot be forged: it goes.
        members = {n: zf.read(n) for n in zf.namelist() if not n.startswith("checkpoint/")}
    manifest = json.loads(members["manifest.json"])
    manifest["files"] = [f for f in manifest["files"] if f["name"] in members]
    # The recording: same format and length, nothing said.
    media = next(n for n in members if n.startswith("media/"))
    silent = io.BytesIO()
    with wave.open(io.BytesIO(members[media])) as r, wave.open(silent, "wb") as w:
        w.setparams(r.getparams())
        w.writeframes(b"\0" * (r.getnframes() * r.getsampwidth() * r.getnchannels()))
    assert len(silent.getvalue()) == len(members[media])
    members[media] = silent.getvalue()
    meta = json.loads(members["metadata.json"])
    meta["call"]["caller"] = "0000000000"
    members["metadata.json"] = json.dumps(meta, ensure_ascii=False, indent=2).encode()
    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    members["public_key.pem"] = pem
    _drop_checkpoint(members, manifest)
    files = [f for f in manifest["files"] if f["name"] != "SHA256SUMS"]
    for f in files:
        f["sha256"] = hashlib.sha256(members[f["name"]]).hexdigest()
        f["size"] = len(members[f["name"]])
    sums = "".join(f"{f['sha256']}  {f['name']}\n" for f in files).encode()
    members["SHA256SUMS"] = sums
    members["SHA256SUMS.sig"] = key.sign(sums)
    files.append({"name": "SHA256SUMS", "sha256": hashlib.sha256(sums).hexdigest(), "size": len(sums)})
    manifest["files"] = files
    manifest["public_key_sha256"] = hashlib.sha256(der).hexdigest()
    body = json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True).encode() + b"\n"
    members["manifest.json"] = body
    members["manifest.sig"] = key.sign(body)
    with zipfile.ZipFile(forged, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return pem


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A real call exported with ``akashi export call``, and its forgery.

    Built once for the module (an init and three ``akashi`` runs): every test only reads the packages and checks
    them, on the installation or away from it, and none changes the installation.
    """
    tmp_path = tmp_path_factory.mktemp("forged")
    home = make_home(tmp_path / "home", f"sqlite:///{tmp_path / 'akashi.db'}")
    ok(akashi("user", "add", "kanri", "--role", "manager", "--site", "tokyo", "--password-stdin", home=home, cwd=tmp_path,
              stdin="a-long-password\n"))  # fmt: skip
    make_wav(tmp_path / "call.wav")
    out = ok(akashi("import", "call", str(tmp_path / "call.wav"), "--caller", "0312345678", "--site", "tokyo", "--json",
                    home=home, cwd=tmp_path))  # fmt: skip
    call_id = json.loads(out.stdout)["id"]
    genuine = tmp_path / "genuine.zip"
    ok(
        akashi(
            "export", "call", str(call_id), "--out", str(genuine), "--as", "kanri", home=home, cwd=tmp_path
        )
    )
    forged = tmp_path / "forged.zip"
    forged_pem = forge(genuine, forged)
    outside = tmp_path / "elsewhere"  # a lawyer's machine: no Akashi home here
    outside.mkdir()
    return {
        "home": home,
        "genuine": genuine,
        "forged": forged,
        "real_pem": home / "keys" / "signing.pub",
        "forged_pem": forged_pem,
        "outside": outside,
    }


def test_forged_package_is_consistent_so_only_a_pinned_key_can_tell(
    packages: dict[str, Any], tmp_path: Path
) -> None:
    openssl, sha256sum = require_binary("openssl"), require_binary("sha256sum")
    unpacked = tmp_path / "forged-unpacked"
    with zipfile.ZipFile(packages["forged"]) as zf:
        zf.extractall(unpacked)
        media = [n for n in zf.namelist() if n.startswith("media/")]
        assert media and all(zf.read(n)[-1000:] == b"\0" * 1000 for n in media)  # silenced
        assert json.loads(zf.read("metadata.json"))["call"]["caller"] == "0000000000"
    # The README's steps 2 and 3 pass on the forgery: it is self-consistent.
    for signed, sig in (("SHA256SUMS", "SHA256SUMS.sig"), ("manifest.json", "manifest.sig")):
        r = subprocess.run(["timeout", "30", openssl, "pkeyutl", "-verify", "-pubin", "-inkey", "public_key.pem",
                            "-rawin", "-in", signed, "-sigfile", sig], cwd=unpacked, capture_output=True, text=True, check=False)  # fmt: skip
        assert r.returncode == 0 and "Signature Verified Successfully" in r.stdout, r.stdout + r.stderr
    r = subprocess.run(
        ["timeout", "30", sha256sum, "-c", "SHA256SUMS"],
        cwd=unpacked,
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stdout
    # Step 4 tells it apart: the fingerprint is not the installation's.
    real = openssl_fingerprint(openssl, packages["real_pem"].read_bytes(), tmp_path)
    fake = openssl_fingerprint(openssl, (unpacked / "public_key.pem").read_bytes(), tmp_path)
    assert real != fake
    # Without a pin, Akashi too finds no file altered, and says the signer is not verified (exit 2;
    # only a missing external checkpoint, where the installation takes them, may make it NG).
    r = akashi("export", "check", str(packages["forged"]), home=None, cwd=packages["outside"])
    assert NOT_VERIFIED in r.stdout and f"SHA256:{fake}" in r.stdout
    ng = [line for line in r.stdout.splitlines() if line.startswith("NG  ")]
    assert all(line.startswith("NG  checkpoint") for line in ng), r.stdout
    assert r.returncode == (1 if ng else 2), r.stdout + r.stderr


def test_forged_package_fails_on_the_installation(packages: dict[str, Any]) -> None:
    r = akashi("export", "check", str(packages["forged"]), home=packages["home"], cwd=packages["outside"])
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    signer = [line for line in lines if line.startswith("NG  public_key.pem") and "signer" in line]
    assert signer, r.stdout
    fake = (
        "SHA256:"
        + hashlib.sha256(
            serialization.load_pem_public_key(packages["forged_pem"]).public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ).hexdigest()
    )
    assert fake in signer[0] and "this installation's signing key" in signer[0], signer
    assert lines[-1].startswith("結果 / Result: NG")
    # Every other check passed: the forgery is consistent, and the report says so line by line.
    assert any(line.startswith("OK  manifest.sig") for line in lines)
    assert any(line.startswith("OK  metadata.json") for line in lines)
    assert "CheckReport(" not in r.stdout and "PackageProblem(" not in r.stdout
    # Checking changed nothing: the installation still verifies, the package is as it was.
    assert akashi("verify", home=packages["home"], cwd=packages["outside"]).returncode == 0


def test_forged_package_fails_against_the_published_fingerprint(
    packages: dict[str, Any], tmp_path: Path
) -> None:
    openssl = require_binary("openssl")
    real = openssl_fingerprint(openssl, packages["real_pem"].read_bytes(), tmp_path)
    for given in (f"SHA256:{real}", real.upper(), ":".join(real[i : i + 2] for i in range(0, 64, 2))):
        r = akashi("export", "check", str(packages["forged"]), "--fingerprint", given, home=None,
                   cwd=packages["outside"])  # fmt: skip
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"SHA256:{real}" in r.stdout and "NG  public_key.pem" in r.stdout
        # The genuine package passes against the same fingerprint, given the same way.
        g = akashi("export", "check", str(packages["genuine"]), "--fingerprint", given, home=None,
                   cwd=packages["outside"])  # fmt: skip
        assert g.returncode == 0, g.stdout + g.stderr
    # A fingerprint in another form (OpenSSH's base64) is refused, not silently ignored.
    r = akashi("export", "check", str(packages["genuine"]), "--fingerprint", "SHA256:" + "A" * 43,
               home=None, cwd=packages["outside"])  # fmt: skip
    assert r.returncode == 2 and "--fingerprint" in r.stderr and "OK" not in r.stdout


def test_genuine_package_with_its_public_key_and_without_a_pin(packages: dict[str, Any]) -> None:
    r = akashi("export", "check", str(packages["genuine"]), "--public-key", str(packages["real_pem"]),
               home=None, cwd=packages["outside"])  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-1].startswith("結果 / Result: OK")
    # (No TSA is configured here: the checkpoint's missing time stamp is said, as "??", not failed.)
    lines = [x for x in r.stdout.splitlines()[1:-1] if not x.startswith("??  checkpoint/")]
    assert all(line.startswith("OK  ") for line in lines), r.stdout
    # The forged package against the real key: NG.
    r = akashi("export", "check", str(packages["forged"]), "--public-key", str(packages["real_pem"]),
               home=None, cwd=packages["outside"])  # fmt: skip
    assert r.returncode == 1 and "NG  public_key.pem" in r.stdout
    # No pin, no home: integrity is checked, then exit 2 with the package key's fingerprint.
    r = akashi("export", "check", str(packages["genuine"]), home=None, cwd=packages["outside"])
    assert r.returncode == 2, r.stdout + r.stderr
    real = serialization.load_pem_public_key(packages["real_pem"].read_bytes()).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert f"SHA256:{hashlib.sha256(real).hexdigest()}" in r.stdout and NOT_VERIFIED in r.stdout
    # On the installation itself the genuine package is OK without any option.
    assert (
        akashi(
            "export", "check", str(packages["genuine"]), home=packages["home"], cwd=packages["outside"]
        ).returncode
        == 0
    )


def test_json_report_shape(packages: dict[str, Any]) -> None:
    r = akashi(
        "export", "check", str(packages["forged"]), "--json", home=packages["home"], cwd=packages["outside"]
    )
    assert r.returncode == 1
    data = json.loads(r.stdout)
    assert data["format"] == "akashi-package-check/1" and data["package"] == "forged.zip"
    assert data["verdict"] == "NG" and data["ok"] is False and data["exit_code"] == 1
    assert data["signer"]["verified"] is False and data["signer"]["fingerprint"].startswith("SHA256:")
    assert [p["source"] for p in data["signer"]["pinned"]] == ["installation"]
    assert data["signer"]["pinned"][0]["fingerprint"] != data["signer"]["fingerprint"]
    statuses = {(c["check"], c["file"]): c["status"] for c in data["checks"]}
    assert statuses[("signer", "public_key.pem")] == "ng"
    assert statuses[("signature", "manifest.sig")] == "ok" and statuses[("sums", "SHA256SUMS")] == "ok"
    assert all(set(c) == {"check", "file", "status", "ja", "en"} for c in data["checks"])
    assert [p["file"] for p in data["problems"]] == ["public_key.pem"]
    assert data["files_checked"] == sum(1 for c in data["checks"] if c["check"] == "file")
    g = akashi("export", "check", str(packages["genuine"]), "--json", home=None, cwd=packages["outside"])
    unverified = json.loads(g.stdout)
    assert g.returncode == 2 and unverified["verdict"] == "UNVERIFIED" and unverified["exit_code"] == 2
    assert unverified["signer"]["pinned"] == [] and unverified["problems"] == []
