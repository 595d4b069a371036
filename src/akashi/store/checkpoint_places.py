"""Where checkpoints are written: the home (always), the evidence bucket, and an optional remote copy.

A checkpoint is three files with one base name: ``<name>.json`` (the signed body), ``<name>.sig``
(raw Ed25519 signature) and ``<name>.tsr`` (the RFC 3161 response, when a TSA is configured).

* :class:`LocalPlace` -- ``<home>/checkpoints``: convenient, and rewritable by whoever holds the home.
* :class:`S3Place` -- ``<prefix>checkpoints/`` in an S3 bucket. When the bucket has Object Lock (the
  capability check of :class:`~akashi.store.backends.s3.S3Backend`), each file is written under a
  **compliance-mode** retention at least as long as the evidence's, which not even the bucket's owner
  can shorten or delete. Without Object Lock the copy is written anyway and reported as not locked.
* :class:`HttpsPlace` -- ``PUT <url>/<file>`` to an endpoint run by someone else (write-only).
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from botocore.exceptions import BotoCoreError, ClientError

from akashi.atomicfile import fsync_dir
from akashi.config import Settings
from akashi.config.core import CheckpointRemoteSettings, S3Settings
from akashi.errors import StoreError
from akashi.store.backends.s3 import S3Backend

DIR = "checkpoints"
SUFFIXES = (".json", ".sig", ".tsr")
#: The largest checkpoint file read back (a body is about 1 KiB, a TSA response a few KiB).
MAX_FILE = 256 * 1024


class Place(Protocol):
    """One place checkpoints are written to."""

    label: str
    #: Whether ``akashi verify`` can list and read it back.
    readable: bool

    @property
    def external(self) -> bool:
        """Whether its copies cannot be rewritten by this machine's owner (WORM or someone else's server)."""
        ...

    def write(self, files: dict[str, bytes]) -> None:
        """Store each ``{file name: bytes}``; raises :class:`StoreError` naming the place."""
        ...

    def names(self) -> list[str]:
        """Every file name stored here (empty for a write-only place)."""
        ...

    def read(self, name: str) -> bytes | None:
        """A stored file, None when absent."""
        ...


class LocalPlace:
    """``<home>/checkpoints``: written atomically, read by ``verify`` and by the export writer."""

    readable = True
    external = False

    def __init__(self, root: Path) -> None:
        self.root = root
        self.label = "local"

    def write(self, files: dict[str, bytes]) -> None:
        """Write each file via a temporary name, fsynced; never replaces an existing checkpoint file."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name, data in files.items():
            final = self.root / name
            tmp = self.root / f".{name}.tmp"
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            if final.exists():
                tmp.unlink()
                raise StoreError(
                    f"チェックポイントが既にあります: {final}", f"checkpoint file already exists: {final}"
                )
            os.replace(tmp, final)
        fsync_dir(self.root)

    def names(self) -> list[str]:
        """File names in the folder."""
        try:
            return sorted(p.name for p in self.root.iterdir() if p.is_file() and not p.name.startswith("."))
        except FileNotFoundError:
            return []

    def read(self, name: str) -> bytes | None:
        """File contents, None when absent or too large to be ours."""
        path = self.root / name
        try:
            if path.stat().st_size > MAX_FILE:
                return None
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None


def _longest_retention_days(settings: Settings) -> int:
    return max(settings.retention.calls_days, settings.camera_policy.retain_days)


