"""The demo's site 「デモ / Demo」 after the demo's removal: kept, but no longer offered for choosing.

``akashi demo --clear`` removes the demo's calls, camera, operators and footage, but not the site row. The
demo's stored objects stay as ``deleted`` rows with their tombstones, each still pointing at that site,
and each object's ledger ``put`` entry names the site (``site: "demo"``): ``akashi verify`` compares the
two, so deleting the site would make every demo tombstone a mismatch (and the foreign key refuses it).

So the site stays, and the places where people choose a site (the call list's filter, a new incident, the
admin's list of sites) leave it out once nothing but tombstones refer to it. A later demo brings it back.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from akashi.db.models import Agent, Call, Camera, Incident, Site, UserSite
from akashi.db.models_live import LiveCall

#: the site the demo's calls and camera belong to (here, not in ``plan``: the web reads it without the
#: demo's speech and audio modules)
DEMO_SITE = "demo"
DEMO_SITE_LABEL = "デモ / Demo"


def leftover_demo_site(s: Session) -> int | None:
    """The id of the demo's site when only the demo's tombstones still refer to it (else None)."""
    sid = s.scalar(select(Site.id).where(Site.name == DEMO_SITE))
    if sid is None:
        return None
    for model in (Call, Camera, Agent, Incident, LiveCall, UserSite):
        if s.scalar(select(exists().where(model.site_id == sid))):
            return None
    return int(sid)


def offered_sites(s: Session) -> Sequence[Site]:
    """Every site a person may choose from, by ID, without the site a removed demo left behind."""
    gone = leftover_demo_site(s)
    stmt = select(Site).order_by(Site.name)
    if gone is not None:
        stmt = stmt.where(Site.id != gone)
    return s.scalars(stmt).all()
