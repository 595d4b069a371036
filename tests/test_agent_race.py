"""Two calls of the same new phone stored at once: the second finds the agent the first created.

Both storing transactions looked for the agent before either wrote it; the second one's insert then hit
the unique SIP user and the call's storing failed (its spool kept for the next start). Here the second
writer's first looks are made stale on purpose: a session whose lookups miss a row already there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import Agent
from akashi.ingest import agent_for


class StaleFirstLooks(Session):
    """A session whose first two ``scalar`` calls (by SIP user, then by name) answer None, as reads made
    before the other writer committed."""

    stale = 2

    def scalar(self, *args: Any, **kwargs: Any) -> Any:
        if self.stale:
            self.stale -= 1
            return None
        return super().scalar(*args, **kwargs)


def test_an_agent_created_meanwhile_is_found_not_inserted_twice(home: Path) -> None:
    with Akashi.open(home) as ak:
        with session_scope(ak.engine) as s:
            first = agent_for(s, "佐藤 花子", "1001", None)
            assert first is not None
            first_id = first.id
        with StaleFirstLooks(ak.engine) as s, s.begin():
            again = agent_for(s, "佐藤 花子", "1001", None)
            assert s.stale == 0 and again is not None and again.id == first_id
        with session_scope(ak.engine) as s:
            assert len(list(s.scalars(select(Agent)))) == 1
