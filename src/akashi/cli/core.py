"""Foundation commands: init, user, site, import, calls, verify, export, hold, retention, serve."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import typer
from sqlalchemy import select

from akashi.access import hash_password
from akashi.access.evidence import readable_facts
from akashi.access.passwords import MIN_LENGTH
from akashi.access.search import audited_search
from akashi.calls import call_facts
from akashi.cli.apps import (
    IMPORT_NOTICE_MODES,
    app,
    calls_app,
    emit,
    export_app,
    hold_app,
    import_app,
    log_to_stderr,
    open_akashi,
    principal_for,
    site_app,
    state,
    user_app,
)
from akashi.config import resolve_home
from akashi.db.base import session_scope
from akashi.db.models import ROLES, Agent, Site, User
from akashi.db.queries import CallQuery
from akashi.errors import AkashiError, ConfigError


def parse_time(value: str | None, name: str) -> datetime | None:
    """ISO 8601; a time without zone is Japan time (JST, +09:00)."""
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise ConfigError(
            f"{name} の日時が読めません: {value}", f"{name}: not an ISO 8601 time: {value}"
        ) from None
    if t.tzinfo is None:
        from zoneinfo import ZoneInfo

        t = t.replace(tzinfo=ZoneInfo("Asia/Tokyo"))
    return t.astimezone(UTC)


@app.command()
def init(home: Path | None = typer.Option(None, "--home", help="Where to create the home")) -> None:
    """Akashi のホームを作成（設定・鍵・データベース）/ create the Akashi home (config, keys, database)."""
    from akashi.setup import init_home

    root = resolve_home(home or state.home)
    wrote = init_home(root)
    emit(
        None,
        False,
        (
            f"作成しました / created: {root}"
            if wrote
            else f"既存のホームを確認しました / checked existing home: {root}"
        ),
    )
    from akashi.cli.firstrun import next_step_text
    from akashi.config import load_settings
    from akashi.db.base import make_engine
    from akashi.firstrun import needs_setup

    engine = make_engine(load_settings(root).database_url)
    try:
        emit(None, False, next_step_text(not needs_setup(engine)))
    finally:
        engine.dispose()


# --- users and sites ----------------------------------------------------------------------------
@user_app.command("add")
def user_add(
    name: str,
    role: str = typer.Option(..., "--role", help="admin | manager | operator | auditor | counsel"),
    site: list[str] = typer.Option([], "--site", help="Site name (repeatable); created if missing"),
    agent: str | None = typer.Option(None, "--agent", help="Agent name of an operator (default: NAME)"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input"
    ),
) -> None:
    """利用者を追加 / add a user."""
    if role not in ROLES:
        raise ConfigError(
            f"役割は {', '.join(ROLES)} のいずれかです: {role}",
            f"role must be one of {', '.join(ROLES)}: {role}",
        )
    if not password_stdin:
        raise ConfigError(
            "--password-stdin でパスワードを渡してください", "pass the password with --password-stdin"
        )
    password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < MIN_LENGTH:
        raise ConfigError(
            f"パスワードは {MIN_LENGTH} 文字以上にしてください",
            f"password must be at least {MIN_LENGTH} characters",
        )
    from akashi.access import audit
    from akashi.db.queries import site_id_for
    from akashi.ingest import agent_for

    ak = open_akashi()
    with session_scope(ak.engine) as s:
        if s.scalar(select(User).where(User.name == name)) is not None:
            raise AkashiError(f"利用者 {name} は既にいます", f"user {name} already exists")
        sites = [s.get(Site, site_id_for(s, n)) for n in site]
        agent_id = None
        if role == "operator":
            ag = agent_for(s, agent or name, "", sites[0].id if sites and sites[0] else None)
            agent_id = ag.id if ag else None
        user = User(name=name, role=role, password_hash=hash_password(password), agent_id=agent_id)
        user.sites = [x for x in sites if x is not None]
        s.add(user)
        audit(
            s,
            user="cli",
            action="user_add",
            target_type="user",
            target_id=name,
            detail={"role": role, "sites": site},
        )
    emit(None, False, f"利用者を追加しました / user added: {name} ({role})")


@user_app.command("list")
def user_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """利用者の一覧 / list users."""
    ak = open_akashi()
    with session_scope(ak.engine) as s:
        users = [
            {"name": u.name, "role": u.role, "sites": [x.name for x in u.sites], "disabled": u.disabled}
            for u in s.scalars(select(User).order_by(User.name))
        ]
    emit(users, as_json, "\n".join(f"{u['name']}\t{u['role']}\t{','.join(u['sites'])}" for u in users))  # type: ignore[arg-type]


@site_app.command("add")
def site_add(name: str, label: str = typer.Option("", "--label")) -> None:
    """拠点を追加 / add a site."""
    from akashi.db.queries import site_id_for

    ak = open_akashi()
    with session_scope(ak.engine) as s:
        sid = site_id_for(s, name)
        site = s.get(Site, sid)
        if site is not None and label:
            site.label = label
    emit(None, False, f"拠点 / site: {name}")


@site_app.command("list")
def site_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """拠点の一覧 / list sites."""
    ak = open_akashi()
    with session_scope(ak.engine) as s:
        sites = [{"name": x.name, "label": x.label} for x in s.scalars(select(Site).order_by(Site.name))]
    emit(sites, as_json, "\n".join(f"{x['name']}\t{x['label']}" for x in sites))


# --- calls --------------------------------------------------------------------------------------
@import_app.command("call")
def import_call(
    file: Path = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        help="WAV, MP3 or M4A: mono, or stereo (left customer, right operator)",
    ),
    caller: str = typer.Option(..., "--caller"),
    dialled: str = typer.Option("", "--dialled"),
    agent: str = typer.Option("", "--agent"),
    site: str = typer.Option("", "--site"),
    started: str | None = typer.Option(None, "--started", help="ISO 8601 (no zone: JST)"),
    direction: str = typer.Option("in", "--direction", help="in | out"),
    notice: str = typer.Option(
        "operator",
        "--notice",
        help="録音告知の方式 / how the recording notice was given: operator | automatic | none "
        "(old recorders had no automatic notice: operator)",
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """既存の録音を通話として取り込む / import an existing recording as a call."""
    from akashi.calloutcome import CallOutcome
    from akashi.cli.bulkimport import ingest_file

    if direction not in ("in", "out"):
        raise ConfigError(
            f"--direction は in か out です: {direction}", f"--direction must be in or out: {direction}"
        )
    if notice not in IMPORT_NOTICE_MODES:
        raise ConfigError(
            f"--notice は operator・automatic・none のいずれかです: {notice}",
            f"--notice must be operator, automatic or none: {notice}",
        )
    start = parse_time(started, "--started") or datetime.fromtimestamp(file.stat().st_mtime, UTC)
    ak = open_akashi()
    rec = CallOutcome(
        started_at=start,
        direction="in" if direction == "in" else "out",
        caller=caller,
        dialled=dialled,
        answered_at=start,
        agent=agent,
        site=site,
        source="import",
        notice_mode=notice,
    )
    call_id = ingest_file(ak, file, rec)  # WAV, or MP3/M4A kept as received
    ak.store.flush_spool()
    emit({"id": call_id}, as_json, f"取り込みました / imported: call {call_id}")


@calls_app.command("search")
def calls_search(
    from_: str | None = typer.Option(None, "--from", help="ISO 8601 (no zone: JST)"),
    to: str | None = typer.Option(None, "--to"),
    number: str | None = typer.Option(None, "--number", help="Any part of caller or dialled number"),
    agent: str | None = typer.Option(None, "--agent"),
    site: str | None = typer.Option(None, "--site"),
    flag: str | None = typer.Option(None, "--flag", help="Flag category, e.g. 脅迫"),
    text: str | None = typer.Option(None, "--text", help="Words said"),
    limit: int = typer.Option(100, "--limit", min=1, max=1000),
    as_user: str | None = typer.Option(None, "--as", help="Search as this user (their permissions)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """通話を検索 / search calls."""
    who = principal_for(as_user)
    ak = open_akashi()
    reading = ""
    if text:
        from akashi.analysis.text import search_reading

        reading = search_reading(text)
    q = CallQuery(
        text_reading=reading,
        from_=parse_time(from_, "--from"),
        to=parse_time(to, "--to"),
        number=number,
        agent=agent,
        site=site,
        flag=flag,
        text=text,
        limit=limit,
    )
    with session_scope(ak.engine) as s:
        rows, total = audited_search(s, who, q, client="cli", via="cli")
        data = [readable_facts(who, call_facts(s, c)) for c in rows]
    lines = [
        f"{d['id']}\t{d['started_at']}\t{d['direction']}\t{d['caller']}\t{d['dialled']}\t{d['agent']}\t"
        f"{d['site'] or ''}\t{d['duration_s']:.0f}s\t{','.join(d['flags'])}"
        for d in data
    ]
    emit({"total": total, "calls": data}, as_json, "\n".join([*lines, f"{total} 件 / calls"]))


@calls_app.command("show")
def calls_show(
    call_id: int,
    as_user: str | None = typer.Option(None, "--as"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """通話の詳細（文字起こし・フラグ付き）/ show a call with transcript and flags."""
    from akashi.access.evidence import readable_facts, view_call

    who = principal_for(as_user)
    ak = open_akashi()
    with session_scope(ak.engine) as s:
        call = view_call(ak, s, who, call_id, "cli")
        data = readable_facts(who, call_facts(s, call, with_transcript=who.can_read_content))
    text = "\n".join(f"{k}: {v}" for k, v in data.items() if k not in ("transcript", "flag_details"))
    for seg in data.get("transcript", []):
        text += f"\n[{seg['start_s']:7.1f}s {seg['channel']}] {seg['text']}"
    emit(data, as_json, text)


# --- evidence -----------------------------------------------------------------------------------
@app.command()
def verify(as_json: bool = typer.Option(False, "--json")) -> None:
    """保存された証拠と台帳を検証 / verify every stored object and the ledger (exit 1 on any problem)."""
    from akashi.access import audit

    ak = open_akashi()
    report = ak.store.verify()  # the audit log and its head anchors included
    data = report.as_dict()
    audit_problems = [{"kind": p.kind, "seq": p.seq} for p in report.problems if p.kind.startswith("audit_")]
    data["audit_problems"] = audit_problems
    ok = report.ok
    data["ok"] = ok
    with session_scope(ak.engine) as s:
        audit(
            s,
            user="cli",
            action="verify",
            outcome="ok" if ok else "failed",
            detail={
                "checked": data.get("checked"),
                "problems": len(data.get("problems", [])),
            },
        )
    if as_json:
        emit(data, True)
    else:
        emit(None, False, str(report))
    raise typer.Exit(0 if ok else 1)


@export_app.command("call")
def export_call_cmd(
    call_id: int,
    out: Path = typer.Option(..., "--out", help="FILE.zip"),
    as_user: str | None = typer.Option(
        None, "--as", help="Export as this user (permission checked, audited)"
    ),
) -> None:
    """通話の証拠パッケージを作成 / write the evidence package of a call."""
    from akashi.access import export_call

    who = principal_for(as_user)
    ak = open_akashi()
    path = export_call(ak, who, call_id, out, client="cli")
    emit(None, False, f"証拠パッケージ / evidence package: {path}")


@hold_app.command("add")
def hold_add(
    call_id: int,
    reason: str = typer.Option(..., "--reason"),
    as_user: str | None = typer.Option(None, "--as"),
) -> None:
    """通話を訴訟ホールド（削除禁止）にする / put a call's recording under legal hold."""
    _hold(call_id, reason, as_user, True)


