"""The user's own account: change password, enrol or remove TOTP two-factor."""

from __future__ import annotations

from typing import Annotated

import pyotp
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import delete

from akashi.access import audit, hash_password, verify_password
from akashi.access.passwords import MIN_LENGTH
from akashi.db.models import User
from akashi.db.models_web import WebSession
from akashi.errors import NotFoundError
from akashi.web.deps import AkashiDep, DbDep, UserDep, require_user
from akashi.web.render import render
from akashi.web.totp import matching_step, seal_secret

router = APIRouter(prefix="/account", dependencies=[Depends(require_user)], include_in_schema=False)


def _user(db: DbDep, auth: UserDep) -> User:
    user = db.get(User, auth.principal.id)
    if user is None:
        raise NotFoundError("利用者が見つかりません", "user not found")
    return user


@router.get("")
def account(request: Request, db: DbDep, auth: UserDep, done: str = "") -> Response:
    """Password and two-factor settings; a fresh TOTP secret is offered when none is enrolled."""
    user = _user(db, auth)
    secret = None if user.totp_secret else pyotp.random_base32()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.name, issuer_name="Akashi") if secret else ""
    return render(request, auth, "account.html", user=user, secret=secret, uri=uri, done=done,
                  min_length=MIN_LENGTH)  # fmt: skip


@router.post("/password")
def change_password(
    request: Request,
    db: DbDep,
    auth: UserDep,
    current: Annotated[str, Form(max_length=1024)],
    new: Annotated[str, Form(max_length=1024)],
) -> Response:
    """Change the password (the current one is required); other sessions of the user end."""
    user = _user(db, auth)
    if not verify_password(user.password_hash, current) or len(new) < MIN_LENGTH:
        audit(db, user=user.name, action="password_change", outcome="denied", client=auth.client)
        return render(request, auth, "account.html", status=400, user=user, secret=None, uri="", done="",
                      min_length=MIN_LENGTH, error=True)  # fmt: skip
    user.password_hash = hash_password(new)
    db.execute(delete(WebSession).where(WebSession.user_id == user.id, WebSession.id != auth.session_id))
    audit(db, user=user.name, action="password_change", client=auth.client)
    return RedirectResponse("/account?done=password", status_code=303)


@router.post("/totp")
def enrol_totp(
    request: Request,
    db: DbDep,
    auth: UserDep,
    ak: AkashiDep,
    secret: Annotated[str, Form(min_length=16, max_length=64, pattern="^[A-Z2-7]+$")],
    code: Annotated[str, Form(max_length=12)],
) -> Response:
    """Enrol the offered secret once the authenticator app shows a matching code."""
    user = _user(db, auth)
    step = None if user.totp_secret else matching_step(secret, code, None)
    if step is None:
        audit(db, user=user.name, action="totp_enrol", outcome="denied", client=auth.client)
        uri = pyotp.TOTP(secret).provisioning_uri(name=user.name, issuer_name="Akashi")
        return render(request, auth, "account.html", status=400, user=user, secret=secret, uri=uri, done="",
                      min_length=MIN_LENGTH, error=True)  # fmt: skip
    user.totp_secret = seal_secret(ak.settings, secret)  # never stored in clear
    user.totp_last_step = step
    audit(db, user=user.name, action="totp_enrol", client=auth.client)
    return RedirectResponse("/account?done=totp", status_code=303)


@router.post("/totp/remove")
def remove_totp(
    request: Request, db: DbDep, auth: UserDep, current: Annotated[str, Form(max_length=1024)]
) -> Response:
    """Remove two-factor (the password is required)."""
    user = _user(db, auth)
    if not verify_password(user.password_hash, current):
        audit(db, user=user.name, action="totp_remove", outcome="denied", client=auth.client)
        return render(request, auth, "account.html", status=400, user=user, secret=None, uri="", done="",
                      min_length=MIN_LENGTH, error=True)  # fmt: skip
    user.totp_secret = None
    user.totp_last_step = None
    audit(db, user=user.name, action="totp_remove", client=auth.client)
    return RedirectResponse("/account?done=totp_removed", status_code=303)
