"""The call list's filters: one set of query parameters for the page ``/calls`` and its refresh ``/calls/rows``.

Both routes take them through :data:`CallFiltersDep`, so a filter added here reaches the page, its links,
its refresh and the refresh's audit entry together. Values are kept as typed: a bad date is shown beside its
field (:meth:`CallFilters.errors`) and filters nothing, an unknown order sorts newest first (never a bare 422).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query

from akashi.db.queries import CallQuery
from akashi.web.schemas import CallOrder
from akashi.web.services.calls import make_query
from akashi.web.services.pagehelpers import date_errors, parse_day, pick_order


@dataclass(frozen=True)
class CallFilters:
    """What the call list was asked to show, as typed in its form (``None``: not asked)."""

    from_: str | None = None
    to: str | None = None
    number: str | None = None
    agent: str | None = None
    site: str | None = None
    flag: str | None = None
    q: str | None = None
    order: str | None = None

    @property
    def chosen_order(self) -> CallOrder:
        """The sort order asked for, or newest first when it is missing or unknown."""
        return pick_order(self.order)

    @property
    def asks_words(self) -> bool:
        """Whether these filters search the words said (a search only content readers may make)."""
        return bool(self.q and self.q.strip())

    @property
    def may_match_later(self) -> bool:
        """Whether a call can come to match these filters later (on flags or words, once analysed)."""
        return bool(self.flag or self.q)

    def errors(self) -> dict[str, tuple[str, str]]:
        """The date fields (by form name) whose value is not a date, each with its message."""
        return date_errors(**{"from": self.from_, "to": self.to})

    def query(self, *, order: str, limit: int, offset: int) -> CallQuery:
        """The search these filters make, sorted by ``order``; a date that is not one filters nothing."""
        return make_query(
            from_=parse_day(self.from_),
            to=parse_day(self.to),
            number=self.number,
            agent=self.agent,
            site=self.site,
            flag=self.flag,
            text=self.q,
            order=order,
            limit=limit,
            offset=offset,
        )

    def form(self) -> dict[str, str]:
        """The values by form name as the page's form shows them ("" when not asked; the order it sorts by)."""
        return {
            "from": self.from_ or "",
            "to": self.to or "",
            "number": self.number or "",
            "agent": self.agent or "",
            "site": self.site or "",
            "flag": self.flag or "",
            "q": self.q or "",
            "order": self.chosen_order.value,
        }


def call_filters(
    from_: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    to: Annotated[str | None, Query(max_length=10)] = None,
    number: Annotated[str | None, Query(max_length=64)] = None,
    agent: Annotated[str | None, Query(max_length=128)] = None,
    site: Annotated[str | None, Query(max_length=64)] = None,
    flag: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    order: Annotated[str | None, Query(max_length=32)] = None,
) -> CallFilters:
    """The call list's filters from the query string (a FastAPI dependency)."""
    return CallFilters(from_, to, number, agent, site, flag, q, order)


CallFiltersDep = Annotated[CallFilters, Depends(call_filters)]
