"""Calls for the mining tests, added to the web tests' seeded installation (sites tokyo and osaka).

Tokyo: 注文 steady over five weeks, 解約 said in five calls this week only; a caller who called three
times; one long call from a caller whose number is a spreadsheet formula. Osaka: 雨漏り rising, a
repeat caller of its own, 脅迫 flags and a long call. Nothing of osaka may ever be counted for tokyo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from akashi.context import Akashi
from akashi.db.base import session_scope
from akashi.db.models import Call, CallFlag, Site
from akashi.db.models_analysis import CallKeyword

TOKYO_REPEAT = "03-7777-0000"
OSAKA_REPEAT = "06-9999-0000"
FORMULA_CALLER = '=HYPERLINK("http://evil.example/","請求書")'


@dataclass
class MiningCalls:
    """What was added, by site."""

    ids: dict[str, list[int]] = field(default_factory=lambda: {"tokyo": [], "osaka": []})
    flagged: dict[str, int] = field(default_factory=lambda: {"tokyo": 0, "osaka": 0})


def add_mining_calls(ak: Akashi) -> MiningCalls:
    """Insert the calls, their keyword rows and flags (as analysis would have stored them)."""
    out = MiningCalls()
    now = datetime.now(UTC).replace(microsecond=0)
    with session_scope(ak.engine) as s:
        sites = {x.name: x.id for x in s.scalars(select(Site))}

        def call(site: str, days_ago: float, terms: dict[str, int], *, caller: str = "", flag: str = "",
                 duration: float = 120.0, answer_at_s: float | None = None) -> None:  # fmt: skip
            number = caller or f"0120-{len(out.ids['tokyo']) + len(out.ids['osaka']):03d}-222"
            c = Call(
                started_at=now - timedelta(days=days_ago),
                direction="in",
                caller=number,
                caller_digits="".join(ch for ch in number if ch.isdigit()),
                agent_name="yamada" if site == "tokyo" else "kimura",
                site_id=sites[site],
                duration_s=duration,
                status="completed",
                analysis_state="done",
                flags=[flag] if flag else [],
                extra={"answer_at_s": answer_at_s} if answer_at_s is not None else {},
            )
            s.add(c)
            s.flush()
            s.add_all(CallKeyword(call_id=c.id, word=w, count=n) for w, n in terms.items())
            if flag:
                s.add(CallFlag(call_id=c.id, category=flag, source="lexicon", words="x", channel="customer"))
                out.flagged[site] += 1
            out.ids[site].append(c.id)

        for i in range(8):  # the four earlier weeks
            call("tokyo", 8 + i * 3, {"注文": 1})
            call("osaka", 8 + i * 3, {"配送": 2})
        for i in range(5):  # this week
            call("tokyo", 0.5 + i, {"注文": 1, "解約": 2}, flag="暴言" if i == 0 else "")
            call("osaka", 0.5 + i, {"配送": 1, "雨漏り": 1}, flag="脅迫")
        for i in range(3):
            call("tokyo", 2 + i * 5, {}, caller=TOKYO_REPEAT)
            call("osaka", 2 + i * 5, {}, caller=OSAKA_REPEAT)
        # 35 min of audio, but the first 400 s rang out before the customer answered: 28:20 of talk,
        # under the 30 minutes the tests ask for (the list shows 28:20 too)
        call("tokyo", 3, {}, caller="0120-999-888", duration=2100.0, answer_at_s=400.0)
        call("tokyo", 3, {}, caller=FORMULA_CALLER, duration=2000.0)
        call("osaka", 3, {}, caller="06-1212-3434", duration=2400.0)
    return out