@hold_app.command("release")
def hold_release(
    call_id: int,
    reason: str = typer.Option(..., "--reason"),
    as_user: str | None = typer.Option(None, "--as"),
) -> None:
    """訴訟ホールドを解除 / release a legal hold."""
    _hold(call_id, reason, as_user, False)


def _hold(call_id: int, reason: str, as_user: str | None, on: bool) -> None:
    """Change the hold through the access layer: permission checked, audited (refusals too)."""
    from akashi.access.holds import change_call_hold

    who = principal_for(as_user)
    ak = open_akashi()
    with session_scope(ak.engine) as s:
        change_call_hold(ak, s, who, call_id, on, reason, "cli")
    emit(None, False, f"{'ホールドしました / held' if on else '解除しました / released'}: call {call_id}")


@app.command()
def retention(dry_run: bool = typer.Option(False, "--dry-run")) -> None:
    """保存期間を過ぎた記録を削除（ホールド中は除く）/ apply retention now (held evidence is kept)."""
    ak = open_akashi()
    if dry_run:
        from akashi.db.models import EvidenceObject

        with session_scope(ak.engine) as s:
            now = datetime.now(UTC)
            due = s.scalars(
                select(EvidenceObject.id).where(
                    EvidenceObject.state == "stored",
                    EvidenceObject.legal_hold.is_(False),
                    EvidenceObject.retain_until < now,
                )
            ).all()
        emit(None, False, f"削除予定 / due: {len(due)}")
        return
    from akashi.cameras.retention import apply_camera_holds

    apply_camera_holds(ak)  # footage inside open incidents is held first
    deleted = ak.store.apply_retention()
    emit(None, False, f"削除しました / deleted: {len(deleted)}")


