"""The automatic notice in the caller's codec (G.722, Opus): heard first, then the operator, all recorded."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import wave
from pathlib import Path
from typing import IO

import numpy as np
import pytest

from akashi.codecs.container import read_container
from akashi.codecs.encode import can_encode
from akashi.telephony.sdp import choose_codecs, parse_sdp
from tests.codecs.pyav import decode, dominant_hz
from tests.conftest import missing_peer, require_binary
from tests.telephony import scenarios
from tests.telephony.conftest import NOTICE_HZ, NOTICE_S, Start
from tests.telephony.peers import Sipp, baresip_ready, rtp_peer
from tests.telephony.test_codecs import bridged_ports, only, send_packets
from tests.telephony.test_scenarios import _row

pytestmark = [pytest.mark.sip]

G722 = "RTP/AVP 9 101\na=rtpmap:9 G722/8000"
OPUS = "RTP/AVP 111 101\na=rtpmap:111 opus/48000/2\na=fmtp:111 stereo=0; useinbandfec=1"
#: what the caller offers, what the operator answers, the codec, payload type and RTP step
WIDEBAND = [
    (G722, G722, "G722", 9, 160),
    (OPUS, OPUS, "opus", 111, 960),
    # the first codec Akashi can encode is answered, not the first offered
    ("RTP/AVP 96 9 101\na=rtpmap:96 AMR/8000\na=rtpmap:9 G722/8000", G722, "G722", 9, 160),
]


def test_first_encodable_codec_is_chosen() -> None:
    """On automatic routes the answer skips codecs Akashi cannot encode; G.711 still comes first."""
    head = b"v=0\r\no=- 1 2 IN IP4 192.0.2.5\r\ns=-\r\nc=IN IP4 192.0.2.5\r\nt=0 0\r\n"

    def chosen(m: bytes) -> list[str]:
        offer = parse_sdp(head + m)
        return [c.name for c in choose_codecs(offer, relay_any=True, usable=can_encode)]

    amr = b"a=rtpmap:96 AMR/8000\r\na=rtpmap:111 opus/48000/2\r\n"
    assert chosen(b"m=audio 4000 RTP/AVP 96 111 9\r\n" + amr) == ["opus"]
    assert chosen(b"m=audio 4000 RTP/AVP 96 9 8\r\n" + amr) == ["PCMA"]
    assert chosen(b"m=audio 4000 RTP/AVP 96 18\r\n" + amr) == []


def ssrc(pkt: bytes) -> bytes:
    return pkt[8:12]


def check_notice(packets: list[bytes], name: str, pt: int, step: int) -> None:
    """``packets`` (one SSRC) are the 1 kHz notice: marker first, the codec's step, its length."""
    assert packets[0][1] == 0x80 | pt  # marker bit on the first packet
    assert all(p[1] == pt for p in packets[1:])
    stamps = [int.from_bytes(p[4:8], "big") for p in packets]
    assert all((b - a) % 2**32 == step for a, b in itertools.pairwise(stamps))
    pcm, rate = decode([p[12:] for p in packets], name)
    assert len(pcm) / rate == pytest.approx(NOTICE_S, abs=0.1)
    assert dominant_hz(pcm, rate) == pytest.approx(NOTICE_HZ, abs=15)


