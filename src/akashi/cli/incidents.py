"""``akashi incident grant|revoke|grants``: incident-scoped access for counsel, audited."""

from __future__ import annotations

import typer

from akashi.access import Principal, load_principal
from akashi.access.grants import grant_incident, list_grants, parse_until, revoke_grants
from akashi.cli.apps import app, emit, open_akashi
from akashi.db.base import session_scope

incident_app = typer.Typer(help="案件 / incidents", no_args_is_help=True)
app.add_typer(incident_app, name="incident")


def _who(as_user: str | None) -> Principal:
    if as_user is None:
        return Principal.system("cli")
    ak = open_akashi()
    with session_scope(ak.engine) as s:
        return load_principal(s, as_user)


@incident_app.command("grant")
def incident_grant(
    incident_id: int = typer.Argument(..., min=1),
    user: str = typer.Argument(..., help="User with the role counsel"),
    until: str = typer.Option(..., "--until", help="YYYY-MM-DD (through that JST day) or ISO 8601 time"),
    as_user: str | None = typer.Option(None, "--as", help="Grant as this user (admin or the site's manager)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """案件の閲覧・再生・書き出しを期限付きで許可（監査記録）/ grant a counsel user one incident until a date."""
    who = _who(as_user)
    ak = open_akashi()
    t = parse_until(until)
    with session_scope(ak.engine) as s:
        grant_id = grant_incident(s, who, incident_id, user, t, "cli")
    emit(
        {"grant": grant_id, "incident": incident_id, "user": user, "until": t.isoformat()},
        as_json,
        f"許可しました / granted: {user} → 案件 / incident {incident_id} (until {t.isoformat()})",
    )


@incident_app.command("revoke")
def incident_revoke(
    incident_id: int = typer.Argument(..., min=1),
    user: str = typer.Argument(...),
    as_user: str | None = typer.Option(None, "--as"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """案件の許可を取消（監査記録）/ revoke a user's access to an incident now."""
    who = _who(as_user)
    ak = open_akashi()
    with session_scope(ak.engine) as s:
        n = revoke_grants(s, who, incident_id, user, "cli")
    emit({"revoked": n}, as_json, f"取り消しました / revoked: {n}")


@incident_app.command("grants")
def incident_grants(
    incident_id: int = typer.Argument(..., min=1),
    as_user: str | None = typer.Option(None, "--as"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """案件の許可の一覧 / list who was granted an incident, until when."""
    who = _who(as_user)
    ak = open_akashi()
    with session_scope(ak.engine) as s:
        rows = [
            {
                "id": g.id,
                "user": g.user,
                "until": g.until.isoformat(),
                "granted_by": g.granted_by,
                "revoked_at": g.revoked_at.isoformat() if g.revoked_at else None,
                "active": g.active,
            }
            for g in list_grants(s, who, incident_id)
        ]
    emit(
        rows,
        as_json,
        "\n".join(f"{r['user']}\t{r['until']}\t{'active' if r['active'] else 'ended'}" for r in rows)
        or "なし / none",
    )


incidents_app = typer.Typer(help="案件の一覧 / incidents (list)", no_args_is_help=True)
app.add_typer(incidents_app, name="incidents")


@incidents_app.command("list")
def incidents_list(
    status: str | None = typer.Option(None, "--status", help="open | closed"),
    limit: int = typer.Option(200, "--limit", min=1, max=5000),
    as_user: str | None = typer.Option(None, "--as", help="List as this user (their sites)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """案件の一覧（新しい順）/ list incidents, newest first, with their calls and camera ranges."""
    from sqlalchemy import func, select

    from akashi.db.models import Incident, IncidentItem, Site

    who = _who(as_user)
    ak = open_akashi()
    with session_scope(ak.engine) as s:
        stmt = select(Incident).where(who.incidents_clause()).order_by(Incident.id.desc()).limit(limit)
        if status:
            stmt = stmt.where(Incident.status == status)
        incidents = list(s.scalars(stmt))
        sites: dict[int, str] = {k: v for k, v in s.execute(select(Site.id, Site.name))}
        counts = {
            (int(iid), bool(kind)): int(n)
            for iid, kind, n in s.execute(
                select(
                    IncidentItem.incident_id,
                    IncidentItem.camera_id.is_not(None),
                    func.count(),
                )
                .where(IncidentItem.incident_id.in_([i.id for i in incidents]))
                .group_by(IncidentItem.incident_id, IncidentItem.camera_id.is_not(None))
            )
        }
        rows = [
            {
                "id": i.id,
                "title": i.title,
                "status": i.status,
                "site": sites.get(i.site_id) if i.site_id else None,
                "legal_hold": i.legal_hold,
                "created_by": i.created_by,
                "created_at": i.created_at.isoformat(),
                "calls": counts.get((i.id, False), 0),
                "camera_ranges": counts.get((i.id, True), 0),
            }
            for i in incidents
        ]
    lines = [
        f"{r['id']}\t{r['created_at']}\t{r['status']}\t{r['site'] or ''}\t"
        f"{'hold' if r['legal_hold'] else ''}\t{r['calls']} calls\t{r['camera_ranges']} ranges\t{r['title']}"
        for r in rows
    ]
    emit(rows, as_json, "\n".join([*lines, f"{len(rows)} 件 / incidents"]))
