"""The user's own account: change password, enrol or remove TOTP two-factor.

A refused form comes back (status 400) with the message beside the field at fault (:class:`FormProblem`,
as the admin forms do); passwords are never echoed back, the offered TOTP secret is kept so the app
need not be set up again. A saved form redirects to ``/account?done=<what>``, which says what was done.
"""

from __future__ import annotations

from typing import Annotated

import pyotp
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import delete

from akashi.access import audit, hash_password, verify_password
from akashi.access.passwords import MIN_LENGTH
from akashi.access.totp import matching_step, seal_secret
from akashi.db.models import User
from akashi.db.models_web import WebSession
from akashi.errors import NotFoundError
from akashi.web.deps import AkashiDep, DbDep, UserDep, require_user
from akashi.web.render import render
from akashi.web.services.adminforms import FormProblem

router = APIRouter(prefix="/account", dependencies=[Depends(require_user)], include_in_schema=False)

#: ``?done=`` values and the line each shows (anything else shows nothing)
DONE = frozenset({"password", "totp", "totp_removed"})
WRONG_CURRENT = ("現在のパスワードが違います", "The current password is not right")
TOO_SHORT = (
    f"新しいパスワードは {MIN_LENGTH} 文字以上にしてください",
    f"The new password needs at least {MIN_LENGTH} characters",
)
SAME_AS_BEFORE = ("新しいパスワードが今と同じです", "The new password is the same as the current one")
BAD_CODE = (
    "確認コードが合いません。認証アプリに今表示されている 6 桁を入力してください（端末の時刻も確認してください）",
    "The code does not match: enter the 6 digits the app shows now (and check the device's clock)",
)
ALREADY_ON = ("二段階認証はすでに有効です", "Two-factor sign-in is already on")


def _user(db: DbDep, auth: UserDep) -> User:
    user = db.get(User, auth.principal.id)
    if user is None:
        raise NotFoundError("利用者が見つかりません", "user not found")
    return user


@router.get("")
def account(request: Request, db: DbDep, auth: UserDep, done: str = "") -> Response:
    """Password and two-factor settings; a fresh TOTP secret is offered when none is enrolled."""
    return _page(request, auth, _user(db, auth), done=done if done in DONE else "")


def _page(
    request: Request,
    auth: UserDep,
    user: User,
    *,
    done: str = "",
    problem: FormProblem | None = None,
    secret: str | None = None,
) -> Response:
    """The account page; with ``problem``, status 400 and the message beside its field."""
    if user.totp_secret:
        secret = None
    elif secret is None:
        secret = pyotp.random_base32()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.name, issuer_name="Akashi") if secret else ""
    return render(request, auth, "account.html", status=400 if problem else 200, user=user, secret=secret,
                  uri=uri, done=done, min_length=MIN_LENGTH, problem=problem)  # fmt: skip


def _refused(
    form: str, field: str, message: tuple[str, str], kept: dict[str, str] | None = None
) -> FormProblem:
    return FormProblem(form=form, field=field, ja=message[0], en=message[1], kept=dict(kept or {}))


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
    found = None
    if not verify_password(user.password_hash, current):
        found = _refused("password", "current", WRONG_CURRENT)
    elif len(new) < MIN_LENGTH:
        found = _refused("password", "new", TOO_SHORT)
    elif new == current:
        found = _refused("password", "new", SAME_AS_BEFORE)
    if found is not None:
        audit(db, user=user.name, action="password_change", outcome="denied", client=auth.client)
        return _page(request, auth, user, problem=found)
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
        found = _refused("totp", "code", ALREADY_ON if user.totp_secret else BAD_CODE, {"code": code})
        return _page(request, auth, user, problem=found, secret=secret)  # the same secret: no new scan
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
        return _page(request, auth, user, problem=_refused("totp_remove", "current", WRONG_CURRENT))
    user.totp_secret = None
    user.totp_last_step = None
    audit(db, user=user.name, action="totp_remove", client=auth.client)
    return RedirectResponse("/account?done=totp_removed", status_code=303)
