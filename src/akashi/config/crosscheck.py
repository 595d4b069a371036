"""Checks across sections of ``akashi.toml``: every name a setting refers to exists.

A route naming an announcement that is not defined would answer calls without the recording
notice; a route, agent or camera naming a misspelt site would file its evidence under a new
site nobody is allowed to see. Such a file is refused at load, naming the key at fault, like
:meth:`SipSettings._session_timer` refuses a session timer below its minimum.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from pydantic_core import PydanticCustomError

from akashi.config.cameras import CameraSettings
from akashi.config.core import SiteSettings
from akashi.config.telephony import UNAVAILABLE, AgentSettings, AnnouncementSettings, SipSettings

#: the pydantic error type of a reference to something that is not defined
ERROR_TYPE = "reference"


def _fail(key: str, ja: str, en: str) -> PydanticCustomError:
    return PydanticCustomError(ERROR_TYPE, "{key}: {ja} / {en}", {"key": key, "ja": ja, "en": en})


def _duplicate(names: Iterable[str]) -> str | None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            return n
        seen.add(n)
    return None


class Sections:
    """The sections of the settings that refer to one another (the root model builds it)."""

    def __init__(
        self,
        sip: SipSettings,
        announcements: Mapping[str, AnnouncementSettings],
        agents: Sequence[AgentSettings],
        cameras: Sequence[CameraSettings],
        sites: Sequence[SiteSettings],
    ) -> None:
        self.sip = sip
        self.announcements = announcements
        self.agents = agents
        self.cameras = cameras
        self.sites = sites


def problems(st: Sections) -> Iterator[PydanticCustomError]:
    """Every dangling reference and duplicate name of ``st``, in file order."""
    anns = st.announcements
    defined = ", ".join(sorted(anns)) or "-"
    for i, r in enumerate(st.sip.routes):
        if r.announcement not in anns:
            yield _fail(
                f"sip.routes.{i}.announcement",
                f"告知 {r.announcement!r} は [announcements] にありません（定義済み: {defined}）",
                f"no announcement {r.announcement!r} in [announcements] (defined: {defined})",
            )
        after = r.unavailable_announcement
        if after and after != UNAVAILABLE and after not in anns:
            yield _fail(
                f"sip.routes.{i}.unavailable_announcement",
                f"告知 {after!r} は [announcements] にありません（定義済み: {defined}、組み込み: {UNAVAILABLE}）",
                f"no announcement {after!r} in [announcements] (defined: {defined}; built in: {UNAVAILABLE})",
            )
    outbound_notice = st.sip.outbound_notice or any(a.outbound_notice for a in st.agents)
    if outbound_notice and st.sip.outbound_announcement not in anns:
        name = st.sip.outbound_announcement
        yield _fail(
            "sip.outbound_announcement",
            f"発信時の告知 {name!r} は [announcements] にありません（定義済み: {defined}）",
            f"outbound notice {name!r} is not in [announcements] (defined: {defined})",
        )
    yield from _names(st)
    yield from _sites(st)


def _names(st: Sections) -> Iterator[PydanticCustomError]:
    """Names other settings and the audit refer to must each mean one thing.

    Camera names are checked where cameras start (``configured_cameras``), with the cameras the
    database holds as well, so a duplicate there stops the cameras only.
    """
    for key, what_ja, what_en, names in (
        ("sites", "拠点名", "site name", [x.name for x in st.sites]),
        ("sip.trunks", "トランク名", "trunk name", [t.name for t in st.sip.trunks]),
        ("agents", "担当者の SIP ユーザー", "agent SIP user", [a.sip_user for a in st.agents]),
    ):
        dup = _duplicate(names)
        if dup is not None:
            yield _fail(key, f"{what_ja} {dup!r} が重複しています", f"{what_en} {dup!r} appears twice")


def _sites(st: Sections) -> Iterator[PydanticCustomError]:
    """With ``[[sites]]`` declared, routes, agents and cameras may only name those sites.

    Without any ``[[sites]]`` a site is made the first time a call or camera names it (as
    ``akashi site add`` does), so there is nothing to check against.
    """
    if not st.sites:
        return
    known = {x.name for x in st.sites}
    listed = ", ".join(sorted(known))
    refs = [(f"sip.routes.{i}.site", r.site) for i, r in enumerate(st.sip.routes)]
    refs += [(f"agents.{i}.site", a.site) for i, a in enumerate(st.agents)]
    refs += [(f"cameras.{i}.site", c.site) for i, c in enumerate(st.cameras)]
    for key, site in refs:
        if site and site not in known:
            yield _fail(
                key,
                f"拠点 {site!r} は [[sites]] にありません（定義済み: {listed}）",
                f"no site {site!r} in [[sites]] (defined: {listed})",
            )


def check_references(st: Sections) -> None:
    """Raise the first problem of :func:`problems` (pydantic reports it as a validation error)."""
    for problem in problems(st):
        raise problem
