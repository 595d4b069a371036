"""Two-factor codes (TOTP): secrets sealed under the installation key, each code usable once."""

from __future__ import annotations

import hmac
import os
import time

import pyotp
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from akashi.config import Settings
from akashi.store.keys import load_keys

_PREFIX = "s1:"
_AAD = b"akashi totp secret"
STEP_S = 30


def _key(settings: Settings) -> bytes:
    kek = load_keys(settings.keys_path).kek
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"akashi totp v1").derive(kek)


def seal_secret(settings: Settings, secret: str) -> str:
    """Encrypt a TOTP secret for the ``users`` table (AES-256-GCM, key derived from the KEK)."""
    nonce = os.urandom(12)
    return _PREFIX + (nonce + AESGCM(_key(settings)).encrypt(nonce, secret.encode(), _AAD)).hex()


def open_secret(settings: Settings, stored: str) -> str:
    """The TOTP secret of a ``users`` row (rows from before sealing hold it in clear)."""
    if not stored.startswith(_PREFIX):
        return stored
    raw = bytes.fromhex(stored[len(_PREFIX) :])
    return AESGCM(_key(settings)).decrypt(raw[:12], raw[12:], _AAD).decode()


def matching_step(secret: str, code: str, last_step: int | None, now: float | None = None) -> int | None:
    """The time step whose code is ``code`` (±1 step of drift), if newer than ``last_step``.

    Returning the step lets the caller remember it, so the same code cannot log in twice.
    """
    code = code.strip()
    if not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    t = time.time() if now is None else now
    here = int(t // STEP_S)
    for step in (here, here - 1, here + 1):
        if hmac.compare_digest(totp.at(step * STEP_S), code) and (last_step is None or step > last_step):
            return step
    return None