class S3Place:
    """``<prefix>checkpoints/`` in a bucket; compliance-mode Object Lock where the bucket has it."""

    readable = True

    def __init__(self, cfg: S3Settings, spool_dir: Path, retain_days: int, label: str) -> None:
        self._backend = S3Backend(cfg, spool_dir)
        self.bucket = cfg.bucket
        self.prefix = cfg.prefix + DIR + "/"
        self.retain_days = retain_days
        self.label = label

    @property
    def external(self) -> bool:
        """True when the bucket has Object Lock (checked once): its copies cannot be deleted or replaced."""
        try:
            return self._backend.object_lock_enabled()
        except StoreError:
            return False

    def write(self, files: dict[str, bytes]) -> None:
        """Put each file; under Object Lock in COMPLIANCE mode until now + the longest evidence retention."""
        extra: dict[str, object] = {}
        if self.external:
            extra["ObjectLockMode"] = "COMPLIANCE"
            extra["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(days=self.retain_days + 1)
        client = self._backend.client
        for name, data in files.items():
            try:
                client.put_object(
                    Bucket=self.bucket,
                    Key=self.prefix + name,
                    Body=data,
                    ContentType="application/octet-stream",
                    **extra,
                )
            except (BotoCoreError, ClientError) as err:
                raise self._backend._fail(err, f"checkpoint {name}") from err

    def names(self) -> list[str]:
        """Every file name under ``checkpoints/``."""
        out: list[str] = []
        try:
            pages = self._backend.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            for page in pages:
                out.extend(str(item["Key"])[len(self.prefix) :] for item in page.get("Contents", []))
        except (BotoCoreError, ClientError) as err:
            raise self._backend._fail(err, "list checkpoints") from err
        return sorted(n for n in out if "/" not in n)

    def read(self, name: str) -> bytes | None:
        """One file, None when absent."""
        try:
            resp = self._backend.client.get_object(Bucket=self.bucket, Key=self.prefix + name)
            if int(resp.get("ContentLength", 0)) > MAX_FILE:
                return None
            return bytes(resp["Body"].read())
        except ClientError as err:
            if str(err.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._backend._fail(err, f"read checkpoint {name}") from err
        except BotoCoreError as err:
            raise self._backend._fail(err, f"read checkpoint {name}") from err

    def close(self) -> None:
        """Close the connection pool."""
        self._backend.close()


class HttpsPlace:
    """``PUT <url>/<file>`` to an endpoint outside this machine (write-only)."""

    readable = False
    external = True

    def __init__(self, cfg: CheckpointRemoteSettings) -> None:
        self.url = cfg.url.rstrip("/")
        self._token = cfg.token.get_secret_value()
        self.timeout_s = cfg.timeout_s
        self.label = f"https:{self.url}"

    def write(self, files: dict[str, bytes]) -> None:
        """PUT each file; any answer but 2xx is an error naming the status (never the token)."""
        for name, data in files.items():
            headers = {"Content-Type": "application/octet-stream"}
            if self._token:
                headers["Authorization"] = f"Bearer {self._token}"
            req = urllib.request.Request(  # noqa: S310 (scheme validated by the settings)
                f"{self.url}/{name}", data=data, method="PUT", headers=headers
            )
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310
                    resp.read(1024)
            except urllib.error.HTTPError as err:
                raise StoreError(
                    f"チェックポイントの送信先が HTTP {err.code} を返しました（{self.url}）",
                    f"the checkpoint endpoint answered HTTP {err.code} ({self.url})",
                ) from None
            except (urllib.error.URLError, OSError) as err:
                reason = getattr(err, "reason", err)
                raise StoreError(
                    f"チェックポイントの送信先に接続できません（{self.url}）: {reason}",
                    f"cannot reach the checkpoint endpoint ({self.url}): {reason}",
                ) from None

    def names(self) -> list[str]:
        """Nothing: this place is write-only."""
        return []

    def read(self, name: str) -> bytes | None:
        """Nothing: this place is write-only."""
        return None


def places(settings: Settings) -> list[Place]:
    """The home folder, then the evidence bucket (when the store is S3), then the remote copy."""
    out: list[Place] = [LocalPlace(settings.home / DIR)]
    retain = _longest_retention_days(settings)
    spool = settings.spool_path / "uploads"
    if settings.store.backend == "s3" and settings.store.s3 is not None:
        out.append(S3Place(settings.store.s3, spool, retain, "s3:" + settings.store.s3.bucket))
    remote = settings.store.checkpoint_remote
    if remote is not None:
        if remote.kind == "s3" and remote.s3 is not None:
            out.append(S3Place(remote.s3, spool, retain, "remote-s3:" + remote.s3.bucket))
        elif remote.kind == "https":
            out.append(HttpsPlace(remote))
    return out


def close_places(found: list[Place]) -> None:
    """Release the connection pools of S3 places."""
    for p in found:
        if isinstance(p, S3Place):
            p.close()
