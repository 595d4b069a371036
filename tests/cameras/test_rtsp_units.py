"""Sans-I/O parts of Akashi's own RTSP reader: RTSP messages, SDP, auth, RTP depacketizing."""

from __future__ import annotations

import base64
import hashlib
import struct
import time
from datetime import UTC, datetime
from pathlib import Path

import av
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from akashi.cameras import depacket
from akashi.cameras.depacket import START, AccessUnit, Depacketizer, sdp_parameter_sets
from akashi.cameras.reader import _cut
from akashi.cameras.rtsp import (
    RtspError,
    authorization,
    parse_sdp,
    parse_url,
    request,
    session_id,
    take_response,
)
from akashi.cameras.segmenter import Session, SessionConfig, SessionResult
from akashi.cameras.spool import CameraSpool

SPS = bytes([0x67, 0x42, 0xC0, 0x1E, 0xDA, 0x02, 0x80, 0xBF])
PPS = bytes([0x68, 0xCE, 0x3C, 0x80])
IDR = bytes([0x65]) + bytes(range(256)) * 12  # 3,073 bytes: three FU-A fragments
P_SLICE = bytes([0x41]) + b"\x9a" * 300


def rtp(seq: int, ts: int, payload: bytes, marker: bool = False, pt: int = 96) -> bytes:
    return (
        struct.pack(">BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, 1) + payload
    )


def stap_a(*nals: bytes) -> bytes:
    return bytes([0x18]) + b"".join(struct.pack(">H", len(n)) + n for n in nals)


def fu_a(nal: bytes, size: int = 1100) -> list[bytes]:
    body, head = nal[1:], nal[0]
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    out = []
    for i, part in enumerate(parts):
        fu = (head & 0x1F) | (0x80 if i == 0 else 0) | (0x40 if i == len(parts) - 1 else 0)
        out.append(bytes([(head & 0xE0) | 28, fu]) + part)
    return out


def push_all(dep: Depacketizer, packets: list[bytes]) -> list[tuple[bytes, int, bool]]:
    out: list[AccessUnit] = []
    for p in packets:
        dep.push(p, 0, len(p), out)
    return [(au.data, au.ts, au.keyframe) for au in out]


def h264_gop(seq: int, ts: int) -> list[bytes]:
    """A keyframe (STAP-A with SPS/PPS, then the IDR in FU-A) and a P picture."""
    frags = fu_a(IDR)
    pkts = [rtp(seq, ts, stap_a(SPS, PPS))]
    pkts += [rtp(seq + 1 + i, ts, f, marker=i == len(frags) - 1) for i, f in enumerate(frags)]
    pkts.append(rtp(seq + 1 + len(frags), ts + 6000, P_SLICE, marker=True))
    return pkts


def test_h264_access_units_are_whole_annex_b_pictures() -> None:
    got = push_all(Depacketizer("h264"), h264_gop(100, 5000))
    assert got == [
        (START + SPS + START + PPS + START + IDR, 5000, True),
        (START + P_SLICE, 11000, False),
    ]


def test_a_lost_packet_drops_its_picture_only() -> None:
    dep = Depacketizer("h264")
    pkts = h264_gop(7, 0)
    del pkts[2]  # the IDR's middle fragment
    got = push_all(dep, pkts)
    assert got == [(START + P_SLICE, 6000, False)] and dep.dropped == 1


def test_a_picture_without_marker_ends_at_the_next_timestamp() -> None:
    dep = Depacketizer("h264")
    got = push_all(dep, [rtp(1, 0, P_SLICE), rtp(2, 6000, P_SLICE, marker=True)])
    assert [g[1] for g in got] == [0, 6000]


def test_parameter_sets_sent_apart_go_with_the_next_picture() -> None:
    frags = fu_a(IDR)
    pkts = [rtp(1, 0, stap_a(SPS, PPS), marker=True)]  # headers with their own marker
    pkts += [rtp(2 + i, 6000, f, marker=i == len(frags) - 1) for i, f in enumerate(frags)]
    assert push_all(Depacketizer("h264"), pkts) == [(START + SPS + START + PPS + START + IDR, 6000, True)]


def test_a_lost_first_packet_spoils_its_own_picture() -> None:
    """The previous picture ended with its marker; the next one's first packet (its SPS/PPS) is lost: the
    gap belongs to the new picture, which must not come out as whole."""
    dep = Depacketizer("h264")
    pkts = h264_gop(1, 0) + h264_gop(6, 12000)
    del pkts[5]  # the second keyframe's STAP-A
    assert push_all(dep, pkts) == [
        (START + SPS + START + PPS + START + IDR, 0, True),
        (START + P_SLICE, 6000, False),
        (START + P_SLICE, 18000, False),
    ]
    assert dep.dropped == 1


def test_an_empty_payload_is_no_loss() -> None:
    pkts = [rtp(1, 0, P_SLICE, marker=True), rtp(2, 3000, b""), rtp(3, 6000, P_SLICE, marker=True)]
    dep = Depacketizer("h264")
    assert [g[1] for g in push_all(dep, pkts)] == [0, 6000] and dep.dropped == 0


def test_a_picture_that_never_ends_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fragments of one timestamp without end or marker: dropped once past the limit, not kept growing."""
    monkeypatch.setattr(depacket, "MAX_UNIT", 50_000)  # 50 fragments of 1,000 bytes
    dep = Depacketizer("h264")
    start = rtp(1, 0, bytes([0x7C, 0x85]) + b"x" * 1000)
    middles = [rtp(2 + i, 0, bytes([0x7C, 0x05]) + b"x" * 1000) for i in range(200)]
    assert push_all(dep, [start, *middles]) == []
    assert dep.fu is None or sum(len(f) for f in dep.fu) <= 50_000
    assert push_all(dep, [rtp(202, 6000, P_SLICE, marker=True)]) == [(START + P_SLICE, 6000, False)]
    assert dep.dropped == 1


def test_timestamps_run_on_past_the_32_bit_wrap() -> None:
    dep = Depacketizer("h264")
    ts = [0xFFFFFFFF - 6000, 0xFFFFFFFF - 6000 + 6000, 0xFFFFFFFF - 6000 + 12000]
    got = push_all(dep, [rtp(i, t, P_SLICE, marker=True) for i, t in enumerate(ts)])
    assert [g[1] for g in got] == [0xFFFFFFFF - 6000, 0xFFFFFFFF, 0xFFFFFFFF + 6000]


def test_h265_aggregation_and_fragments() -> None:
    vps, sps, pps = b"\x40\x01\x0c", b"\x42\x01\x01", b"\x44\x01\xc1"
    idr = bytes([19 << 1, 1]) + b"\x55" * 2500  # IDR_W_RADL
    trail = bytes([1 << 1, 1]) + b"\x66" * 50
    ap = bytes([48 << 1, 1]) + b"".join(struct.pack(">H", len(n)) + n for n in (vps, sps, pps))
    body = idr[2:]
    frags = [body[i : i + 1000] for i in range(0, len(body), 1000)]
    pkts = [rtp(1, 90, ap)]
    for i, f in enumerate(frags):
        fu = 19 | (0x80 if i == 0 else 0) | (0x40 if i == len(frags) - 1 else 0)
        pkts.append(rtp(2 + i, 90, bytes([49 << 1, 1, fu]) + f, marker=i == len(frags) - 1))
    pkts.append(rtp(2 + len(frags), 6090, trail, marker=True))
    got = push_all(Depacketizer("hevc"), pkts)
    assert got == [
        (START + vps + START + sps + START + pps + START + idr, 90, True),
        (START + trail, 6090, False),
    ]


def test_header_extension_csrc_and_padding_are_skipped() -> None:
    ext = struct.pack(">HH", 0xBEDE, 1) + b"\x00" * 4
    head = struct.pack(">BBHII", 0x80 | 0x10 | 0x20 | 1, 0x80 | 96, 1, 3000, 1) + b"\x00" * 4
    pkt = head + ext + P_SLICE + b"\x00\x00\x03"
    assert push_all(Depacketizer("h264"), [pkt]) == [(START + P_SLICE, 3000, False)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=20), st.sampled_from(["h264", "hevc"]))
def test_garbage_rtp_never_raises(packets: list[bytes], codec: str) -> None:
    dep = Depacketizer(codec)
    for p in packets:
        dep.push(p, 0, len(p), [])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_garbage_on_the_connection_never_raises(data: bytes) -> None:
    buf = bytearray(data)
    pos = _cut(buf, 0, Depacketizer("h264"), [])
    assert 0 <= pos <= len(buf)


def test_interleaved_frames_are_cut_across_reads() -> None:
    frames = b"".join(b"$\x00" + struct.pack(">H", len(p)) + p for p in h264_gop(1, 0))
    frames = b"$\x01\x00\x04abcd" + frames  # RTCP on channel 1: skipped
    dep, got = Depacketizer("h264"), []
    buf = bytearray()
    for i in range(0, len(frames), 700):  # as a socket hands them over, cut anywhere
        buf += frames[i : i + 700]
        del buf[: _cut(buf, 0, dep, got)]
    assert [au.keyframe for au in got] == [True, False] and not buf


def test_response_is_taken_only_when_whole() -> None:
    msg = b"RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Length: 5\r\nContent-Base: rtsp://h/s/\r\n\r\nv=0\r\n"
    buf = bytearray(msg[:-3])
    assert take_response(buf) is None
    buf += msg[-3:] + b"$\x00"
    resp = take_response(buf)
    assert resp is not None and resp.status == 200 and resp.body == b"v=0\r\n"
    assert resp.header("Content-Base") == "rtsp://h/s/" and buf == b"$\x00"


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"HTTP/1.1 200 OK\r\n\r\n", "not an RTSP response"),
        (b"RTSP/1.0 200 OK\r\nContent-Length: 99999999\r\n\r\n", "body too large"),
        (b"RTSP/1.0 200 OK\r\nContent-Length: -1\r\n\r\n", "body too large"),
        (b"RTSP/1.0 200 OK\r\nContent-Length: x\r\n\r\n", "bad Content-Length"),
        (b"RTSP/1.0 200 OK\r\nX: " + b"a" * 20000, "head too long"),
    ],
)
def test_bad_responses_are_refused_clearly(data: bytes, words: str) -> None:
    with pytest.raises(RtspError, match=words):
        take_response(bytearray(data))


def test_digest_and_basic_answers() -> None:
    ch = 'Digest realm="cam", nonce="abc123", algorithm=MD5'
    got = authorization(ch, "DESCRIBE", "rtsp://h/s", "u", "p")
    ha1 = hashlib.md5(b"u:cam:p").hexdigest()
    ha2 = hashlib.md5(b"DESCRIBE:rtsp://h/s").hexdigest()
    want = hashlib.md5(f"{ha1}:abc123:{ha2}".encode()).hexdigest()
    assert got is not None and got.startswith("Digest ") and f'response="{want}"' in got
    qop = authorization('Digest realm="r", nonce="n", qop="auth,auth-int"', "PLAY", "rtsp://h/", "u", "p")
    assert qop is not None and "qop=auth" in qop and "cnonce=" in qop
    basic = authorization('Basic realm="cam"', "DESCRIBE", "rtsp://h/s", "u", "p:w")
    assert basic == "Basic " + base64.b64encode(b"u:p:w").decode()
    assert authorization('Digest realm="r", nonce="n", algorithm=SHA-256', "X", "u", "a", "b") is None


def test_url_keeps_the_password_out_of_requests() -> None:
    u = parse_url("rtsp://adm%40in:p%3Ass@10.0.0.5:8554/live/ch1?x=1")
    assert (u.host, u.port, u.user, u.password) == ("10.0.0.5", 8554, "adm@in", "p:ss")
    assert u.url == "rtsp://10.0.0.5:8554/live/ch1?x=1" and "p:ss" not in repr(u)
    assert parse_url("rtsp://[fe80::1]/s").url == "rtsp://[fe80::1]/s"
    req = request("DESCRIBE", u.url, 3, {"Accept": "application/sdp"})
    assert (
        req.startswith(b"DESCRIBE rtsp://10.0.0.5:8554/live/ch1?x=1 RTSP/1.0\r\nCSeq: 3\r\n")
        and b"p:ss" not in req
    )


SDP = """v=0
o=- 1 1 IN IP4 0.0.0.0
s=cam
a=control:*
m=video 0 RTP/AVP 96
a=rtpmap:96 H264/90000
a=fmtp:96 packetization-mode=1;profile-level-id=42c01e;sprop-parameter-sets=Z0LAHtoCgL8=,aM48gA==
a=control:trackID=1
m=audio 0 RTP/AVP 0
a=control:rtsp://h/s/trackID=2
"""


def test_sdp_media_and_parameter_sets() -> None:
    video, audio = parse_sdp(SDP, "rtsp://h/s/")
    assert (video.kind, video.codec, video.clock_rate, video.control) == (
        "video",
        "H264",
        90000,
        "rtsp://h/s/trackID=1",
    )
    assert sdp_parameter_sets("h264", video.fmtp) == START + SPS + START + PPS
    assert (audio.codec, audio.clock_rate, audio.control) == ("PCMU", 8000, "rtsp://h/s/trackID=2")
    assert sdp_parameter_sets("h264", {"sprop-parameter-sets": "!!!,??"}) == b""


def test_session_header() -> None:
    resp = take_response(bytearray(b"RTSP/1.0 200 OK\r\nSession: 1F2E;timeout=30\r\n\r\n"))
    assert resp is not None and session_id(resp) == ("1F2E", 30.0)


def test_a_batch_read_at_once_is_timed_by_its_arrival(tmp_path: Path) -> None:
    """Three pictures taken by one read: the newest arrived now, the others a frame and two before. The
    wall clock of each must be when it came, not when the read took it (up to 0.2 s later)."""
    res = SessionResult("", True, 0, None, None)
    cfg = SessionConfig(1, "cam", "", "rtsp://h/s", 4.0, 5.0)
    session = Session(cfg, CameraSpool(tmp_path, 1), None, [], "mp4", "", print, print, res)  # type: ignore[arg-type]
    frame = 1 / 15
    for batch in range(3):
        now = datetime.now(UTC)
        for i in range(3):
            t = (batch * 3 + i) * frame
            session.feed(av.Packet(b"\x00\x00\x01\x41"), 0, t, True, (2 - i) * frame)
        newest = (batch * 3 + 2) * frame
        assert session.anchor is not None
        assert abs((session.anchor.wall(newest) - now).total_seconds()) < 0.02
        time.sleep(3 * frame)
