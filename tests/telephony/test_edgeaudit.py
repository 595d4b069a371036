"""Summaries of edge refusals for the audit: first at once, then one per window, bounded (sans-I/O)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from akashi.callfacts import CallFacts
from akashi.telephony.edgeaudit import MANY, EdgeAudit, EdgeRefusal, RefusalSummary, log_line, media_refusal


def test_first_at_once_then_one_summary_per_window() -> None:
    s = RefusalSummary(every_s=60.0)
    first = s.note("rate", "10.0.0.9", 503, now=100.0)
    assert first is not None and first.count == 1 and first.source == "10.0.0.9" and first.status == 503
    assert all(s.note("rate", "10.0.0.9", 503, now=100.0 + i * 0.01) is None for i in range(1, 1000))
    assert s.pending == 999
    assert s.due(now=159.9) == []  # the window has not ended
    (summary,) = s.due(now=160.0)
    assert summary.count == 999 and summary.kind == "rate"
    assert summary.span_s == pytest.approx(9.98)
    assert s.pending == 0
    # another kind, or another address, is its own pair: audited at once
    other = s.note("rate", "10.0.0.8", 503, now=160.5)
    assert other is not None and other.count == 1
    number = s.note("number", "10.0.0.9", 484, now=160.5, sample="sip:%0d%0aX@h" + "x" * 200)
    assert number is not None and number.detail["numbers"] == [("sip:%0d%0aX@h" + "x" * 200)[:80]]


def test_a_refusal_after_the_window_is_the_summary() -> None:
    """A refusal arriving once the window ended carries the count of those before it."""
    s = RefusalSummary(every_s=10.0)
    assert s.note("inbound", "a", 403, now=0.0) is not None
    for t in (1.0, 2.0, 3.0):
        assert s.note("inbound", "a", 403, now=t) is None
    r = s.note("inbound", "a", 403, now=10.0)
    assert r is not None and r.count == 4
    assert s.next_due() is None  # nothing pending


def test_many_sources_share_one_summary() -> None:
    """A spoofed flood (a new address each INVITE) cannot make an entry per address past the table."""
    s = RefusalSummary(every_s=60.0, max_sources=4)
    entries = [s.note("rate", f"10.0.{i // 256}.{i % 256}", 503, now=i * 0.001) for i in range(5000)]
    made = [e for e in entries if e is not None]
    assert [e.source for e in made] == ["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", MANY]
    assert len(s) == 5
    rest = s.drain(now=6.0)
    assert sum(e.count for e in made + rest) == 5000
    assert len(s) == 0


def test_quiet_pairs_are_forgotten() -> None:
    s = RefusalSummary(every_s=5.0, max_sources=2)
    s.note("rate", "a", 503, now=0.0)
    s.note("rate", "b", 503, now=0.0)
    # both quiet for a whole window: a new address gets its own entry again, not the shared one
    r = s.note("rate", "c", 503, now=6.0)
    assert r is not None and r.source == "c"
    assert len(s) == 1


def test_media_refusal_counts_every_packet() -> None:
    facts = CallFacts(
        rtp_refused={"caller": {"source": 120, "ssrc": 3}, "operator": {"source": 119}},
        rtp_refused_from={"caller": ["127.0.0.1:4000"], "operator": ["127.0.0.1:4000"]},
    )
    r = media_refusal("abc@h", "192.0.2.1", facts)
    assert r is not None and r.kind == "rtp" and r.count == 242 and r.call == "abc@h"
    assert r.detail["refused"]["caller"] == {"source": 120, "ssrc": 3}
    assert r.detail["from"]["operator"] == ["127.0.0.1:4000"]
    assert media_refusal("abc@h", "192.0.2.1", CallFacts()) is None
    assert media_refusal("abc@h", "192.0.2.1", CallFacts(rtp_refused={"caller": {}})) is None


def test_log_line_is_japanese_and_english_and_escapes_the_number() -> None:
    r = EdgeRefusal("number", "192.0.2.7", 12, 484, detail={"numbers": ["sip:1%0D%0A\r\nX@h"]})
    line = log_line(r)
    assert line.startswith("INVITE を拒否しました (484): 番号ではありません（12 件）")
    assert "refused (484)" in line and "12 since the last report" in line
    assert "\r" not in line and "\n" not in line  # the attacker's CR LF cannot forge a log line


async def test_timer_audits_the_rest_of_a_flood() -> None:
    """The window's remainder is audited by the timer even when nothing follows the flood."""
    got: list[EdgeRefusal] = []
    arrived = asyncio.Event()

    def report(r: EdgeRefusal) -> None:
        got.append(r)
        if sum(e.count for e in got) == 50:
            arrived.set()

    audit = EdgeAudit(report, every_s=0.2)
    for _ in range(50):
        audit.refused("rate", "192.0.2.7", 503)
    assert [e.count for e in got] == [1]
    await asyncio.wait_for(arrived.wait(), 5)
    assert [e.count for e in got] == [1, 49]
    assert audit.close() == []  # nothing left
    assert audit.entries == 2


def test_close_audits_what_is_pending_and_logs_numbers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="akashi.telephony.edgeaudit")
    got: list[EdgeRefusal] = []
    audit = EdgeAudit(got.append, clock=lambda: 0.0)
    for i in range(7):
        audit.refused("number", "192.0.2.7", 484, f"sip:{i};x@h")
    audit.refused("rate", "192.0.2.7", 503)
    rest = audit.close()
    assert sorted((e.kind, e.count) for e in got) == [("number", 1), ("number", 6), ("rate", 1)]
    assert [e.count for e in rest] == [6]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and "(1 since the last report)" in lines[0] and "(6 since" in lines[1]
