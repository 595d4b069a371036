"""``akashi agent``: list agents, rename one, merge an auto-created agent into the real one (audited)."""

from __future__ import annotations

import typer

from akashi.cli.apps import emit, open_akashi, principal_for
from akashi.cli.telephony import agent_app
from akashi.db.base import session_scope

AS_USER = typer.Option(
    None, "--as-user", help="Act as this admin (default: the installation, audited as cli)"
)


@agent_app.command("list")
def agent_list(as_json: bool = typer.Option(False, "--json"), as_user: str | None = AS_USER) -> None:
    """担当者の一覧（自動作成を先に）/ list agents, auto-created ones first."""
    from akashi.access.agents import list_agents

    principal = principal_for(as_user)
    ak = open_akashi()
    with session_scope(ak.engine) as s:
        rows = list_agents(s, principal)
    data = [
        {"id": r.id, "name": r.name, "sip_user": r.sip_user, "site": r.site, "calls": r.calls, "auto": r.auto}
        for r in rows
    ]
    text = "\n".join(
        f"{r.id}\t{r.name}\t{r.sip_user or '-'}\t{r.site or '-'}\t{r.calls}\t{'自動 / auto' if r.auto else ''}"
        for r in rows
    )
    emit(data, as_json, text or "担当者はいません / no agents")


@agent_app.command("rename")
def agent_rename(
    agent: str = typer.Argument(..., help="Name or SIP user of the agent"),
    new_name: str = typer.Argument(..., help="Its real name"),
    as_user: str | None = AS_USER,
) -> None:
    """担当者の名前を変更 / rename an agent (its calls show the new name)."""
    from akashi.access.agents import rename_agent

    principal = principal_for(as_user)
    ak = open_akashi()
    with session_scope(ak.engine) as s:
        row = rename_agent(s, principal, agent, new_name, "cli")
        name = row.name
    emit(None, False, f"担当者の名前を変更しました / agent renamed: {agent} → {name}")


@agent_app.command("merge")
def agent_merge(
    source: str = typer.Argument(..., help="The agent to merge away (name or SIP user, e.g. 202)"),
    target: str = typer.Argument(..., help="The agent that keeps the calls (name or SIP user)"),
    as_user: str | None = AS_USER,
) -> None:
    """担当者を統合（通話を移して元を削除）/ merge an agent into another: its calls move, it is removed."""
    from akashi.access.agents import merge_agents

    principal = principal_for(as_user)
    ak = open_akashi()
    with session_scope(ak.engine) as s:
        row = merge_agents(s, principal, source, target, "cli")
        name = row.name
    emit(None, False, f"担当者を統合しました / agents merged: {source} → {name}")
