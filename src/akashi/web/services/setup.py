"""First-run setup: the form's rules and the one transaction that creates site, administrator and company.

The page itself (public, guarded by the one-time token) is :mod:`akashi.web.routes.setup`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from akashi import firstrun
from akashi.access import audit, hash_password
from akashi.access.passwords import MIN_LENGTH
from akashi.access.totp import matching_step, seal_secret
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import Site, User
from akashi.db.queries import site_id_for

NAME_RE = re.compile(r"^[\w.@-]{1,128}$")
SITE_RE = re.compile(r"^[\w.\-]{1,64}$")
SECRET_RE = re.compile(r"^[A-Z2-7]{16,64}$")


@dataclass
class SetupForm:
    """What the setup form holds (kept when the page comes back with errors; passwords are not)."""

    token: str = ""
    company: str = ""
    username: str = "admin"
    display_name: str = ""
    password: str = field(default="", repr=False)
    password2: str = field(default="", repr=False)
    totp_on: bool = False
    totp_secret: str = ""
    totp_code: str = ""
    site_name: str = ""
    site_label: str = ""


def validate(form: SetupForm) -> dict[str, tuple[str, str]]:
    """Field name → (Japanese, English) message for every field that is not acceptable."""
    errors: dict[str, tuple[str, str]] = {}
    if not form.company.strip():
        errors["company"] = ("会社名を入力してください", "enter the company name")
    elif len(form.company) > 200:
        errors["company"] = ("会社名は 200 文字以内です", "the company name is at most 200 characters")
    if not NAME_RE.match(form.username):
        errors["username"] = (
            "ログイン名は半角英数字と . _ @ - で 128 文字以内です",
            "login name: letters, digits and . _ @ - (at most 128)",
        )
    if len(form.display_name) > 200:
        errors["display_name"] = ("表示名は 200 文字以内です", "the display name is at most 200 characters")
    if len(form.password) < MIN_LENGTH:
        errors["password"] = (
            f"パスワードは {MIN_LENGTH} 文字以上にしてください",
            f"the password must be at least {MIN_LENGTH} characters",
        )
    elif len(form.password) > 1024:
        errors["password"] = ("パスワードが長すぎます", "the password is too long")
    elif form.password != form.password2:
        errors["password2"] = ("確認用のパスワードが一致しません", "the two passwords differ")
    if form.totp_on:
        if not SECRET_RE.match(form.totp_secret):
            errors["totp_code"] = ("二要素認証の鍵が壊れています。ページを開き直してください",
                                   "the two-factor key is damaged; reload the page")  # fmt: skip
        elif matching_step(form.totp_secret, form.totp_code, None) is None:
            errors["totp_code"] = (
                "確認コードが一致しません。認証アプリの 6 桁の数字を入力してください",
                "the code does not match; enter the 6 digits your authenticator app shows",
            )
    if not SITE_RE.match(form.site_name):
        errors["site_name"] = (
            "拠点の識別名は半角英数字と . _ - で 64 文字以内です（例: tokyo）",
            "site name: letters, digits and . _ - (at most 64), e.g. tokyo",
        )
    if len(form.site_label) > 200:
        errors["site_label"] = ("拠点名は 200 文字以内です", "the site label is at most 200 characters")
    return errors


def setup_state(ak: Akashi, token: str) -> str:
    """'done' (users exist), 'ready' (token is live) or 'locked' (no or wrong token)."""
    with session_scope(ak.engine) as s:
        if firstrun.has_users(s):
            return "done"
        return "ready" if firstrun.token_ok(s, token) else "locked"


def create_installation(s: Session, ak: Akashi, form: SetupForm, client: str) -> int | None:
    """Create site, admin and company in one transaction; None when the token is not (any more) live."""
    if firstrun.has_users(s) or not firstrun.consume_token(s, form.token):
        return None
    sid = site_id_for(s, form.site_name, label=form.site_label.strip())
    site = s.get(Site, sid) if sid is not None else None
    if site is not None and form.site_label.strip():
        site.label = form.site_label.strip()
    user = User(name=form.username, role="admin", password_hash=hash_password(form.password),
                display_name=form.display_name.strip())  # fmt: skip
    if form.totp_on:
        user.totp_secret = seal_secret(ak.settings, form.totp_secret)  # never stored in clear
        user.totp_last_step = matching_step(form.totp_secret, form.totp_code, None)
    s.add(user)
    s.flush()
    firstrun.mark_done(s, by=user.name, company=form.company.strip())
    detail = {"company": form.company.strip(), "admin": user.name, "totp": form.totp_on,
              "site": form.site_name}  # fmt: skip
    audit(s, user=user.name, action="setup", target_type="installation", target_id="", client=client,
          detail=detail)  # fmt: skip
    audit(s, user=user.name, action="user_create", target_type="user", target_id=user.id, client=client,
          detail={"name": user.name, "role": "admin", "sites": [], "via": "setup"})  # fmt: skip
    return user.id
