"""Configuration edited from the admin pages: notices, SIP routes, retention, the lexicon, cameras.

Settings of ``akashi.toml`` go through :mod:`akashi.config.writer` (validated, then written atomically);
cameras through :mod:`akashi.cameras.records` (URL sealed, never shown again). Every change is audited
(``config_change``, ``lexicon_change``, ``camera_add``, ``camera_remove``, ``camera_pause``,
``camera_resume``), as is every refusal.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from akashi.access import Principal, audit
from akashi.access.audit import audit_now
from akashi.analysis.lexicon import LexiconError, default_lexicon_text, load_lexicon, parse_lexicon
from akashi.cameras import records
from akashi.cameras.pause import paused_by, set_paused
from akashi.cameras.records import configured_cameras
from akashi.cameras.urls import check_rtsp_url
from akashi.config import load_settings, writer
from akashi.config.agentsecret import set_agent_secret
from akashi.config.telephony import RouteSettings
from akashi.db import session_scope
from akashi.db.models import Camera
from akashi.errors import AccessDenied, AkashiError, ConfigError
from akashi.notices.lint import lint_notice

if TYPE_CHECKING:
    from akashi.context import Akashi

LEXICON_NAME = "lexicon.toml"
RESTART_NOTE = {
    "ja": "変更は数秒のうちに動作中の通話録音とカメラに反映されます（通話中の通話は元の設定のまま）。"
    "再起動が必要な設定は restart_needed に並びます。環境変数 AKASHI_* の設定が優先されます。",
    "en": "Changes reach the running telephony and cameras within seconds (calls in progress keep theirs); "
    "settings that need a restart are listed in restart_needed. AKASHI_* environment overrides still win.",
}


class NoticeIn(BaseModel):
    """A recording notice's mode and text."""

    mode: Literal["automatic", "operator"] = "automatic"
    text: str = Field(..., min_length=1, max_length=2000)


class RouteIn(RouteSettings):
    """One inbound route: every field of :class:`RouteSettings`, with the bounds a web form needs.

    Built from the settings model so that a field added there (the unavailable notice, live
    protection, the long-call guard...) is carried by a save instead of silently dropped.
    """

    match: str = Field(..., min_length=1, max_length=64)
    ring: list[str] = Field(..., min_length=1, max_length=50)
    announcement: str = Field("default", min_length=1, max_length=64)
    site: str = Field("", max_length=64)


#: the route fields the admin page's table edits; the others are kept from the saved route
ROUTE_FORM_FIELDS = ("match", "ring", "site", "announcement", "strategy", "ring_timeout_s")


class RoutesIn(BaseModel):
    """Every inbound route, in order."""

    routes: list[RouteIn] = Field(default_factory=list, max_length=500)


class AgentIn(BaseModel):
    """One operator as the phone system knows them. An empty password keeps the saved one."""

    name: str = Field(..., min_length=1, max_length=128)
    sip_user: str = Field(..., min_length=1, max_length=128, pattern=r"^[\w.+-]+$")
    site: str = Field("", max_length=64, pattern=r"^[\w.-]*$")
    password: str = Field("", max_length=256)


class AgentsIn(BaseModel):
    """Every agent, in order."""

    agents: list[AgentIn] = Field(default_factory=list, max_length=2000)


class RetentionIn(BaseModel):
    """Days calls and continuous footage are kept."""

    calls_days: int = Field(..., ge=1, le=36500)
    camera_days: int = Field(..., ge=1, le=3650)


class LexiconIn(BaseModel):
    """The lexicon TOML text."""

    text: str = Field(..., min_length=1, max_length=500_000)


class CameraIn(BaseModel):
    """A camera to add (the URL is sealed and never shown again)."""

    name: str = Field(..., min_length=1, max_length=64, pattern=r"^[\w.-]+$")
    url: str = Field(..., min_length=1, max_length=2000)
    site: str = Field("", max_length=64, pattern=r"^[\w.-]*$")
    segment_seconds: float = Field(4.0, ge=1.0, le=60.0)