@pytest.mark.parametrize(
    ("lines", "op_lines", "name", "pt", "step"), WIDEBAND, ids=["g722", "opus", "amr-g722"]
)
async def test_notice_in_the_callers_codec(
    b2bua: Start, tmp_path: Path, notice_wav: Path, lines: str, op_lines: str, name: str, pt: int, step: int
) -> None:
    """A caller offering only G.722 (or Opus) on an automatic route hears the notice in it, then the operator.

    What the caller received decodes (PyAV) to the 1 kHz notice; the operator's packets follow
    byte for byte; the stored container's heard leg starts with the same notice packets.
    """
    sipp = require_binary("sipp")
    async with rtp_peer() as cust, rtp_peer() as op:
        opx = Sipp(sipp, tmp_path, "op", only(op_lines, scenarios.operator()))
        svc = await b2bua([opx.port], notice=notice_wav)
        await opx.start("-key", "rtpport", str(op.port), "-m", "1")
        callx = Sipp(
            sipp, tmp_path, "caller", only(lines, scenarios.caller(talk_ms=int(NOTICE_S * 1000) + 3000))
        )
        await callx.start(
            f"127.0.0.1:{svc.sip.local[1]}", "-s", "0312345678", "-key", "rtpport", str(cust.port), "-m", "1"
        )
        _a_port, b_port = await bridged_ports(svc)
        down = await send_packets(op, ("127.0.0.1", b_port), pt, 50, step)
        assert await callx.wait() == 0, callx.log()
        assert await opx.wait() == 0, opx.log()
        row = await asyncio.wait_for(_row(svc), 30)
        data = b"".join(svc.ak.store.iter_plaintext(row.media_object_id)) if row.media_object_id else b""
    received = [p for _t, p in cust.received]
    notice = [p for p in received if ssrc(p) == ssrc(received[0])]
    check_notice(notice, name, pt, step)
    assert received[: len(notice)] == notice  # the notice came first, whole
    # then (after any ringback) the operator's stream, relayed untouched
    assert [p[12:] for p in received[-len(down) :]] == down
    assert row.codec == name and row.extra["codec"]["name"] == name
    assert row.notice_mode == "automatic" and row.status == "completed"
    assert row.extra["notice_duration_s"] == pytest.approx(NOTICE_S, abs=0.001)
    header, recs = read_container(data)
    assert (header["name"], header["payload_type"]) == (name, pt)
    heard = [p for leg, _t, _ts, p in recs if leg == 1]
    assert heard == received  # recorded exactly as sent: notice, ringback, operator
    check_notice(heard[: len(notice)], name, pt, step)
    assert row.answered_at is not None and row.notice_started_at is not None
    assert row.bridged_at is not None and row.notice_ended_at is not None
    assert row.notice_ended_at <= row.bridged_at


async def test_outbound_notice_in_the_trunks_codec(b2bua: Start, tmp_path: Path, notice_wav: Path) -> None:
    """Agent and trunk speak G.722 only: the trunk side hears the notice in G.722, recorded as heard."""
    from tests.telephony.test_outbound import agent_phone, carrier, place_outbound

    row, data, agent_rtp, cust_rtp = await place_outbound(
        b2bua,
        tmp_path,
        notice_wav,
        carrier_xml=only(G722, carrier()),
        agent_xml=only(G722, agent_phone(1500)),
        sip_extra="outbound_notice = true",
    )
    assert row.direction == "out" and row.notice_mode == "automatic" and row.codec == "G722"
    assert row.extra["notice_duration_s"] == pytest.approx(NOTICE_S, abs=0.001)
    received = [p for _t, p in cust_rtp.received]
    notice = [p for p in received if ssrc(p) == ssrc(received[0])]
    check_notice(notice, "G722", 9, 160)
    assert not agent_rtp.received  # the agent hears nothing of it
    _header, recs = read_container(data)
    assert [p for leg, _t, _ts, p in recs if leg == 1][: len(notice)] == notice


def _mic(path: Path, seconds: float, at: list[float], hz: float, rate: int) -> Path:
    """A WAV of silence with 0.1 s tone bursts at ``rate`` (baresip's aufile wants the codec's rate)."""
    t = np.arange(int(seconds * rate)) / rate
    on = np.zeros(len(t), dtype=bool)
    for a in at:
        on |= (t >= a) & (t < a + 0.1)
    pcm = (np.sin(2 * np.pi * hz * t) * 0.5 * 32767 * on).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def _dump(folder: Path, kind: str) -> tuple[np.ndarray, int]:
    """baresip's sndfile dump (``dec``: what it heard) as mono, and its rate (Opus dumps are stereo)."""
    files = sorted(folder.glob(f"dump-*-{kind}.wav"))
    assert files, f"no {kind} dump in {folder}"
    with wave.open(str(files[-1]), "rb") as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return pcm.reshape(-1, w.getnchannels())[:, 0], w.getframerate()


@pytest.mark.parametrize(("codec", "module", "rate"), [("G722", "g722", 16000), ("opus", "opus", 48000)])
async def test_baresip_caller_hears_the_notice_in_its_codec(
    b2bua: Start, tmp_path: Path, notice_wav: Path, codec: str, module: str, rate: int
) -> None:
    """Two baresip phones with only G.722 (or Opus): the caller hears the notice first, then the operator."""
    from tests.telephony.test_baresip import baresip_dir

    baresip = require_binary("baresip")
    if not Path(f"/usr/lib/baresip/modules/{module}.so").exists():
        missing_peer(f"baresip module {module}")
    cust_mic = _mic(tmp_path / "cust.wav", 6.0, [0.5], 500.0, rate)
    op_mic = _mic(tmp_path / "op.wav", 5.0, [0.3, 1.5, 2.6], 700.0, rate)
    op_dir, op_port = baresip_dir(tmp_path, "op", "<sip:201@127.0.0.1:PORT>;regint=0;answermode=auto", op_mic)
    cust_dir, _ = baresip_dir(tmp_path, "cust", "<sip:0901234567@127.0.0.1:PORT>;regint=0", cust_mic)
    for d in (op_dir, cust_dir):  # the one codec only, sound at its rate
        conf = (d / "config").read_text().replace("module g711.so", f"module {module}.so")
        (d / "config").write_text(conf.replace("srate 8000", f"srate {rate}"))
    svc = await b2bua([op_port], notice=notice_wav)
    procs = []
    try:
        with (tmp_path / "op.log").open("wb") as op_log:
            procs.append(await _baresip(baresip, op_dir, [], op_log))
        await baresip_ready(tmp_path / "op.log")
        dial = ["-e", f"/dial sip:0312345678@127.0.0.1:{svc.sip.local[1]}", "-t", "7"]
        with (tmp_path / "cust.log").open("wb") as cust_log:
            procs.append(await _baresip(baresip, cust_dir, dial, cust_log))
        await asyncio.wait_for(procs[-1].wait(), 30)
        row = await asyncio.wait_for(_row(svc), 30)
    finally:
        for proc in procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
    assert row.codec == codec and row.status == "completed", (tmp_path / "cust.log").read_text()[-3000:]
    heard, rate = _dump(cust_dir, "dec")
    # 20 ms frames of what the caller heard: level and pitch of each, from the first loud one
    first = int(np.flatnonzero(np.abs(heard.astype(np.int32)) > 3000)[0])
    n = rate // 50
    frames = [heard[i : i + n].astype(np.float64) for i in range(first, len(heard) - n, n)]
    pitch = [dominant_hz(f, rate) if np.abs(f).max() > 3000 else 0.0 for f in frames]
    notice = list(itertools.takewhile(lambda hz: abs(hz - NOTICE_HZ) < 60, pitch))
    # the notice first (baresip may miss the packets that come before its audio has started)
    assert 0.7 * NOTICE_S <= len(notice) * 0.02 <= NOTICE_S + 0.05, pitch[:80]
    # then the operator's 700 Hz bursts (G.722 clicks at their onsets), and no more notice
    after = [hz for hz in pitch[len(notice) + 1 :] if hz]
    assert sum(abs(hz - 700) < 60 for hz in after) >= 10, after
    assert not any(abs(hz - NOTICE_HZ) < 60 for hz in after), after


async def _baresip(baresip: str, folder: Path, args: list[str], log: IO[bytes]) -> asyncio.subprocess.Process:
    """baresip in its own process group (killing the group reaches it, not only ``timeout``)."""
    return await asyncio.create_subprocess_exec(
        "timeout", "-s", "KILL", "30", baresip, "-f", str(folder), *args, stdout=log, stderr=log,
        start_new_session=True,
    )  # fmt: skip


def test_outbound_notice_codec_is_the_trunks_answer() -> None:
    """The trunk's payload type and Opus fmtp (what it receives) decide how the notice is encoded."""
    from akashi.telephony.outbound import answered_codec
    from akashi.telephony.sdp import AudioSession, Codec

    offered = Codec(111, "opus", 48000, "useinbandfec=1")
    answer = AudioSession(
        "192.0.2.9", 4000, [Codec(101, "telephone-event", 48000), Codec(96, "opus", 48000, "cbr=1")]
    )
    assert answered_codec(answer, offered) == Codec(96, "opus", 48000, "cbr=1")
    assert answered_codec(AudioSession("192.0.2.9", 4000, []), offered) is offered