@app.command()
def agents(as_json: bool = typer.Option(False, "--json")) -> None:
    """応対者の一覧 / list agents."""
    ak = open_akashi()
    with session_scope(ak.engine) as s:
        rows = [
            {"name": a.name, "sip_user": a.sip_user} for a in s.scalars(select(Agent).order_by(Agent.name))
        ]
    emit(rows, as_json, "\n".join(f"{r['name']}\t{r['sip_user'] or ''}" for r in rows))


@app.command()
def serve(
    web: bool | None = typer.Option(None, "--web/--no-web", help="Run the web app (default: web.enabled)"),
    workers: int | None = typer.Option(None, "--workers", min=0, help="Job worker threads"),
    only: str | None = typer.Option(
        None,
        "--only",
        help="Run only these roles, comma-separated: telephony, cameras, worker, web (default: all)",
    ),
) -> None:
    """有効な機能をすべて起動 / run everything that is enabled (web, jobs, telephony, cameras)."""

    from akashi.serve import parse_roles
    from akashi.serve import serve as run

    roles = parse_roles(only) if only is not None else None
    if roles is not None and web is not None:
        raise ConfigError(
            "--only と --web/--no-web は同時に使えません（--only に web を含めるかどうかで指定）",
            "use --only or --web/--no-web, not both (name web in --only or leave it out)",
        )
    log_to_stderr()
    ak = open_akashi()
    if roles is None or "web" in roles:
        emit(None, False, f"Akashi を起動します / starting: http://{ak.settings.web.listen}")
    else:
        named = ", ".join(sorted(roles))
        emit(None, False, f"Akashi を起動します（{named}）/ starting: {named}")
    run(ak, web=web, workers=workers, roles=roles)