M = TypeVar("M", bound=BaseModel)


class FormError(ConfigError):
    """A refused form value; ``field`` names the field (and ``row`` the row of a table form) at fault."""

    def __init__(self, ja: str, en: str, field: str = "", row: int | None = None) -> None:
        super().__init__(ja, en)
        self.field = field
        self.row = row


def parse_form(model: type[M], data: dict[str, Any]) -> M:
    """Validate form fields into ``model``; a refusal is a clear error naming its field, not a server error."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        detail = "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in errors)
        loc = errors[0]["loc"] if errors else ()
        names = [x for x in loc if isinstance(x, str)]
        rows = [x for x in loc if isinstance(x, int)]
        raise FormError(
            f"入力が正しくありません: {detail}",
            f"invalid input: {detail}",
            field=names[-1] if names else "",
            row=rows[0] if rows else None,
        ) from exc


def admin_only(ak: Akashi, p: Principal, action: str, client: str, target: str = "") -> None:
    """Refuse non-admins, auditing the refusal in its own transaction."""
    if p.role == "admin":
        return
    audit_now(
        ak.engine,
        user=p.name,
        action=action,
        target_type="config",
        target_id=target,
        outcome="denied",
        client=client,
    )
    raise AccessDenied("管理者のみ設定を変更できます", "only admins may change the configuration")


def _reload(ak: Akashi) -> None:
    """Take the written file (and the environment) into the running app."""
    home = ak.settings.home
    ak.settings = load_settings(home)


def _saved(
    ak: Akashi,
    s: Session,
    p: Principal,
    client: str,
    target: str,
    detail: dict[str, Any],
    action: str = "config_change",
) -> None:
    """After a write to akashi.toml: reload the settings in force and audit the change."""
    _reload(ak)
    audit(s, user=p.name, action=action, target_type="config", target_id=target, client=client, detail=detail)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeError as exc:
        raise ConfigError("文字を UTF-8 にできません", "text is not valid Unicode") from exc


def notice_lint(text: str) -> list[dict[str, str]]:
    """The notice guidance findings of ``text`` (warnings first)."""

    return [{"code": m.code, "level": m.level, "ja": m.ja, "en": m.en} for m in lint_notice(text, None)]


def save_notice(
    ak: Akashi, s: Session, p: Principal, name: str, body: NoticeIn, client: str
) -> dict[str, Any]:
    """Set a notice's mode and text; returns its lint findings."""
    admin_only(ak, p, "config_change", client, f"announcements.{name}")
    if not name or len(name) > 64 or not name.replace("_", "").replace("-", "").isalnum():
        raise ConfigError(f"告知名 {name!r} は使えません", f"announcement name {name!r} is not allowed")
    _check_text(body.text)
    writer.set_announcement(ak.settings.home, name, mode=body.mode, text=body.text)
    _saved(ak, s, p, client, f"announcements.{name}", {"mode": body.mode, "text": body.text})
    return {"name": name, "lint": notice_lint(body.text)}


def kept_route_settings(saved: Sequence[RouteSettings], origin: str, match: str) -> dict[str, Any]:
    """The settings the admin's route table does not show, from the saved route a row came from.

    ``origin`` is the row's position when the page was drawn (empty for a new row); a form without
    it (an older page) is matched on the dialled number instead.
    """
    found = saved[int(origin)] if origin.isdigit() and int(origin) < len(saved) else None
    if found is None and not origin:
        found = next((r for r in saved if r.match == match), None)
    if found is None:
        return {}
    return found.model_dump(exclude=set(ROUTE_FORM_FIELDS))


def _ring_secret(secret: str) -> dict[str, str]:
    return {"ring_password": secret} if secret else {}


