"""The states of a call and the transitions between them.

::

    Offered ──► Noticing ──► Ringing ──► Bridged ──► Ending ──► Done
       │            │            │                     ▲
       └────────────┴────────────┴─────────────────────┘   (refused, cancelled, missed, failed)

An inbound call with an automatic notice is answered and goes through ``Noticing``; one without
goes straight to ``Ringing``. An outbound call rings the trunk first and plays its notice to the
customer once the customer has answered (``Ringing → Noticing → Bridged``). Any live state may end.
"""

from __future__ import annotations

import enum

from akashi.errors import AkashiError


class CallState(enum.Enum):
    """Where a call is."""

    #: the INVITE arrived: the offer is checked, media ports and the spool opened
    OFFERED = "offered"
    #: the notice plays to the customer
    NOTICING = "noticing"
    #: the operators' phones (or the trunk) ring
    RINGING = "ringing"
    #: both sides talk through Akashi
    BRIDGED = "bridged"
    #: the call is over (hung up, refused, timed out): legs are being closed
    ENDING = "ending"
    #: closed and handed to the store
    DONE = "done"


#: the states a call may move to from each state
TRANSITIONS: dict[CallState, frozenset[CallState]] = {
    CallState.OFFERED: frozenset({CallState.NOTICING, CallState.RINGING, CallState.ENDING}),
    CallState.NOTICING: frozenset({CallState.RINGING, CallState.BRIDGED, CallState.ENDING}),
    CallState.RINGING: frozenset({CallState.NOTICING, CallState.BRIDGED, CallState.ENDING}),
    CallState.BRIDGED: frozenset({CallState.ENDING}),
    CallState.ENDING: frozenset({CallState.DONE}),
    CallState.DONE: frozenset(),
}

#: the states of a call still alive (not ending or done)
LIVE = frozenset({CallState.OFFERED, CallState.NOTICING, CallState.RINGING, CallState.BRIDGED})


class IllegalTransition(AkashiError):
    """A call was asked to move to a state it cannot reach from where it is: a bug in call control."""

    def __init__(self, current: CallState, new: CallState) -> None:
        super().__init__(
            f"通話の状態を {current.value} から {new.value} に変えられません",
            f"a call cannot move from {current.value} to {new.value}",
        )
        self.current = current
        self.new = new


def advance(current: CallState, new: CallState) -> CallState:
    """``new`` when the call may move there from ``current``; :class:`IllegalTransition` otherwise."""
    if new not in TRANSITIONS[current]:
        raise IllegalTransition(current, new)
    return new
