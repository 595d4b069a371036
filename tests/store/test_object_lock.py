"""Object Lock against an S3 server that implements it (``moto_server``): retention, legal hold, deletion.

``rclone serve s3`` has no Object Lock, so the store must detect the capability and use it only here.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from akashi.db.base import utcnow
from akashi.store.backends.base import object_key
from akashi.store.evidence import EvidenceStore
from tests.store.conftest import MotoS3, open_store

pytestmark = pytest.mark.s3
BUCKET = "akashi-worm"


def client(server: MotoS3) -> Any:
    return boto3.client(
        "s3", endpoint_url=server.url, aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )  # fmt: skip


@pytest.fixture
def worm_store(
    sqlite_home: Path, moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch
) -> Iterator[EvidenceStore]:
    client(moto_s3).create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    for k, v in {
        "AKASHI_STORE__BACKEND": "s3", "AKASHI_STORE__S3__ENDPOINT_URL": moto_s3.url,
        "AKASHI_STORE__S3__BUCKET": BUCKET, "AKASHI_STORE__S3__ACCESS_KEY": "k",
        "AKASHI_STORE__S3__SECRET_KEY": "s", "AKASHI_STORE__S3__LOCK_MODE": "GOVERNANCE",
    }.items():  # fmt: skip
        monkeypatch.setenv(k, v)
    st, engine = open_store(sqlite_home)
    yield st
    st.close()
    engine.dispose()  # type: ignore[attr-defined]


def test_retention_and_legal_hold_are_set_on_the_bucket(worm_store: EvidenceStore, moto_s3: MotoS3) -> None:
    s3 = client(moto_s3)
    assert worm_store.backend.object_lock_enabled()  # type: ignore[attr-defined]
    until = utcnow() + timedelta(days=30)
    res = worm_store.put(
        io.BytesIO(b"call audio"), kind="call_audio", media_type="audio/wav", retain_until=until
    )
    assert res.state == "stored"
    head = s3.head_object(Bucket=BUCKET, Key=object_key(res.object_id))
    assert head["ObjectLockMode"] == "GOVERNANCE"
    assert abs((head["ObjectLockRetainUntilDate"] - until).total_seconds()) < 1
    # The bucket itself now refuses to delete it before its date.
    version = s3.list_object_versions(Bucket=BUCKET)["Versions"][0]["VersionId"]
    with pytest.raises(s3.exceptions.ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=BUCKET, Key=object_key(res.object_id), VersionId=version)
    worm_store.hold(res.object_id, reason="案件 3", actor="admin")
    assert (
        s3.get_object_legal_hold(Bucket=BUCKET, Key=object_key(res.object_id))["LegalHold"]["Status"] == "ON"
    )
    worm_store.release(res.object_id, reason="closed", actor="admin")
    assert (
        s3.get_object_legal_hold(Bucket=BUCKET, Key=object_key(res.object_id))["LegalHold"]["Status"] == "OFF"
    )
    assert worm_store.verify().ok


def test_expired_objects_are_deleted_with_every_version(worm_store: EvidenceStore, moto_s3: MotoS3) -> None:
    s3 = client(moto_s3)
    old = worm_store.put(
        io.BytesIO(b"old"), kind="x", media_type="x", retain_until=utcnow() - timedelta(days=1)
    )
    kept = worm_store.put(
        io.BytesIO(b"kept"), kind="x", media_type="x", retain_until=utcnow() - timedelta(days=1)
    )
    worm_store.hold(kept.object_id, reason="case", actor="admin")
    # A retention date already past is not sent to S3 (S3 refuses it); the legal hold is.
    assert "ObjectLockMode" not in s3.head_object(Bucket=BUCKET, Key=object_key(old.object_id))
    assert worm_store.apply_retention() == [old.object_id]
    keys = [v["Key"] for v in s3.list_object_versions(Bucket=BUCKET).get("Versions", [])]
    assert keys == [object_key(kept.object_id)]
    assert worm_store.verify().ok
