"""First run: the one-time setup link of an installation that has no user yet.

``akashi serve`` (and ``akashi setup-link``) make a random token and keep only its SHA-256 in the
``kv`` table; the browser at ``/setup?token=…`` may create the first administrator once. Using the
token deletes it in the same transaction that creates the user, so a second use (or a race of two
uses) finds nothing to delete and is refused. A new link replaces the previous one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from akashi.config import Settings
from akashi.db.base import session_scope
from akashi.db.models import Setting, User
from akashi.errors import AkashiError

TOKEN_KEY = "setup_token"  # noqa: S105  (a kv key name, not a secret)
SETUP_KEY = "setup_done"
COMPANY_KEY = "company"


class SetupDone(AkashiError):
    """The installation already has users: there is nothing to set up through a link."""

    def __init__(self) -> None:
        super().__init__(
            "セットアップは完了しています（利用者がいます）。利用者の追加は `akashi user add` か管理画面で行います",
            "setup is done (users exist); add users with `akashi user add` or on the admin page",
        )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def has_users(s: Session) -> bool:
    """Whether anyone can log in (then there is no first run any more)."""
    return bool(s.scalar(select(func.count()).select_from(User)))


def needs_setup(engine: Engine) -> bool:
    """True while the installation has no user at all."""
    with session_scope(engine) as s:
        return not has_users(s)


def issue_token(engine: Engine) -> str:
    """A new setup token (its hash replaces any earlier one). Refused once users exist."""
    token = secrets.token_urlsafe(32)
    with session_scope(engine) as s:
        if has_users(s):
            raise SetupDone
        value = {"sha256": _digest(token), "issued_at": datetime.now(UTC).isoformat()}
        row = s.get(Setting, TOKEN_KEY)
        if row is None:
            s.add(Setting(key=TOKEN_KEY, value=value))
        else:
            row.value = value
    return token


def token_ok(s: Session, token: str) -> bool:
    """Whether ``token`` is the live setup token (constant-time comparison of the hashes)."""
    if not token:
        return False
    row = s.get(Setting, TOKEN_KEY)
    stored = str(row.value.get("sha256", "")) if row is not None else ""
    return bool(stored) and hmac.compare_digest(stored, _digest(token))


def consume_token(s: Session, token: str) -> bool:
    """Delete the live token if ``token`` is it; False when it is wrong or already used.

    The DELETE is the lock: of two requests racing with the same token only one deletes the row.
    """
    if not token_ok(s, token):
        return False
    gone = s.execute(delete(Setting).where(Setting.key == TOKEN_KEY))
    return bool(getattr(gone, "rowcount", 0) == 1)


def mark_done(s: Session, *, by: str, company: str) -> None:
    """Record the company name and when and by whom setup was completed."""
    now = datetime.now(UTC).isoformat()
    s.merge(Setting(key=COMPANY_KEY, value={"name": company}))
    s.merge(Setting(key=SETUP_KEY, value={"at": now, "by": by}))


def company_name(s: Session) -> str:
    """The company name given at setup ('' before)."""
    row = s.get(Setting, COMPANY_KEY)
    return str(row.value.get("name", "")) if row is not None else ""


def setup_info(s: Session) -> dict[str, Any] | None:
    """When and by whom the setup page was completed (None when it never was)."""
    row = s.get(Setting, SETUP_KEY)
    return dict(row.value) if row is not None else None


def base_url(settings: Settings) -> str:
    """The address to open in a browser on this machine (a wildcard listen becomes 127.0.0.1)."""
    host, port = settings.web.listen.rsplit(":", 1)
    host = host.strip("[]")
    if host in ("0.0.0.0", "::", ""):  # noqa: S104  (a wildcard listen, shown as loopback)
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def setup_url(settings: Settings, token: str) -> str:
    """The link that opens the setup page with ``token``."""
    return f"{base_url(settings)}/setup?token={token}"


def setup_message(settings: Settings, token: str) -> str:
    """What ``akashi serve`` and ``akashi setup-link`` print (Japanese first)."""
    url = setup_url(settings, token)
    return (
        "初回セットアップ: ブラウザーで次のリンクを開き、会社名・最初の管理者・拠点を登録してください。\n"
        "First run: open this link in a browser to enter the company, the first administrator and a site.\n"
        f"  {url}\n"
        "このリンクは一度だけ使えます（`akashi setup-link`、make run の場合は `.venv/bin/akashi setup-link` で"
        "作り直せます）。 / The link works once (`akashi setup-link`, or `.venv/bin/akashi setup-link` after"
        " make run, makes a new one)."
    )
