"""The administrator's first-steps checklist on the dashboard.

Every step's "done" is read from the installation itself (settings in force, the database, the audit
log, the notice audio cache), so a step ticks itself when the thing is done by any means (page, CLI,
``akashi.toml``). The one exception is the backup of ``keys/``, which only a person can know about:
an admin confirms it, and the confirmation names the key it was made for, so a new key needs a new
backup. Signs are printed from here (PDF) and each print is audited, which is what ticks that step.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from akashi import firstrun
from akashi.access import audit
from akashi.access.audit import audit_now
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import Agent, AuditEntry, Setting
from akashi.errors import AccessDenied
from akashi.store.keys import load_keys
from akashi.web.deps import AkashiDep, Auth, DbDep, UserDep, require_user
from akashi.web.render import templates

router = APIRouter(prefix="/setup", dependencies=[Depends(require_user)], include_in_schema=False)

KEYS_BACKUP_KEY = "keys_backup_confirmed"
SIGNAGE_ACTION = "signage_print"


@dataclass(frozen=True)
class Step:
    """One line of the checklist."""

    key: str
    ja: str
    en: str
    done: bool
    why_ja: str  # what is there now, or what is missing
    why_en: str
    href: str  # the admin page where it is done


def _line(ak: Akashi) -> Step:
    sip = ak.settings.sip
    done = sip.enabled and bool(sip.trunks or sip.routes)
    if done:
        ja, en = (
            f"トランク {len(sip.trunks)}・着信ルート {len(sip.routes)}",
            (f"{len(sip.trunks)} trunk(s), {len(sip.routes)} route(s)"),
        )
    elif not sip.enabled:
        ja, en = "SIP が無効です（akashi.toml の [sip] enabled）", "SIP is off ([sip] enabled in akashi.toml)"
    else:
        ja, en = "トランクも着信ルートもまだありません", "no trunk or inbound route yet"
    return Step("line", "電話回線をつなぐ（トランクまたは PBX）", "Connect the phone line (trunk or PBX)",
                done, ja, en, "/admin#routes")  # fmt: skip


def _phones(ak: Akashi, s: Session) -> Step:
    in_db = s.scalar(select(func.count()).select_from(Agent).where(Agent.sip_user.is_not(None))) or 0
    n = len({a.sip_user for a in ak.settings.agents}) + int(in_db)
    ja, en = (f"{n} 台", f"{n} phone(s)") if n else ("まだ登録がありません", "none registered yet")
    return Step("phones", "オペレーターの電話を登録する", "Add the operators' phones", n > 0, ja, en,
                "/admin#agents")  # fmt: skip


def _notice(ak: Akashi) -> Step:
    from akashi.config.telephony import AnnouncementSettings
    from akashi.notices.audio import cache_key

    default = AnnouncementSettings().text.strip()
    cache = ak.settings.home / "cache" / "notices"
    written = listened = False
    for ann in ak.settings.announcements.values():
        if ann.text.strip() and ann.text.strip() != default:
            written = True
            # The preview (or a call) made audio of exactly this text: someone heard what is written now.
            if ann.audio or (cache / f"notice-{cache_key(ann.text, ann.voice or None)}.wav").is_file():
                listened = True
    if not written:
        ja, en = "文面が初期値のままです", "the text is still the shipped default"
    elif not listened:
        ja, en = "今の文面をまだ試聴していません", "the current text has not been listened to yet"
    else:
        ja, en = "文面を書き、試聴しました", "written and listened to"
    return Step("notice", "録音告知の文面を書いて試聴する", "Write the recording notice and listen to it",
                written and listened, ja, en, "/admin#notices")  # fmt: skip


def _camera(ak: Akashi) -> Step:
    from akashi.web.adminconfig import cameras_view

    n = len(cameras_view(ak))
    ja, en = (f"{n} 台", f"{n} camera(s)") if n else ("まだありません", "none yet")
    return Step("camera", "カメラを追加する", "Add a camera", n > 0, ja, en, "/admin#cameras")


def _signs(s: Session) -> Step:
    last = s.scalar(select(func.max(AuditEntry.ts)).where(
        AuditEntry.action == SIGNAGE_ACTION, AuditEntry.outcome == "ok"))  # fmt: skip
    ja, en = (
        ("印刷用 PDF を出力しました", "printable PDF made") if last else ("まだ出力していません", "not yet")
    )
    return Step("signs", "掲示物を印刷する（カメラ掲示・電話の案内カード）",
                "Print the signs (camera sign, phone script card)", last is not None, ja, en,
                "/setup/signs/camera.pdf")  # fmt: skip


def _storage(ak: Akashi) -> Step:
    st = ak.settings
    where_ja = "S3 互換ストレージ" if st.store.backend == "s3" else "このマシンのディスク"
    where_en = "S3-compatible storage" if st.store.backend == "s3" else "this machine's disk"
    chosen = "calls_days" in st.retention.model_fields_set
    days = st.retention.calls_days
    ja = f"保存先: {where_ja}・通話の保存期間: {days} 日" + ("" if chosen else "（初期値）")
    en = f"store: {where_en}; calls kept {days} days" + ("" if chosen else " (default)")
    return Step("storage", "保存先と保存期間を決める", "Choose storage and retention", chosen, ja, en,
                "/admin#retention")  # fmt: skip


def keys_backup(s: Session, ak: Akashi) -> dict[str, Any] | None:
    """The backup confirmation of the key in force (None if never confirmed, or for an older key)."""
    row = s.get(Setting, KEYS_BACKUP_KEY)
    if row is None or row.value.get("key_id") != load_keys(ak.settings.keys_path).key_id:
        return None
    return dict(row.value)


def _keys(ak: Akashi, s: Session) -> Step:
    conf = keys_backup(s, ak)
    if conf:
        ja, en = (
            f"{conf.get('by', '?')} が確認（{str(conf.get('at', ''))[:10]}）",
            (f"confirmed by {conf.get('by', '?')} ({str(conf.get('at', ''))[:10]})"),
        )
    else:
        ja, en = f"{ak.settings.keys_path} を別の場所へ", f"copy {ak.settings.keys_path} somewhere else"
    return Step("keys", "keys/ をバックアップする（失うと録音を復号できません）",
                "Back up keys/ (without it no recording can be decrypted)", conf is not None, ja, en,
                "#keys")  # fmt: skip


def checklist(ak: Akashi, s: Session) -> list[Step]:
    """Every step, in the order a new installation does them."""
    return [_line(ak), _phones(ak, s), _notice(ak), _camera(ak), _signs(s), _storage(ak), _keys(ak, s)]


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
    from akashi.notices.signage import camera_sign, phone_card

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
