"""S3-compatible backend (AWS S3, MinIO, Wasabi, Ceph, ``rclone serve s3``) through boto3.

New objects are uploaded from the local spool (see :mod:`akashi.store.spool`): large ones as
multipart uploads. Object Lock is used only when the bucket reports it enabled
(``GetObjectLockConfiguration``): then each object carries its retention date (mode from config)
and legal holds are mirrored onto it. Buckets without Object Lock -- ``rclone serve s3`` among
them -- get neither, and the ledger alone records holds. The tests exercise the Object Lock path
against ``moto_server`` (an S3 emulator that implements retention, legal hold and versioned
deletes), not against a real AWS or MinIO WORM bucket. A retention date already past is not sent
(S3 refuses one), and retention deletion removes every version of an object.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from akashi.config.core import S3Settings
from akashi.errors import StoreError
from akashi.store.backends.base import BackendUnavailable

MiB = 1024 * 1024
LOCK_MARGIN = timedelta(minutes=1)
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_NO_LOCK = {
    "ObjectLockConfigurationNotFoundError",
    "NotImplemented",
    "501",
    "MethodNotAllowed",
    "InvalidRequest",
    "AccessDenied",
}


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _status(err: ClientError) -> int:
    return int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


class S3Backend:
    """Objects in ``bucket`` under ``prefix``. Thread-safe (boto3 clients are)."""

    name = "s3"
    spools = True

    def __init__(self, cfg: S3Settings, spool_dir: Path) -> None:
        self.cfg = cfg
        self.bucket = cfg.bucket
        self.prefix = cfg.prefix
        self._spool_dir = spool_dir
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=cfg.endpoint_url or None,
            region_name=cfg.region,
            aws_access_key_id=cfg.access_key or None,
            aws_secret_access_key=cfg.secret_key.get_secret_value() or None,
            config=Config(
                connect_timeout=cfg.connect_timeout_s,
                read_timeout=cfg.read_timeout_s,
                retries={"max_attempts": 2, "mode": "standard"},
                # Ranged GETs: rclone sends the whole-object checksum; GCM authenticates anyway.
                response_checksum_validation="when_required",
                s3={"addressing_style": "path"} if cfg.endpoint_url else {},
            ),
        )
        self._transfer = TransferConfig(
            multipart_threshold=cfg.multipart_threshold_mb * MiB,
            multipart_chunksize=cfg.multipart_chunk_mb * MiB,
            max_concurrency=4,
        )
        self._lock_enabled: bool | None = None
        self._mutex = threading.Lock()

    # -- errors ---------------------------------------------------------------------------------
    def _fail(self, err: Exception, what: str) -> StoreError:
        """Map a boto error to BackendUnavailable (retry later) or StoreError (needs a person)."""
        where = self.describe()
        if isinstance(err, ClientError):
            status = _status(err)
            if status >= 500 or status in (408, 429):
                return BackendUnavailable(
                    f"S3 が一時的に利用できません（{what}, {where}, {_code(err)}）",
                    f"S3 temporarily unavailable ({what}, {where}, {_code(err)})",
                )
            return StoreError(
                f"S3 が要求を拒否しました（{what}, {where}, {_code(err)}）。認証情報とバケットを確認",
                f"S3 refused the request ({what}, {where}, {_code(err)}); check credentials and bucket",
            )
        return BackendUnavailable(
            f"S3 に接続できません（{what}, {where}）: {type(err).__name__}",
            f"cannot reach S3 ({what}, {where}): {type(err).__name__}",
        )

    @property
    def client(self) -> Any:
        """The boto3 S3 client (checkpoints write beside the evidence with it)."""
        return self._client

    # -- capabilities ---------------------------------------------------------------------------
    def object_lock_enabled(self) -> bool:
        """Whether the bucket has Object Lock (checked once, on first successful contact)."""
        if self.cfg.object_lock == "off":
            return False
        with self._mutex:
            if self._lock_enabled is None:
                try:
                    conf = self._client.get_object_lock_configuration(Bucket=self.bucket)
                    state = conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
                    self._lock_enabled = state == "Enabled"
                except ClientError as err:
                    if _code(err) in _NO_LOCK or _status(err) in (400, 403, 404, 405, 501):
                        self._lock_enabled = False
                    else:
                        raise self._fail(err, "object lock check") from err
                except BotoCoreError as err:
                    raise self._fail(err, "object lock check") from err
            return self._lock_enabled

    # -- Backend protocol -----------------------------------------------------------------------
    @property
    def staging_dir(self) -> Path:
        """New objects are staged in the spool and uploaded from there."""
        return self._spool_dir

    def _key(self, key: str) -> str:
        return self.prefix + key

    def commit_file(self, key: str, path: Path, *, retain_until: datetime | None, legal_hold: bool) -> None:
        """Upload ``path`` (multipart above the threshold) and delete it once the upload succeeded."""
        extra: dict[str, Any] = {"ContentType": "application/octet-stream"}
        if self.object_lock_enabled():
            # S3 refuses a retention date in the past (e.g. an old recording imported late).
            if retain_until is not None and retain_until > datetime.now(UTC) + LOCK_MARGIN:
                extra["ObjectLockMode"] = self.cfg.lock_mode
                extra["ObjectLockRetainUntilDate"] = retain_until
            if legal_hold:
                extra["ObjectLockLegalHoldStatus"] = "ON"
        try:
            self._client.upload_file(
                str(path), self.bucket, self._key(key), ExtraArgs=extra, Config=self._transfer
            )
        except (BotoCoreError, ClientError) as err:
            raise self._fail(err, f"upload {key}") from err
        except S3UploadFailedError as err:
            cause = err.__cause__ or err.__context__
            if isinstance(cause, (BotoCoreError, ClientError)):
                raise self._fail(cause, f"upload {key}") from err
            raise BackendUnavailable(
                f"S3 へのアップロードに失敗しました（{key}）: {err}", f"upload to S3 failed ({key}): {err}"
            ) from err
        path.unlink()

    def read_range(self, key: str, start: int, end: int, block: int = MiB) -> Iterator[bytes]:
        """Bytes ``[start, end)`` with a ranged GET."""
        if end <= start:
            return
        try:
            resp = self._client.get_object(
                Bucket=self.bucket, Key=self._key(key), Range=f"bytes={start}-{end - 1}"
            )
            yield from resp["Body"].iter_chunks(block)
        except ClientError as err:
            if _code(err) in _NOT_FOUND or _status(err) == 404:
                raise FileNotFoundError(key) from err
            raise self._fail(err, f"read {key}") from err
        except BotoCoreError as err:
            raise self._fail(err, f"read {key}") from err

    def size(self, key: str) -> int | None:
        """ContentLength from HEAD, None when absent."""
        try:
            return int(self._client.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"])
        except ClientError as err:
            if _code(err) in _NOT_FOUND or _status(err) == 404:
                return None
            raise self._fail(err, f"head {key}") from err
        except BotoCoreError as err:
            raise self._fail(err, f"head {key}") from err

    def delete(self, key: str) -> None:
        """Delete the object; in a versioned (Object Lock) bucket every version of it."""
        full = self._key(key)
        try:
            if self.object_lock_enabled():
                pages = self._client.get_paginator("list_object_versions").paginate(
                    Bucket=self.bucket, Prefix=full
                )
                for page in pages:
                    for v in page.get("Versions", []) + page.get("DeleteMarkers", []):
                        if v["Key"] == full:
                            self._client.delete_object(Bucket=self.bucket, Key=full, VersionId=v["VersionId"])
            else:
                self._client.delete_object(Bucket=self.bucket, Key=full)
        except (BotoCoreError, ClientError) as err:
            raise self._fail(err, f"delete {key}") from err

    def list_objects(self) -> Iterator[tuple[str, int]]:
        """Every key under the prefix with its size."""
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    rel = item["Key"][len(self.prefix) :]
                    if rel.startswith(
                        "checkpoints/"
                    ):  # signed checkpoints (store/checkpoint.py), not evidence
                        continue
                    yield rel, int(item["Size"])
        except (BotoCoreError, ClientError) as err:
            raise self._fail(err, "list") from err

    def set_legal_hold(self, key: str, on: bool) -> None:
        """Mirror a hold onto the object when the bucket has Object Lock."""
        if not self.object_lock_enabled():
            return
        try:
            self._client.put_object_legal_hold(
                Bucket=self.bucket, Key=self._key(key), LegalHold={"Status": "ON" if on else "OFF"}
            )
        except (BotoCoreError, ClientError) as err:
            raise self._fail(err, f"legal hold {key}") from err

    def describe(self) -> str:
        """Endpoint and bucket (never the keys)."""
        return f"{self.cfg.endpoint_url or 'aws'}/{self.bucket}/{self.prefix}"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()
