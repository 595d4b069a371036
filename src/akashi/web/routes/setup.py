"""The first-run setup page: company, first administrator (optional TOTP), first site.

``/setup`` opts out of login on purpose (house rule 6; it is in ``PUBLIC_PATHS``): there is nobody to
log in as yet. What protects it instead is the one-time token printed by ``akashi serve`` /
``akashi setup-link`` (see :mod:`akashi.firstrun`). Without the live token the page only says how to
get one; once anyone can log in it only says that setup is done.
"""

from __future__ import annotations

from typing import Annotated

import pyotp
import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.exc import DBAPIError

from akashi.access.audit import audit_now
from akashi.access.passwords import MIN_LENGTH
from akashi.access.sessions import create_session
from akashi.db.base import session_scope
from akashi.web.cookies import set_session_cookie
from akashi.web.deps import AkashiDep, client_of
from akashi.web.render import render
from akashi.web.services.setup import SECRET_RE, SetupForm, create_installation, setup_state, validate

router = APIRouter(include_in_schema=False)


def qr_svg(uri: str) -> str:
    """A QR code of ``uri`` as an SVG data URI (made here: no external service sees the secret)."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


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
    state = setup_state(ak, token)
    return _page(request, state, SetupForm(token=token if state == "ready" else ""),
                 status=200, bad_token=bool(token) and state == "locked")  # fmt: skip


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
    state = setup_state(ak, token)
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
            user_id = create_installation(s, ak, form, client)
            new = create_session(s, user_id, client, second_factor_ok=True) if user_id is not None else None
    except DBAPIError:  # SQLite refuses the slower of two racing writers (snapshot too old): same race
        new = None
    if new is None:  # lost a race with another use of the same token
        audit_now(ak.engine, user=form.username[:128], action="setup", target_type="installation",
                  outcome="denied", client=client, detail={"reason": "token_used"})  # fmt: skip
        return _page(request, setup_state(ak, ""), SetupForm(), status=409)
    resp = RedirectResponse("/?setup=done", status_code=303)
    set_session_cookie(ak, request, resp, new.token)
    return resp