def save_routes(ak: Akashi, s: Session, p: Principal, body: RoutesIn, client: str) -> None:
    """Replace the inbound routes."""
    admin_only(ak, p, "config_change", client, "sip.routes")
    for r in body.routes:
        for v in [r.match, r.announcement, r.site, *r.ring]:
            _check_text(v)
        if r.announcement not in ak.settings.announcements:
            a = r.announcement
            raise FormError(f"告知 {a} はありません", f"no announcement {a}", field="announcement")
    # the table's columns always, then whatever else differs from its default (None is never written);
    # a blank ring_password keeps the one saved for that number (never shown, like agents' secrets)
    saved = {r.match: r.ring_password.get_secret_value() for r in ak.settings.sip.routes}
    routes = [
        {k: getattr(r, k) for k in ROUTE_FORM_FIELDS}
        | r.model_dump(exclude_defaults=True, exclude_none=True, exclude={"ring_password"})
        | _ring_secret(r.ring_password.get_secret_value() or saved.get(r.match, ""))
        for r in body.routes
    ]
    writer.set_routes(ak.settings.home, routes)
    _saved(
        ak,
        s,
        p,
        client,
        "sip.routes",
        {"routes": [{"match": r["match"], "ring": len(r["ring"])} for r in routes]},
    )


def save_agents(ak: Akashi, s: Session, p: Principal, body: AgentsIn, client: str) -> None:
    """Replace the agents; a blank password keeps the one saved for that SIP user (never shown)."""
    admin_only(ak, p, "config_change", client, "agents")
    users = [a.sip_user for a in body.agents]
    if len(set(users)) != len(users):
        raise FormError("同じ SIP ユーザーが重複しています", "a SIP user appears twice", field="sip_user")
    saved = {a.sip_user: a.password.get_secret_value() for a in ak.settings.agents}
    rows = [
        {
            "name": a.name,
            "sip_user": a.sip_user,
            "site": a.site,
            "password": a.password or saved.get(a.sip_user, ""),
        }
        for a in body.agents
    ]
    writer.set_agents(ak.settings.home, rows)
    _saved(
        ak,
        s,
        p,
        client,
        "agents",
        {"agents": [{"name": r["name"], "sip_user": r["sip_user"], "site": r["site"]} for r in rows]},
    )


def new_agent_secret(ak: Akashi, s: Session, p: Principal, sip_user: str, client: str) -> dict[str, str]:
    """Make a new digest secret for the agent ``sip_user`` and save it; returned once, never shown again.

    Audited as ``agent_secret`` (without the secret). Telephony uses it within seconds (no restart).
    """

    admin_only(ak, p, "agent_secret", client, sip_user)
    if sip_user not in {a.sip_user for a in ak.settings.agents}:
        raise ConfigError(
            f"担当者 {sip_user} は設定にありません", f"no agent {sip_user} in the configuration"
        )
    agent, secret = set_agent_secret(ak.settings.home, sip_user)
    _saved(ak, s, p, client, agent.sip_user, {"name": agent.name}, action="agent_secret")
    return {"name": agent.name, "sip_user": agent.sip_user, "secret": secret}


def save_retention(ak: Akashi, s: Session, p: Principal, body: RetentionIn, client: str) -> None:
    """Set the retention periods."""
    admin_only(ak, p, "config_change", client, "retention")
    writer.set_retention(ak.settings.home, calls_days=body.calls_days, camera_days=body.camera_days)
    _saved(ak, s, p, client, "retention", body.model_dump())


def lexicon_text(ak: Akashi, p: Principal, client: str) -> dict[str, str]:
    """The lexicon TOML in force (the edited copy, else the shipped default) and where it is."""

    admin_only(ak, p, "config_view", client, "analysis.lexicon")
    path = ak.settings.analysis.lexicon
    if path:
        try:
            return {"source": path, "text": Path(path).expanduser().read_text(encoding="utf-8")}
        except (OSError, UnicodeError):
            pass
    return {"source": "default", "text": default_lexicon_text()}


