"""Configuration of the foundation: database, evidence store, retention, jobs, web, sites."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from akashi.config.base import Section


class DatabaseSettings(Section):
    """Where metadata lives."""

    url: str = Field(
        "",
        description="SQLAlchemy URL. Empty: SQLite (WAL) file akashi.db in the Akashi home. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/dbname",
    )
    echo: bool = Field(False, description="Log every SQL statement (debugging only).")

    @field_validator("url")
    @classmethod
    def _known_dialect(cls, v: str) -> str:
        if v and not v.startswith(("sqlite", "postgresql")):
            raise ValueError(
                "database.url must start with sqlite:// or postgresql:// (postgresql+psycopg://)"
            )
        return v


class S3Settings(Section):
    """An S3-compatible bucket (AWS S3, MinIO, Wasabi, Ceph, rclone serve s3)."""

    endpoint_url: str = Field("", description="Empty for AWS; http(s)://host:port otherwise.")
    bucket: str = Field(..., min_length=3, max_length=63)
    region: str = "us-east-1"
    prefix: str = Field("", description="Key prefix inside the bucket, e.g. 'akashi/'.")
    access_key: str = ""
    secret_key: SecretStr = SecretStr("")
    object_lock: Literal["auto", "off"] = Field(
        "auto", description="Use Object Lock retention and legal hold where the bucket supports it."
    )
    lock_mode: Literal["GOVERNANCE", "COMPLIANCE"] = "GOVERNANCE"
    multipart_threshold_mb: int = Field(16, ge=5, le=5000)
    multipart_chunk_mb: int = Field(8, ge=5, le=5000)
    connect_timeout_s: float = Field(5.0, gt=0, le=120)
    read_timeout_s: float = Field(30.0, gt=0, le=600)


class CheckpointRemoteSettings(Section):
    """A second place for every checkpoint, outside this machine: another S3 bucket or an HTTPS endpoint.

    ``kind = "s3"`` writes ``checkpoints/<name>`` into the bucket of ``[store.checkpoint_remote.s3]``
    (under Object Lock in compliance mode when that bucket has it); ``akashi verify`` reads it back.
    ``kind = "https"`` sends each file with ``PUT <url>/<name>`` (``Authorization: Bearer <token>``
    when a token is set): a write-only copy that ``verify`` does not read.
    """

    kind: Literal["s3", "https"] = "s3"
    s3: S3Settings | None = None
    url: str = Field(
        "",
        pattern=r"^(https://\S+|http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/\S*)?)?$",
        description="HTTPS base URL for kind = 'https' (plain http only to loopback, for tests).",
    )
    token: SecretStr = Field(SecretStr(""), description="Bearer token of the HTTPS endpoint (never logged).")
    timeout_s: float = Field(10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _complete(self) -> CheckpointRemoteSettings:
        if self.kind == "s3" and self.s3 is None:
            raise ValueError('store.checkpoint_remote.kind = "s3" needs [store.checkpoint_remote.s3]')
        if self.kind == "https" and not self.url:
            raise ValueError('store.checkpoint_remote.kind = "https" needs store.checkpoint_remote.url')
        return self


class StoreSettings(Section):
    """The evidence store."""

    backend: Literal["local", "s3"] = "local"
    path: str = Field("", description="Local backend folder. Empty: 'evidence' in the Akashi home.")
    s3: S3Settings | None = None
    spool_path: str = Field(
        "", description="Local queue for uploads while the backend is unreachable. Empty: 'spool' in home."
    )
    chunk_kib: int = Field(1024, ge=4, le=16384, description="Plaintext bytes per AEAD chunk, in KiB.")
    retry_interval_s: float = Field(5.0, gt=0, le=3600, description="Retry period for spooled uploads.")
    # External trust anchors (store/checkpoint.py): signed checkpoints of the ledger and audit heads.
    checkpoint_minutes: int = Field(
        10, ge=1, le=1440, description="`akashi serve` writes a signed checkpoint this often (minutes)."
    )
    tsa_url: str = Field(
        "",
        pattern=r"^(https?://\S+)?$",
        description="RFC 3161 time-stamping authority (HTTP POST application/timestamp-query). Empty: none.",
    )
    tsa_ca_file: str = Field(
        "", description="PEM file of the TSA's root (and intermediate) certificates, to verify its tokens."
    )
    tsa_timeout_s: float = Field(10.0, gt=0, le=120)
    checkpoint_remote: CheckpointRemoteSettings | None = None


class RetentionSettings(Section):
    """How long evidence is kept when nothing holds it."""

    calls_days: int = Field(365 * 3, ge=1, le=36500, description="Calls are kept this many days.")
    run_every_minutes: int = Field(60, ge=1, le=10080)


class JobSettings(Section):
    """The durable job queue and its workers."""

    workers: int = Field(1, ge=0, le=64, description="Worker threads in `akashi serve`.")
    lease_seconds: int = Field(600, ge=5, le=86400)
    max_attempts: int = Field(5, ge=1, le=100)
    backoff_seconds: float = Field(10.0, ge=0.0, le=86400)
    poll_seconds: float = Field(1.0, gt=0.0, le=60.0)


class WebSettings(Section):
    """The web application."""

    enabled: bool = True
    listen: str = Field("127.0.0.1:8080", pattern=r"^[^\s:]*:\d{1,5}$")
    secure_cookies: Literal["auto", "always", "never"] = "auto"
    session_idle_minutes: int = Field(30, ge=1, le=1440)
    lockout_after: int = Field(5, ge=1, le=100, description="Failed logins before a temporary lockout.")
    max_body_bytes: int = Field(
        1_048_576, ge=1024, le=2**30, description="Largest request body (JSON, forms); larger: 413."
    )
    max_upload_bytes: int = Field(
        8_388_608,
        ge=1024,
        le=2**30,
        description="Largest body of an upload route (the lexicon); larger: 413.",
    )
    login_attempts_per_minute: int = Field(
        10,
        ge=1,
        le=10_000,
        description="Password attempts per client address per minute; more: 429, no hashing.",
    )


class SiteSettings(Section):
    """A site (office, shop) declared in config; sites can also be added from the CLI."""

    name: str = Field(..., min_length=1, max_length=64, pattern=r"^[\w.-]+$")
    label: str = ""
