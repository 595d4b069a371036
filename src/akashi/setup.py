"""``akashi init``: make a home with a commented config, the installation keys and the schema."""

from __future__ import annotations

from pathlib import Path

from akashi.config import CONFIG_NAME, load_settings
from akashi.db.base import make_engine
from akashi.db.migrate import migrate
from akashi.store.keys import ensure_keys

TEMPLATE = """\
# Akashi configuration / 設定ファイル
# Every key is optional; AKASHI_<SECTION>__<KEY> environment variables override this file.

[database]
url = "{database_url}"   # empty: SQLite in this folder; or postgresql+psycopg://user@host/db

[store]
backend = "local"        # "local" or "s3"
# checkpoint_minutes = 10 # signed checkpoints of the ledger and audit heads (README: checkpoints)
# tsa_url = ""           # RFC 3161 time-stamping authority, e.g. a contracted 認定タイムスタンプ service
# tsa_ca_file = ""       # PEM of that TSA's root certificate, to verify its tokens
# [store.s3]
# endpoint_url = "http://127.0.0.1:9000"
# bucket = "akashi"
# access_key = "..."
# secret_key = "..."

[web]
listen = "127.0.0.1:8080"
"""


def init_home(home: Path, *, database_url: str = "", extra_toml: str = "") -> bool:
    """Create (or complete) the home at ``home``. Returns True when a new config was written.

    Existing config and keys are never overwritten.
    """
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / CONFIG_NAME
    wrote = False
    if not cfg.exists():
        cfg.write_text(TEMPLATE.format(database_url=database_url) + extra_toml, encoding="utf-8")
        wrote = True
    settings = load_settings(home)
    ensure_keys(settings.keys_path)
    settings.evidence_path.mkdir(parents=True, exist_ok=True)
    settings.spool_path.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
    finally:
        engine.dispose()
    return wrote
