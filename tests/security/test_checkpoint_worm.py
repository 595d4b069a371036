"""Checkpoints outside the box: the evidence bucket under compliance Object Lock, a remote S3 copy, HTTPS.

The S3 server is ``moto_server`` over real HTTP on loopback (it implements Object Lock); the attacker
holds the bucket's own credentials and uses boto3 as any S3 client would. The insider also wipes the
checkpoints in the home: verify reads the bucket's copies and still catches the rewritten ledger.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from akashi.context import Akashi
from akashi.store.checkpoint import take_checkpoint
from tests.conftest import require_binary
from tests.store.conftest import MotoS3, moto_s3
from tests.store.local_tsa import LocalTsa, local_tsa

__all__ = ["local_tsa", "moto_s3"]
pytestmark = pytest.mark.s3
BUCKET, REMOTE = "akashi-worm", "akashi-remote"
AKASHI = [sys.executable, "-m", "akashi.cli.main"]


def client(server: MotoS3) -> Any:
    return boto3.client(
        "s3", endpoint_url=server.url, aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )  # fmt: skip


def worm_env(server: MotoS3, tsa: LocalTsa) -> dict[str, str]:
    return {
        "AKASHI_STORE__BACKEND": "s3", "AKASHI_STORE__S3__ENDPOINT_URL": server.url,
        "AKASHI_STORE__S3__BUCKET": BUCKET, "AKASHI_STORE__S3__ACCESS_KEY": "k",
        "AKASHI_STORE__S3__SECRET_KEY": "s", "AKASHI_STORE__S3__PREFIX": "akashi/",
        "AKASHI_STORE__TSA_URL": tsa.url, "AKASHI_STORE__TSA_CA_FILE": str(tsa.ca),
    }  # fmt: skip


def run(home: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AKASHI_")}
    return subprocess.run(
        [*AKASHI, "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=base | env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def worm_home(
    sqlite_home: Path, moto_s3: MotoS3, local_tsa: LocalTsa, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, dict[str, str]]]:
    client(moto_s3).create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
    env = worm_env(moto_s3, local_tsa)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    yield sqlite_home, env


def test_checkpoint_in_the_worm_bucket_survives_the_owner_and_catches_the_insider(
    worm_home: tuple[Path, dict[str, str]], moto_s3: MotoS3
) -> None:
    home, env = worm_home
    s3 = client(moto_s3)
    with Akashi.open(home) as ak:
        ids = [
            ak.store.put(io.BytesIO(f"call {i}".encode()), kind="call_audio", media_type="x").object_id
            for i in range(3)
        ]
        result = take_checkpoint(ak.store, "manual")
        assert result.ok and result.written == ["local", f"s3:{BUCKET}"], result.to_text()
        report = ak.store.verify()
        # The checkpoint files are not evidence: verify does not call them unknown objects.
        assert report.ok, report.to_text()
        assert report.anchor is not None and f"s3:{BUCKET}" in report.anchor["places"]
        days = ak.settings.retention.calls_days
    key = f"akashi/checkpoints/{result.name}.json"
    head = s3.head_object(Bucket=BUCKET, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] >= datetime.now(UTC) + timedelta(days=days)
    # The owner, with the bucket's own keys, can neither delete nor shorten it.
    version = s3.list_object_versions(Bucket=BUCKET, Prefix=key)["Versions"][0]["VersionId"]
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=BUCKET, Key=key, VersionId=version, BypassGovernanceRetention=True)
    # (moto does not refuse shortening a COMPLIANCE retention, as AWS does; that is not tested here.)
    assert s3.head_object(Bucket=BUCKET, Key=key, VersionId=version)["ObjectLockMode"] == "COMPLIANCE"

    # The insider: wipe the home's checkpoints, drop the last recording's ledger entry and row, accept.
    for f in (home / "checkpoints").iterdir():
        f.unlink()
    from akashi.config import load_settings

    db = load_settings(home).database_url.removeprefix("sqlite:///")
    subprocess.run(
        ["timeout", "30", require_binary("sqlite3"), db,
         f"DELETE FROM evidence_objects WHERE id = '{ids[-1]}'; DELETE FROM ledger WHERE seq = 3;"],
        check=True, capture_output=True,
    )  # fmt: skip
    s3.delete_object(Bucket=BUCKET, Key=f"akashi/{ids[-1][:2]}/{ids[-1]}.akev")  # a delete marker
    accepted = run(home, env, "ledger-accept-head", "--reason", "nothing to see", "--yes")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    for f in (home / "checkpoints").iterdir():  # and the accept's own local copy
        f.unlink()
    verify = run(home, env, "verify", "--json")
    assert verify.returncode == 1, verify.stdout + verify.stderr
    data = json.loads(verify.stdout)
    kinds = {p["kind"] for p in data["problems"]}
    assert {"checkpoint_ledger_missing", "checkpoint_ledger_cut_back"} <= kinds, verify.stdout
    missing = next(p for p in data["problems"] if p["kind"] == "checkpoint_ledger_missing")
    assert f"s3:{BUCKET}" in missing["en"] and missing["seq"] == 3


def test_remote_s3_copy_is_read_back_when_the_home_is_wiped(
    sqlite_home: Path, moto_s3: MotoS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    client(moto_s3).create_bucket(Bucket=REMOTE)  # no Object Lock: written, and said to be unlocked
    for k, v in {
        "AKASHI_STORE__CHECKPOINT_REMOTE__KIND": "s3", "AKASHI_STORE__CHECKPOINT_REMOTE__S3__BUCKET": REMOTE,
        "AKASHI_STORE__CHECKPOINT_REMOTE__S3__ENDPOINT_URL": moto_s3.url,
        "AKASHI_STORE__CHECKPOINT_REMOTE__S3__ACCESS_KEY": "k", "AKASHI_STORE__CHECKPOINT_REMOTE__S3__SECRET_KEY": "s",
    }.items():  # fmt: skip
        monkeypatch.setenv(k, v)
    with Akashi.open(sqlite_home) as ak:
        ak.store.put(io.BytesIO(b"a"), kind="call_audio", media_type="x")
        result = take_checkpoint(ak.store, "manual")
        assert result.written == ["local", f"remote-s3:{REMOTE} (no Object Lock)"], result.to_text()
        keys = {o["Key"] for o in client(moto_s3).list_objects_v2(Bucket=REMOTE)["Contents"]}
        assert keys == {f"checkpoints/{result.name}{s}" for s in (".json", ".sig")}
        for f in (sqlite_home / "checkpoints").iterdir():
            f.unlink()
        report = ak.store.verify()
        assert report.ok and report.anchor is not None and report.anchor["checkpoint"] is None
        assert report.anchor["checkpoints_found"] == 1  # found remotely; unlocked, so it anchors nothing


class _Receiver(BaseHTTPRequestHandler):
    got: dict[str, bytes]
    token: str

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            self.send_response(401)
        else:
            self.got[self.path] = body
            self.send_response(201)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_https_remote_copy_receives_every_file_and_a_wrong_token_is_reported(
    sqlite_home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    got: dict[str, bytes] = {}
    handler = type("H", (_Receiver,), {"got": got, "token": "s3cret-token-123"})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/cp"
    monkeypatch.setenv("AKASHI_STORE__CHECKPOINT_REMOTE__KIND", "https")
    monkeypatch.setenv("AKASHI_STORE__CHECKPOINT_REMOTE__URL", url)
    monkeypatch.setenv("AKASHI_STORE__CHECKPOINT_REMOTE__TOKEN", "s3cret-token-123")
    try:
        with Akashi.open(sqlite_home) as ak:
            result = take_checkpoint(ak.store, "manual")
            assert result.ok and result.written == ["local", f"https:{url}"]
            assert set(got) == {f"/cp/{result.name}.json", f"/cp/{result.name}.sig"}
            assert (
                got[f"/cp/{result.name}.json"]
                == (sqlite_home / "checkpoints" / f"{result.name}.json").read_bytes()
            )
        monkeypatch.setenv("AKASHI_STORE__CHECKPOINT_REMOTE__TOKEN", "wrong-token-456")
        with Akashi.open(sqlite_home) as ak, caplog.at_level("WARNING"):
            ak.store.put(io.BytesIO(b"b"), kind="call_audio", media_type="x")
            bad = take_checkpoint(ak.store, "manual")
        assert not bad.ok and "HTTP 401" in bad.to_text() and bad.written == ["local"]
        assert "wrong-token-456" not in bad.to_text() + caplog.text
    finally:
        server.shutdown()
        server.server_close()
