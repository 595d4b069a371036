"""Live protection interface between telephony, the board and live detection (issue 14).

The telephony service publishes what happens on a live call (started, answered, a detection flag, a
protection key press, a warning played, a long call, ended) and, every ~0.5 s, exchanges them for the
commands an operator's supervisor pressed on the board (warn, end). The database-backed implementation
lives in ``akashi.access.live``; :class:`NullLiveLink` is the default when nothing is wired.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

LiveEventKind = Literal["started", "answered", "flag", "key", "warning", "long_call", "ended"]
LiveAction = Literal["warn", "end"]


@dataclass(frozen=True)
class LiveEvent:
    """One thing that happened on a live call, keyed by the caller's SIP Call-ID."""

    call_id: str
    kind: LiveEventKind
    at: float
    site: str = ""
    caller: str = ""
    agent: str = ""
    direction: str = "in"
    detail: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LiveCommand:
    """A board action on a live call: ``warn`` plays the warning, ``end`` ends the call."""

    id: int
    call_id: str
    action: LiveAction
    by: str


class LiveLink(Protocol):
    """How the telephony service talks to the board (possibly in another process or host)."""

    def publish(self, event: LiveEvent) -> None:
        """Queue ``event``; non-blocking and thread-safe."""
        ...

    def exchange(self, live_calls: Sequence[str]) -> list[LiveCommand]:
        """Write queued events, then return (and mark taken) commands for ``live_calls``; blocking."""
        ...


class NullLiveLink:
    """A link to nowhere: publishes nothing and never has a command."""

    def publish(self, event: LiveEvent) -> None:
        """Drop ``event``."""

    def exchange(self, live_calls: Sequence[str]) -> list[LiveCommand]:
        """Return no commands."""
        return []


def flag_detail(severity: str, text: str, at: float, categories: Sequence[str] = ()) -> dict[str, str]:
    """A live flag's detail for the board: its severity, the words heard (at most 300 characters), when they
    ended (``said_at``, epoch seconds: the board's alert latency is measured from it) and what was found
    (``category``: 脅迫, 暴言..., several joined by 「、」)."""
    detail = {"severity": severity, "text": text[:300], "said_at": f"{at:.3f}"}
    if categories:
        detail["category"] = "、".join(dict.fromkeys(categories))
    return detail
