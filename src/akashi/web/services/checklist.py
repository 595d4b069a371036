"""The administrator's first-steps checklist on the dashboard.

Every step's "done" is read from the installation itself (settings in force, the database, the audit
log, the notice audio cache), so a step ticks itself when the thing is done by any means (page, CLI,
``akashi.toml``). The one exception is the backup of ``keys/``, which only a person can know about:
an admin confirms it, and the confirmation names the key it was made for, so a new key needs a new
backup. Signs are printed from here (PDF) and each print is audited, which is what ticks that step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from akashi.config.telephony import AnnouncementSettings
from akashi.context import Akashi
from akashi.db.models import Agent, AuditEntry, Setting
from akashi.demo.plan import DEMO_SIP_USERS
from akashi.notices.audio import cache_key
from akashi.store.keys import load_keys
from akashi.web.i18n import jst_iso
from akashi.web.services.adminconfig import cameras_view

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
            f"トランク {len(sip.trunks)} 件・着信ルート {len(sip.routes)} 件",
            (f"{len(sip.trunks)} trunk(s), {len(sip.routes)} route(s)"),
        )
    elif not sip.enabled:
        ja, en = (
            "SIP が無効で、電話を受けられません（akashi.toml の [sip] に enabled = true を書いて再起動）",
            "SIP is off: no call can come in (write enabled = true under [sip] in akashi.toml and restart)",
        )
    else:
        ja, en = (
            "回線（トランク）も着信ルートもまだ設定されていません",
            "no trunk or inbound route set up yet",
        )
    return Step("line", "電話回線をつなぐ（トランクまたは PBX）", "Connect the phone line (trunk or PBX)",
                done, ja, en, "/admin#routes")  # fmt: skip


def _phones(ak: Akashi, s: Session) -> Step:
    # the demo's simulated operators are no phone of this workplace: they never tick this step
    in_db = s.scalar(select(func.count()).select_from(Agent).where(
        Agent.sip_user.is_not(None), Agent.sip_user.not_in(DEMO_SIP_USERS))) or 0  # fmt: skip
    n = len({a.sip_user for a in ak.settings.agents} - DEMO_SIP_USERS) + int(in_db)
    ja, en = (f"{n} 台", f"{n} phone(s)") if n else ("まだ登録がありません", "none registered yet")
    return Step("phones", "オペレーターの電話を登録する", "Add the operators' phones", n > 0, ja, en,
                "/admin#agents")  # fmt: skip


def _notice(ak: Akashi) -> Step:
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
        ja, en = (
            "文面が初期設定のままです（会社名と録音の目的を書き入れてください）",
            "the text is still the shipped default (write in your company's name and why calls are recorded)",
        )
    elif not listened:
        ja, en = "今の文面をまだ試聴していません", "the current text has not been listened to yet"
    else:
        ja, en = "文面を書き、試聴しました", "written and listened to"
    return Step("notice", "録音告知の文面を書いて試聴する", "Write the recording notice and listen to it",
                written and listened, ja, en, "/admin#notices")  # fmt: skip


def _camera(ak: Akashi) -> Step:
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
            f"{conf.get('by', '?')} が確認（{jst_iso(str(conf.get('at', '')))}）",
            (f"confirmed by {conf.get('by', '?')} ({jst_iso(str(conf.get('at', '')))})"),
        )
    else:
        ja, en = (
            f"{ak.settings.keys_path} を USB メモリや別のサーバーなど、このマシンの外にコピーしてください",
            f"copy {ak.settings.keys_path} off this machine (a USB stick, another server)",
        )
    return Step("keys", "keys/ をバックアップする（失うと録音を復号できません）",
                "Back up keys/ (without it no recording can be decrypted)", conf is not None, ja, en,
                "#keys")  # fmt: skip


def checklist(ak: Akashi, s: Session) -> list[Step]:
    """Every step, in the order a new installation does them."""
    return [_line(ak), _phones(ak, s), _notice(ak), _camera(ak), _signs(s), _storage(ak), _keys(ak, s)]
