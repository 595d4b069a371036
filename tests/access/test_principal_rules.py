"""Each scope rule of ``Principal`` has one meaning: its SQL clause selects exactly what its method allows."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from akashi.access.principal import Principal
from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import Camera, Incident, Site


def test_clauses_match_the_methods_for_every_role(sqlite_home: Path) -> None:
    with Akashi.open(sqlite_home) as ak, session_scope(ak.engine) as s:
        tokyo, osaka = Site(name="tokyo-r"), Site(name="osaka-r")
        s.add_all([tokyo, osaka])
        s.flush()
        for site in (tokyo.id, osaka.id, None):
            s.add(Incident(title=f"案件 {site}", created_by="kanri", site_id=site))
            s.add(Camera(name=f"cam-{site}", site_id=site))
        s.flush()
        incidents = list(s.scalars(select(Incident)))
        cameras = list(s.scalars(select(Camera)))
        first = incidents[0].id
        people = [
            Principal(1, "admin", "admin", None),
            Principal(2, "kansa", "auditor", None),
            Principal(3, "boss", "manager", frozenset({tokyo.id})),
            Principal(4, "nobody", "manager", frozenset()),
            Principal(5, "op", "operator", frozenset({tokyo.id})),
            Principal(6, "bengoshi", "counsel", frozenset(), None, frozenset({first})),
            Principal(7, "bengoshi2", "counsel", frozenset()),
        ]
        for p in people:
            by_sql = set(s.scalars(select(Incident.id).where(p.incidents_clause())))
            assert by_sql == {i.id for i in incidents if p.may_view_incident(i)}, p.name
            by_sql = set(s.scalars(select(Camera.id).where(p.cameras_clause())))
            assert by_sql == {c.id for c in cameras if p.may_view_camera(c)}, p.name
        assert {i.id for i in incidents if people[5].may_view_incident(i)} == {first}
        assert not any(people[4].may_view_camera(c) for c in cameras)  # operators browse no cameras