@app.command("ledger-accept-head")
def ledger_accept_head(
    reason: str = typer.Option(..., "--reason", help="Why (e.g. 'restored the 2026-11-28 backup')"),
    yes: bool = typer.Option(False, "--yes", help="Confirm"),
) -> None:
    """バックアップ復元後に台帳の末尾を承認（監査記録）/ accept the ledger head after restoring a backup (audited)."""
    from akashi.access import audit

    if not yes:
        raise ConfigError(
            "復元を意図した場合だけ --yes を付けて実行してください",
            "run with --yes only after restoring a database backup on purpose",
        )
    from akashi.cli.checkpoint import checkpoint_now
    from akashi.store.checkpoint import anchored_ledger_head

    ak = open_akashi()
    before = anchored_ledger_head(ak.store)  # the head being replaced: the checkpoint keeps it for verify
    head = ak.store.accept_ledger_head()
    with session_scope(ak.engine) as s:
        audit(
            s,
            user="cli",
            action="ledger_accept_head",
            target_type="ledger",
            target_id=str(head[0] if head else 0),
            detail={"reason": reason, "head": list(head) if head else None, "from": before},
        )
    # Checkpointed at once, outside the box: accepting a shorter ledger cannot hide the rows it lost.
    accepted = {"from": before, "to": {"seq": head[0], "hash": head[1]} if head else None, "reason": reason}
    out = checkpoint_now(ak, "accept", user="cli", accepted=accepted)
    emit(None, False, f"台帳の末尾を承認しました / ledger head accepted: {head}\n{out['text']}")
    if not out["ok"]:
        raise typer.Exit(1)
