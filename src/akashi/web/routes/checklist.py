"""The checklist's routes: the dashboard's list for an admin, the keys backup confirmation, sign PDFs.

What each step reads lives in :mod:`akashi.web.services.checklist`.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from akashi import firstrun
from akashi.access import audit
from akashi.access.audit import audit_now
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import Setting
from akashi.errors import AccessDenied
from akashi.store.keys import load_keys
from akashi.web.deps import AkashiDep, Auth, DbDep, UserDep, require_user
from akashi.web.render import templates
from akashi.web.services.checklist import KEYS_BACKUP_KEY, SIGNAGE_ACTION, Step, checklist

router = APIRouter(prefix="/setup", dependencies=[Depends(require_user)], include_in_schema=False)


def dashboard_checklist(request: Request, auth: Auth | None) -> list[Step] | None:
    """For the dashboard template: the steps for an admin while any is open; None otherwise."""
    if auth is None or auth.principal.role != "admin":
        return None
    ak = request.app.state.akashi
    with session_scope(ak.engine) as s:
        steps = checklist(ak, s)
    return None if all(x.done for x in steps) else steps


templates.env.globals["setup_checklist"] = dashboard_checklist


def _admin(ak: Akashi, auth: Auth, action: str, target: str) -> None:
    if auth.principal.role == "admin":
        return
    audit_now(ak.engine, user=auth.principal.name, action=action, target_type="installation",
              target_id=target, outcome="denied", client=auth.client)  # fmt: skip
    raise AccessDenied("管理者のみ行えます", "only admins may do this")


@router.post("/keys-backup")
def confirm_keys_backup(ak: AkashiDep, db: DbDep, auth: UserDep) -> Response:
    """An admin confirms that ``keys/`` is backed up (for the key in force); audited."""
    _admin(ak, auth, "keys_backup_confirm", "keys")
    key_id = load_keys(ak.settings.keys_path).key_id
    value = {"by": auth.principal.name, "at": datetime.now(UTC).isoformat(), "key_id": key_id}
    db.merge(Setting(key=KEYS_BACKUP_KEY, value=value))
    audit(db, user=auth.principal.name, action="keys_backup_confirm", target_type="installation",
          target_id="keys", client=auth.client, detail={"key_id": key_id})  # fmt: skip
    return RedirectResponse("/#checklist", status_code=303)


@router.get("/signs/{kind}.pdf")
def signs(kind: Literal["camera", "phone"], ak: AkashiDep, db: DbDep, auth: UserDep) -> Response:
    """The camera sign (with the company name from setup) or the operators' script card, as PDF."""
    from akashi.notices.signage import camera_sign, phone_card  # noqa: PLC0415 - reportlab is the optional 'media' extra; only PDFs need it

    _admin(ak, auth, SIGNAGE_ACTION, kind)
    company = firstrun.company_name(db)
    tmp = Path(tempfile.mkdtemp(prefix="akashi-sign-"))
    out = tmp / f"{kind}.pdf"
    try:
        if kind == "camera":
            camera_sign(out, company=company)
        else:
            phone_card(out)
        data = out.read_bytes()
    finally:
        for p in tmp.iterdir():
            p.unlink()
        tmp.rmdir()
    audit(db, user=auth.principal.name, action=SIGNAGE_ACTION, target_type="signage", target_id=kind,
          client=auth.client, detail={"company": company})  # fmt: skip
    name = "akashi-camera-sign.pdf" if kind == "camera" else "akashi-phone-card.pdf"
    return Response(data, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip
