"""The live tap: energy VAD utterance cutting (synthetic PCM), framing, and the bounded queue."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from akashi.telephony.livetap import (
    MAX_FRAME,
    RATE,
    CutterSettings,
    FrameDecoder,
    LiveTap,
    Utterance,
    UtteranceCutter,
    encode_frame,
)

PACKET = 160  # 20 ms at 8 kHz


def packets(seconds: float, amp: float, freq: float = 300.0) -> list[bytes]:
    """20 ms packets of a tone (``amp`` of full scale; 0 is silence with faint noise)."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    rng = np.random.default_rng(1)
    x = amp * np.sin(2 * np.pi * freq * t) + 0.0005 * rng.standard_normal(n)
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    return [pcm[i : i + 2 * PACKET] for i in range(0, len(pcm), 2 * PACKET)]


def run(cutter: UtteranceCutter, parts: list[bytes], t0: float = 1000.0) -> list[Utterance]:
    out = []
    for i, p in enumerate(parts):
        u = cutter.feed(p, t0 + (i + 1) * PACKET / RATE)
        if u is not None:
            out.append(u)
    return out


def test_speech_between_silences_is_one_utterance_ending_after_the_hangover() -> None:
    cutter = UtteranceCutter("c1", CutterSettings(hangover_s=0.5, pre_roll_s=0.2))
    parts = packets(1.0, 0) + packets(1.5, 0.3) + packets(1.0, 0)
    got = run(cutter, parts)
    assert len(got) == 1
    u = got[0]
    assert u.call_id == "c1"
    # ends at the last loud packet (2.5 s in), not after the hangover
    assert u.t1 == pytest.approx(1000.0 + 2.5, abs=0.021)
    assert u.t0 == pytest.approx(1000.0 + 1.0 - 0.2, abs=0.041)  # with the pre-roll
    assert len(u.pcm) / 2 / RATE == pytest.approx(0.2 + 1.5 + 0.5, abs=0.041)
    assert not cutter.speaking


def test_pauses_shorter_than_the_hangover_stay_in_one_utterance() -> None:
    cutter = UtteranceCutter("c", CutterSettings(hangover_s=0.5))
    parts = packets(0.6, 0.3) + packets(0.3, 0) + packets(0.6, 0.3) + packets(1.0, 0)
    assert len(run(cutter, parts)) == 1


def test_two_sentences_with_a_long_pause_are_two_utterances() -> None:
    cutter = UtteranceCutter("c", CutterSettings(hangover_s=0.5))
    parts = packets(0.6, 0.3) + packets(1.0, 0) + packets(0.6, 0.3) + packets(1.0, 0)
    assert len(run(cutter, parts)) == 2


def test_clicks_and_quiet_noise_are_not_utterances() -> None:
    cutter = UtteranceCutter("c", CutterSettings(min_voiced_s=0.25))
    parts = packets(0.5, 0) + packets(0.06, 0.5) + packets(1.0, 0) + packets(2.0, 0.003)
    assert run(cutter, parts) == []


def test_a_long_rant_is_cut_at_max_length() -> None:
    cutter = UtteranceCutter("c", CutterSettings(max_s=4.0))
    got = run(cutter, packets(10.0, 0.3))
    assert len(got) == 2
    assert all(len(u.pcm) / 2 / RATE == pytest.approx(4.0, abs=0.03) for u in got)
    tail = cutter.flush()  # the call ends mid-speech: the rest is sent too
    assert tail is not None and len(tail.pcm) / 2 / RATE == pytest.approx(2.0, abs=0.03)


def test_the_frame_round_trips_an_utterance() -> None:
    u = Utterance("abc@host", 10.5, 12.25, b"\x01\x02" * 80, "東京")
    frames = FrameDecoder().feed(u.frame())
    assert frames == [({"call_id": "abc@host", "site": "東京", "t0": 10.5, "t1": 12.25, "rate": RATE}, u.pcm)]


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=5), st.integers(1, 50))
def test_frames_decode_whatever_the_cuts(bodies: list[bytes], cut: int) -> None:
    wire = b"".join(encode_frame({"i": i}, b) for i, b in enumerate(bodies))
    dec = FrameDecoder()
    got = []
    for i in range(0, len(wire), cut):
        got += dec.feed(wire[i : i + cut])
    assert got == [({"i": i}, b) for i, b in enumerate(bodies)]
    assert dec.pending == 0


def test_bad_frames_are_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match="length"):
        FrameDecoder().feed(struct.pack(">IH", MAX_FRAME + 1, 2))
    with pytest.raises(ValueError, match="header length"):
        FrameDecoder().feed(struct.pack(">IH", 4, 9) + b"{}xx")
    with pytest.raises(ValueError, match="not JSON"):
        FrameDecoder().feed(struct.pack(">IH", 5, 3) + b"{{{")
    with pytest.raises(ValueError, match="not a JSON object"):
        FrameDecoder().feed(struct.pack(">IH", 4, 2) + b"[]")
    with pytest.raises(ValueError, match="too long"):
        encode_frame({}, b"\0" * MAX_FRAME)


def test_a_full_queue_drops_the_live_copy_and_counts_it() -> None:
    tap = LiveTap(Path("/nonexistent/live.sock"), lambda *a: None, max_queue=2)
    speech = packets(0.5, 0.3) + packets(0.6, 0)
    t = 0.0
    for _ in range(5):
        for p in speech:
            t += PACKET / RATE
            tap.audio("c", "customer", p, t)
    assert tap.stats.utterances == 5
    assert tap.stats.dropped_full == 3


async def test_the_tap_sends_utterances_and_turns_answers_into_flags(tmp_path: Path) -> None:
    """A stand-in transcriber on a real Unix socket: one frame in, one flagged answer out."""
    path = tmp_path / "live.sock"
    got: list[tuple[dict[str, object], bytes]] = []

    async def transcriber(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        dec = FrameDecoder()
        while data := await reader.read(65536):
            for head, body in dec.feed(data):
                got.append((head, body))
                answer = {
                    "call_id": head["call_id"],
                    "t1": head["t1"],
                    "text": "土下座しろ",
                    "severity": "severe",
                }
                writer.write(encode_frame(answer))
                await writer.drain()

    server = await asyncio.start_unix_server(transcriber, path=str(path))
    flags: list[tuple[str, str, str, float]] = []
    flagged = asyncio.Event()

    def on_flag(call_id: str, severity: str, text: str, at: float, cats: tuple[str, ...]) -> None:
        flags.append((call_id, severity, text, at))
        flagged.set()

    tap = LiveTap(path, on_flag)
    stop = asyncio.Event()
    task = asyncio.create_task(tap.run(stop))
    try:
        await asyncio.wait_for(tap.connected.wait(), 10)
        tap.begin("call-1", "tokyo")
        t = 5000.0
        for p in packets(0.2, 0) + packets(1.0, 0.3) + packets(0.6, 0):
            t += PACKET / RATE
            tap.audio("call-1", "customer", p, t)
        await asyncio.wait_for(flagged.wait(), 10)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        server.close()
    head, body = got[0]
    assert head["call_id"] == "call-1" and head["site"] == "tokyo"
    assert len(body) / 2 / RATE == pytest.approx(0.2 + 1.0 + 0.5, abs=0.05)
    assert flags == [("call-1", "severe", "土下座しろ", head["t1"])]
    assert tap.stats.sent == tap.stats.answered == tap.stats.flags == 1
    assert json.dumps(head)  # plain JSON header


async def until(cond: Callable[[], bool], timeout: float = 10) -> None:
    """Poll the tap's counters (they have no event to wait on) until ``cond`` or fail."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "condition not reached"
        await asyncio.sleep(0.01)


def speak(tap: LiveTap, call_id: str, utterances: int, t: float = 9000.0) -> None:
    """``utterances`` short utterances of a tone, each closed by the hangover."""
    for _ in range(utterances):
        for p in packets(0.5, 0.3) + packets(0.6, 0):
            t += PACKET / RATE
            tap.audio(call_id, "customer", p, t)


async def test_a_transcriber_that_never_answers_holds_at_most_in_flight_and_stop_still_returns(
    tmp_path: Path,
) -> None:
    path = tmp_path / "live.sock"
    frames = 0
    got = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal frames
        dec = FrameDecoder()
        while data := await reader.read(65536):
            frames += len(dec.feed(data))
            got.set()

    server = await asyncio.start_unix_server(silent, path=str(path))
    tap = LiveTap(path, lambda *a: None, in_flight=2)
    stop = asyncio.Event()
    task = asyncio.create_task(tap.run(stop))
    try:
        await asyncio.wait_for(tap.connected.wait(), 10)
        speak(tap, "c", 5)
        await asyncio.wait_for(got.wait(), 10)
        await until(lambda: tap.stats.sent >= 2)
        assert tap.stats.sent == 2  # the rest wait in the queue
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        server.close()
    assert tap.stats.lost_in_flight == 2 and tap.stats.dropped_full == 0


async def test_the_tap_reconnects_when_the_transcriber_restarts(tmp_path: Path) -> None:
    path = tmp_path / "live.sock"
    sessions = 0

    async def flaky(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sessions
        sessions += 1
        dec = FrameDecoder()
        while data := await reader.read(65536):
            for head, _body in dec.feed(data):
                if sessions == 1:
                    writer.close()  # the transcriber dies with an utterance in hand
                    return
                writer.write(encode_frame({"call_id": head["call_id"], "t1": head["t1"], "text": "x"}))
                await writer.drain()

    server = await asyncio.start_unix_server(flaky, path=str(path))
    tap = LiveTap(path, lambda *a: None)
    stop = asyncio.Event()
    task = asyncio.create_task(tap.run(stop))
    try:
        await asyncio.wait_for(tap.connected.wait(), 10)
        speak(tap, "c", 1)
        await until(lambda: tap.stats.lost_in_flight >= 1 and tap.connected.is_set())
        speak(tap, "c", 1, t=9100.0)
        await until(lambda: tap.stats.answered >= 1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        server.close()
    assert sessions == 2 and tap.stats.lost_in_flight == 1 and tap.stats.answered == 1
