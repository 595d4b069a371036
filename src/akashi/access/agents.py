"""Agents as the admin sees them: list, rename, and merge an auto-created agent into the real one.

Telephony creates an agent the first time a phone answers that nobody configured: its name is then
the phone's SIP user ("202", often a ring group's number). Once the real agent is configured (or
named by the PBX), the admin renames that agent or merges it into the real one: merging moves its
calls and linked users to the target and removes it. Every change is audited, admins only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from akashi.access.audit import audit
from akashi.access.principal import Principal
from akashi.db.models import Agent, Call, Site, User
from akashi.errors import AccessDenied, AkashiError, NotFoundError

NAME_MAX = 128


@dataclass(frozen=True)
class AgentRow:
    """One agent with how many calls it answered."""

    id: int
    name: str
    sip_user: str
    site: str
    calls: int
    users: int

    @property
    def auto(self) -> bool:
        """Created by telephony with the phone's user as its name (nobody named it yet)."""
        return bool(self.sip_user) and self.name == self.sip_user


def _count(result: Any) -> int:
    """Rows an UPDATE changed."""
    return int(cast("CursorResult[Any]", result).rowcount)


def _require_admin(p: Principal) -> None:
    if p.role != "admin":
        raise AccessDenied("担当者の管理は管理者だけができます", "only admins manage agents")


def list_agents(session: Session, principal: Principal) -> list[AgentRow]:
    """Every agent, auto-created ones first, then by name."""
    _require_admin(principal)
    calls = {k: n for k, n in session.execute(select(Call.agent_id, func.count()).group_by(Call.agent_id))}
    users = {k: n for k, n in session.execute(select(User.agent_id, func.count()).group_by(User.agent_id))}
    sites = {k: n for k, n in session.execute(select(Site.id, Site.name))}
    rows = [
        AgentRow(
            a.id,
            a.name,
            a.sip_user or "",
            sites.get(a.site_id, "") if a.site_id is not None else "",
            calls.get(a.id, 0),
            users.get(a.id, 0),
        )
        for a in session.scalars(select(Agent))
    ]
    return sorted(rows, key=lambda r: (not r.auto, r.name))


def find_agent(session: Session, ref: str | int) -> Agent:
    """An agent by id (an int), or by name, else by SIP user (text: "202" is the agent named or dialled 202)."""
    if isinstance(ref, int):
        agent = session.get(Agent, ref)
    else:
        agent = session.scalar(select(Agent).where(Agent.name == ref))
        if agent is None:
            agent = session.scalar(select(Agent).where(Agent.sip_user == ref))
    if agent is None:
        raise NotFoundError(f"担当者が見つかりません: {ref}", f"no such agent: {ref}")
    return agent


def rename_agent(
    session: Session, principal: Principal, ref: str | int, new_name: str, client: str = ""
) -> Agent:
    """Give an agent its real name; its calls show the new name too (audited)."""
    _require_admin(principal)
    agent = find_agent(session, ref)
    name = new_name.strip()
    if not name or len(name) > NAME_MAX:
        raise AkashiError(
            f"担当者名は 1〜{NAME_MAX} 文字です", f"an agent name is 1 to {NAME_MAX} characters"
        )
    if name == agent.name:
        return agent
    other = session.scalar(select(Agent).where(Agent.name == name))
    if other is not None:
        raise AkashiError(
            f"担当者 {name} は既にいます。統合してください", f"agent {name} already exists: merge instead"
        )
    old = agent.name
    agent.name = name
    session.execute(update(Call).where(Call.agent_id == agent.id).values(agent_name=name))
    audit(
        session,
        user=principal.name,
        action="agent_rename",
        target_type="agent",
        target_id=agent.id,
        client=client,
        detail={"from": old, "to": name, "sip_user": agent.sip_user or ""},
    )
    session.flush()
    return agent


def merge_agents(
    session: Session,
    principal: Principal,
    source: str | int,
    target: str | int,
    client: str = "",
    *,
    by: str = "",
) -> Agent:
    """Move ``source``'s calls and users to ``target`` and remove ``source`` (audited).

    The target keeps its name; it takes the source's SIP user and site when it has none, so the
    phone's next calls go to the target. ``by``: who merged when not a person (telephony's ingest).
    """
    if not by:
        _require_admin(principal)
    src = find_agent(session, source)
    dst = find_agent(session, target)
    if src.id == dst.id:
        raise AkashiError("同じ担当者には統合できません", "cannot merge an agent into itself")
    moved = _count(
        session.execute(
            update(Call).where(Call.agent_id == src.id).values(agent_id=dst.id, agent_name=dst.name)
        )
    )
    users = _count(session.execute(update(User).where(User.agent_id == src.id).values(agent_id=dst.id)))
    sip_user, name, site_id = src.sip_user, src.name, src.site_id
    session.delete(src)
    session.flush()  # the SIP user is unique: free it before the target takes it
    if dst.sip_user is None and sip_user:
        dst.sip_user = sip_user
    if dst.site_id is None:
        dst.site_id = site_id
    audit(
        session,
        user=by or principal.name,
        action="agent_merge",
        target_type="agent",
        target_id=dst.id,
        client=client,
        detail={
            "from": name,
            "from_sip_user": sip_user or "",
            "into": dst.name,
            "calls": moved,
            "users": users,
        },
    )
    session.flush()
    return dst


def adopt_name(session: Session, agent: Agent, name: str) -> Agent:
    """The agent of a phone whose calls now come with a real ``name`` (configuration or the PBX).

    An agent still named after its SIP user (auto-created) takes the name; when an agent of that name
    already exists without a phone (made with ``akashi user add --agent``), the auto-created one is
    merged into it. An agent someone named (renamed or configured) keeps its name: the admin decides.
    """
    if agent.name != agent.sip_user:
        return agent
    named = session.scalar(select(Agent).where(Agent.name == name))
    if named is None:
        old = agent.name
        agent.name = name
        session.execute(update(Call).where(Call.agent_id == agent.id).values(agent_name=name))
        audit(
            session,
            user="telephony",
            action="agent_rename",
            target_type="agent",
            target_id=agent.id,
            detail={"from": old, "to": name, "sip_user": agent.sip_user or "", "why": "configured"},
        )
        session.flush()
        return agent
    if named.sip_user is None:
        return merge_agents(session, Principal.system("telephony"), agent.id, named.id, by="telephony")
    return agent