def save_lexicon(ak: Akashi, s: Session, p: Principal, body: LexiconIn, client: str) -> dict[str, Any]:
    """Check the lexicon TOML with the analysis loader, save it as ``<home>/lexicon.toml``, use it."""

    admin_only(ak, p, "lexicon_change", client, "analysis.lexicon")
    _check_text(body.text)
    try:
        doc = tomllib.loads(body.text)
        lex = parse_lexicon(doc, "lexicon.toml")
    except tomllib.TOMLDecodeError as exc:
        raise LexiconError(f"辞書を読めません: {exc}", f"cannot parse the lexicon: {exc}") from exc
    except LexiconError:
        raise
    except (AttributeError, TypeError, ValueError, KeyError) as exc:  # a key of the wrong type
        raise LexiconError(
            f"辞書の形が正しくありません: {exc}", f"the lexicon has the wrong shape: {exc}"
        ) from exc
    path = (ak.settings.home / LEXICON_NAME).resolve()
    writer.write_atomic(path, body.text)
    writer.set_lexicon_path(ak.settings.home, str(path))
    load_lexicon(str(path))  # what analysis will now load
    terms = sum(len(c.terms) for c in lex.categories)
    detail = {"categories": len(lex.categories), "terms": terms}
    _saved(ak, s, p, client, "analysis.lexicon", detail, action="lexicon_change")
    return {"source": str(path), "categories": len(lex.categories), "terms": terms}


def cameras_view(ak: Akashi) -> list[dict[str, Any]]:
    """Cameras of the file and of the database (never their URLs)."""

    try:
        specs = configured_cameras(ak.settings, ak.engine)
    except AkashiError:
        specs = []
    with session_scope(ak.engine) as s:
        extras = {name: extra for name, extra in s.execute(select(Camera.name, Camera.extra))}
    return [
        {
            "name": c.name,
            "site": c.site,
            "segment_seconds": c.segment_seconds,
            "enabled": c.enabled,
            "source": c.source,
            "paused_by": None if c.enabled else paused_by(extras.get(c.name)),
        }
        for c in specs
    ]


def add_camera(ak: Akashi, s: Session, p: Principal, body: CameraIn, client: str) -> None:
    """Add a camera (URL sealed under the installation key)."""

    admin_only(ak, p, "camera_add", client, body.name)
    try:
        _check_text(body.url)
        check_rtsp_url(body.url)
    except ConfigError:
        raise FormError(
            "カメラのURLは rtsp://ホスト/パス の形にしてください",
            "camera URL must look like rtsp://host/path",
            field="url",
        ) from None
    cam_id = records.add_camera(
        ak.settings, ak.engine, name=body.name, url=body.url, site=body.site, seconds=body.segment_seconds
    )
    audit(
        s,
        user=p.name,
        action="camera_add",
        target_type="camera",
        target_id=cam_id,
        client=client,
        detail={"name": body.name, "site": body.site, "segment_seconds": body.segment_seconds},
    )


def remove_camera(ak: Akashi, s: Session, p: Principal, name: str, client: str) -> None:
    """Stop recording a camera added from the browser or the CLI (its footage stays)."""

    admin_only(ak, p, "camera_remove", client, name)
    records.remove_camera(ak.engine, name)
    audit(s, user=p.name, action="camera_remove", target_type="camera", target_id=name, client=client)


def pause_camera(ak: Akashi, s: Session, p: Principal, name: str, paused: bool, client: str) -> None:
    """Pause (``paused=True``) or resume a camera: running camera services stop or start it within seconds."""

    action = "camera_pause" if paused else "camera_resume"
    admin_only(ak, p, action, client, name)
    done = set_paused(ak.settings, ak.engine, name, paused, p.name)
    if done.settings is not None:  # a camera of akashi.toml: the file changed
        _reload(ak)
    audit(
        s,
        user=p.name,
        action=action,
        target_type="camera",
        target_id=done.camera_id,
        client=client,
        detail={"name": name, "source": done.source, "changed": done.changed},
    )
