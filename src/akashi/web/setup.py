"""The first-run setup page: company, first administrator (optional TOTP), first site.

``/setup`` opts out of login on purpose (house rule 6; it is in ``PUBLIC_PATHS``): there is nobody to
log in as yet. What protects it instead is the one-time token printed by ``akashi serve`` /
``akashi setup-link`` (see :mod:`akashi.firstrun`). Without the live token the page only says how to
get one; once anyone can log in it only says that setup is done.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated

import pyotp
import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from akashi import firstrun
from akashi.access import audit, hash_password
from akashi.access.audit import audit_now
from akashi.access.passwords import MIN_LENGTH
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import Site, User
from akashi.db.queries import site_id_for
from akashi.web.deps import AkashiDep, client_of
from akashi.web.render import render
from akashi.web.sessions import create_session
from akashi.web.totp import matching_step, seal_secret

router = APIRouter(include_in_schema=False)

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


def qr_svg(uri: str) -> str:
    """A QR code of ``uri`` as an SVG data URI (made here: no external service sees the secret)."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


def _state(ak: Akashi, token: str) -> str:
    """'done' (users exist), 'ready' (token is live) or 'locked' (no or wrong token)."""
    with session_scope(ak.engine) as s:
        if firstrun.has_users(s):
            return "done"
        return "ready" if firstrun.token_ok(s, token) else "locked"


def _page(request: Request, state: str, form: SetupForm, status: int = 200,
          errors: dict[str, tuple[str, str]] | None = None, bad_token: bool = False) -> Response:  # fmt: skip
    uri = ""
    if state == "ready":
        if not SECRET_RE.match(form.totp_secret):
            form.totp_secret = pyotp.random_base32()
        uri = pyotp.TOTP(form.totp_secret).provisioning_uri(
            name=form.username or "admin", issuer_name=f"Akashi {form.company}".strip()
        )
    resp = render(request, None, "setup.html", status=status, state=state, form=form, errors=errors or {},
                  bad_token=bad_token, qr=qr_svg(uri) if uri else "", min_length=MIN_LENGTH)  # fmt: skip
    resp.headers["Referrer-Policy"] = "no-referrer"  # the token is in the address
    return resp


@router.get("/setup")
def setup_page(request: Request, ak: AkashiDep, token: str = "") -> Response:
    """Public: the setup form with a live token, else how to get one, or that setup is done."""
    token = token[:200]
    state = _state(ak, token)
    return _page(request, state, SetupForm(token=token if state == "ready" else ""),
                 status=200, bad_token=bool(token) and state == "locked")  # fmt: skip


def _create(s: Session, ak: Akashi, form: SetupForm, client: str) -> int | None:
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


@router.post("/setup")
def setup_submit(
    *,
    request: Request,
    ak: AkashiDep,
    token: Annotated[str, Form(max_length=200)] = "",
    company: Annotated[str, Form(max_length=1000)] = "",
    username: Annotated[str, Form(max_length=1000)] = "",
    display_name: Annotated[str, Form(max_length=1000)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    password2: Annotated[str, Form(max_length=1024)] = "",
    totp_on: Annotated[str, Form(max_length=10)] = "",
    totp_secret: Annotated[str, Form(max_length=100)] = "",
    totp_code: Annotated[str, Form(max_length=20)] = "",
    site_name: Annotated[str, Form(max_length=1000)] = "",
    site_label: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Create the first administrator, the company name and the first site; the token dies with it."""
    from akashi.web.auth import set_session_cookie

    client = client_of(request)
    form = SetupForm(
        token=token,
        company=company.strip(),
        username=username.strip(),
        display_name=display_name,
        password=password,
        password2=password2,
        totp_on=bool(totp_on or totp_code.strip()),  # a typed code means "enrol" too: it gets checked
        totp_secret=totp_secret.strip().upper(),
        totp_code=totp_code.strip(),
        site_name=site_name.strip(),
        site_label=site_label,
    )
    state = _state(ak, token)
    if state != "ready":
        audit_now(ak.engine, user=form.username[:128] or "?", action="setup", target_type="installation",
                  outcome="denied", client=client,
                  detail={"reason": "setup_done" if state == "done" else "bad_token"})  # fmt: skip
        return _page(request, state, SetupForm(), status=403 if state == "locked" else 409,
                     bad_token=state == "locked")  # fmt: skip
    errors = validate(form)
    if errors:
        return _page(request, state, form, status=400, errors=errors)
    try:
        with session_scope(ak.engine) as s:
            user_id = _create(s, ak, form, client)
            new = create_session(s, user_id, client, second_factor_ok=True) if user_id is not None else None
    except DBAPIError:  # SQLite refuses the slower of two racing writers (snapshot too old): same race
        new = None
    if new is None:  # lost a race with another use of the same token
        audit_now(ak.engine, user=form.username[:128], action="setup", target_type="installation",
                  outcome="denied", client=client, detail={"reason": "token_used"})  # fmt: skip
        return _page(request, _state(ak, ""), SetupForm(), status=409)
    resp = RedirectResponse("/?setup=done", status_code=303)
    set_session_cookie(ak, request, resp, new.token)
    return resp
