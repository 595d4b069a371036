"""Installation keys: the key-encryption key (wraps each object's data key) and the Ed25519 signing key.

Files live in ``<home>/keys`` (mode 0700), each mode 0600. Their contents are never logged.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from akashi.errors import StoreError

KEK_FILE = "installation.key"
SIGNING_FILE = "signing.key"
PUBLIC_FILE = "signing.pub"
_KEK_MAGIC = b"AKASHI-KEK1\n"


@dataclass(frozen=True, repr=False)
class InstallationKeys:
    """The loaded keys. ``repr`` shows only the key id."""

    kek: bytes
    signing: Ed25519PrivateKey

    @property
    def key_id(self) -> str:
        """A short public identifier of the key-encryption key (hash, not the key)."""
        return hashlib.sha256(b"akashi-key-id" + self.kek).hexdigest()[:16]

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The signing key's public half."""
        return self.signing.public_key()

    def public_pem(self) -> bytes:
        """The signing public key as PEM (goes into every evidence package)."""
        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def __repr__(self) -> str:
        return f"InstallationKeys(key_id={self.key_id})"


def _write_secret(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def ensure_keys(keys_path: Path) -> bool:
    """Create the keys if absent. Returns True when new keys were made. Never overwrites a key."""
    keys_path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(keys_path, 0o700)
    made = False
    kek_file = keys_path / KEK_FILE
    if not kek_file.exists():
        kek = secrets.token_bytes(32)
        check = hashlib.sha256(kek).digest()[:4]
        _write_secret(kek_file, _KEK_MAGIC + (kek + check).hex().encode() + b"\n")
        made = True
    sig_file = keys_path / SIGNING_FILE
    if not sig_file.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_secret(sig_file, pem)
        (keys_path / PUBLIC_FILE).write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        made = True
    return made


def load_keys(keys_path: Path) -> InstallationKeys:
    """Load and check the keys; a missing or corrupt file is a clear :class:`StoreError`."""
    kek_file = keys_path / KEK_FILE
    try:
        raw = kek_file.read_bytes()
    except FileNotFoundError:
        raise StoreError(
            f"鍵ファイルがありません: {kek_file}（akashi init を実行してください）",
            f"key file missing: {kek_file} (run akashi init)",
        ) from None
    try:
        if not raw.startswith(_KEK_MAGIC):
            raise ValueError("bad header")
        blob = bytes.fromhex(raw[len(_KEK_MAGIC) :].strip().decode("ascii"))
        kek, check = blob[:32], blob[32:]
        if len(kek) != 32 or hashlib.sha256(kek).digest()[:4] != check:
            raise ValueError("checksum")
    except (ValueError, UnicodeDecodeError):
        raise StoreError(
            f"鍵ファイルが壊れています: {kek_file}（バックアップから戻してください）",
            f"key file is corrupt: {kek_file} (restore it from your backup)",
        ) from None
    sig_file = keys_path / SIGNING_FILE
    try:
        signing = serialization.load_pem_private_key(sig_file.read_bytes(), password=None)
    except FileNotFoundError:
        raise StoreError(f"署名鍵がありません: {sig_file}", f"signing key missing: {sig_file}") from None
    except ValueError:
        raise StoreError(f"署名鍵が壊れています: {sig_file}", f"signing key is corrupt: {sig_file}") from None
    if not isinstance(signing, Ed25519PrivateKey):
        raise StoreError(f"署名鍵の種類が違います: {sig_file}", f"signing key is not Ed25519: {sig_file}")
    return InstallationKeys(kek=kek, signing=signing)


def installation_public_pem(keys_path: Path) -> bytes | None:
    """The installation's signing public key (PEM), or None where there is no readable key.

    Derived from the private key when it can be read (so a swapped ``signing.pub`` cannot pin
    another signer), else read from ``signing.pub``.
    """
    try:
        private = serialization.load_pem_private_key((keys_path / SIGNING_FILE).read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        private = None
    if isinstance(private, Ed25519PrivateKey):
        return private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    try:
        pem = (keys_path / PUBLIC_FILE).read_bytes()
        key = serialization.load_pem_public_key(pem)
    except (OSError, ValueError):
        return None
    return pem if isinstance(key, Ed25519PublicKey) else None


def public_key_fingerprint(pem: bytes) -> str:
    """SHA-256 of the DER SubjectPublicKeyInfo (what ``openssl pkey -outform DER | sha256sum`` prints)."""
    key = serialization.load_pem_public_key(pem)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()
