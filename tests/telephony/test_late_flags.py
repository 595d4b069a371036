"""Live flags that come after the call ended (:class:`akashi.telephony.desk.Ended`): still on the board,
marked ``after_end``, without the warn button; forgotten after a while; unknown calls stay unknown."""

from __future__ import annotations

from akashi.telephony import desk
from akashi.telephony.live import LiveEvent
from akashi.telephony.recorder import CallMeta


class Link:
    def __init__(self) -> None:
        self.events: list[LiveEvent] = []

    def publish(self, event: LiveEvent) -> None:
        self.events.append(event)

    def exchange(self, live_calls: object) -> list[object]:
        return []


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


META = CallMeta(started_at=1_796_000_000.0, site="tokyo", caller="0901234567",
                agent="佐藤 花子", direction="in")  # fmt: skip


def test_a_flag_after_the_end_goes_to_the_board_without_asking() -> None:
    clock, link = Clock(), Link()
    ended = desk.Ended(keep_s=600, clock=clock)
    ended.remember("c-1", META)
    clock.t += 30  # live recognition ran behind the call
    assert ended.flag(link, "c-1", "severe", "土下座しろ", 1_796_000_000.5, ["土下座の要求", "土下座の要求"])
    (ev,) = link.events
    assert (ev.call_id, ev.kind, ev.site, ev.caller, ev.agent, ev.direction) == (
        "c-1",
        "flag",
        "tokyo",
        "0901234567",
        "佐藤 花子",
        "in",
    )
    assert ev.detail == {
        "severity": "severe",
        "text": "土下座しろ",
        "said_at": "1796000000.500",
        "category": "土下座の要求",
        "after_end": "1",
    }  # no "ask": there is no call left to warn
    assert not ended.flag(link, "no-such-call", "severe", "x", 0.0)
    assert len(link.events) == 1


def test_ended_calls_are_forgotten_after_a_while_and_beyond_the_most() -> None:
    clock, link = Clock(), Link()
    ended = desk.Ended(keep_s=600, most=2, clock=clock)
    ended.remember("old", META)
    clock.t += 601
    assert not ended.flag(link, "old", "severe", "殺すぞ", 0.0)
    for cid in ("a", "b", "c"):
        ended.remember(cid, META)
    assert not ended.flag(link, "a", "severe", "殺すぞ", 0.0)  # the oldest of three, over the most (2)
    assert ended.flag(link, "b", "severe", "殺すぞ", 0.0) and ended.flag(link, "c", "mild", "困る", 0.0)
    assert [e.call_id for e in link.events] == ["b", "c"]


def test_a_board_that_is_down_does_not_break_the_flag() -> None:
    class Down(Link):
        def publish(self, event: LiveEvent) -> None:
            raise OSError("database unreachable")

    ended = desk.Ended(clock=Clock())
    ended.remember("c-1", META)
    assert ended.flag(Down(), "c-1", "severe", "殺すぞ", 0.0)
