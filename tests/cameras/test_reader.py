"""Akashi's own RTSP reader against the real GStreamer RTSP server, and against a hostile fake camera."""

from __future__ import annotations

import contextlib
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import pytest

from akashi.cameras import native, recorder
from akashi.cameras.recorder import SessionConfig, SessionResult, run_session
from akashi.cameras.spool import CameraSpool, SegmentMeta
from akashi.cameras.status import why_not_recording
from tests.cameras.conftest import RtspServer, _gst_rtsp_available, make_h264
from tests.cameras.helpers import decode_errors, ffprobe
from tests.conftest import missing_peer

pytestmark = pytest.mark.rtsp


def record(
    url: str, spool: CameraSpool, seconds: float, reader: str = "akashi"
) -> tuple[SessionResult, list[SegmentMeta]]:
    """One session of ``seconds`` (or until it ends by itself), its result and closed segments."""
    cfg = SessionConfig(1, "cam", "", url, 2.0, 3.0, reader)
    stop = threading.Event()
    segs: list[SegmentMeta] = []
    out: list[SessionResult] = []
    th = threading.Thread(
        target=lambda: out.append(run_session(cfg, spool, stop, lambda _t: None, segs.append))
    )
    th.start()
    th.join(seconds)
    stop.set()
    th.join(15)
    assert not th.is_alive(), "the session did not end"
    return out[0], segs


@pytest.fixture
def no_pyav(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the session falls back to PyAV's demuxer."""

    def refuse(*_a: object) -> None:
        raise AssertionError("read by PyAV")

    monkeypatch.setattr(recorder, "open_watched", refuse)


def server(tmp: Path, codec: str = "h264", **kw: object) -> RtspServer:
    if not _gst_rtsp_available():
        missing_peer("GStreamer RTSP server for /usr/bin/python3 (gir1.2-gst-rtsp-server-1.0, python3-gi)")
    media = make_h264(tmp / f"{codec}.mkv", seconds=60, codec="libx265" if codec == "h265" else "libx264",
                      audio=bool(kw.get("audio")))  # fmt: skip
    return RtspServer(media, ["cam"], codec=codec, **kw)  # type: ignore[arg-type]


@pytest.fixture
def started() -> Iterator[list[RtspServer]]:
    servers: list[RtspServer] = []
    yield servers
    for s in servers:
        s.stop()


@pytest.mark.parametrize("codec", ["h264", "h265"])
def test_records_segments_that_decode_cleanly(
    tmp_path: Path, codec: str, started: list[RtspServer], no_pyav: None
) -> None:
    srv = server(tmp_path, codec, user="viewer", password="secret pw/1")
    started.append(srv)
    srv.start()
    spool = CameraSpool(tmp_path / "spool", 1)
    res, segs = record(srv.url("cam").replace("secret pw/1", "secret%20pw%2F1"), spool, 7.0)
    assert res.connected and res.reason.startswith("停止"), res.reason
    assert len(segs) >= 2 and all(s.codec == ("hevc" if codec == "h265" else "h264") for s in segs)
    pending = spool.pending()
    for i, (meta, path) in enumerate(pending):
        info = ffprobe(path)
        video = info["streams"][0]
        assert (video["width"], video["height"]) == (320, 240) and (meta.width, meta.height) == (320, 240)
        assert int(video["nb_read_packets"]) == meta.frames
        assert abs(float(info["format"]["duration"]) - meta.frames / 15) < 0.1
        with av.open(str(path)) as media:
            assert media.streams.video[0].time_base == Fraction(1, 90000)  # as PyAV's path writes them
        assert meta.frames == 30 or i == len(pending) - 1  # 2 s at 15 fps; the last one cut by the stop
        assert decode_errors(path) == ""
        assert abs((meta.ended_at - meta.started_at).total_seconds() - meta.frames / 15) < 0.2


def test_digest_login(tmp_path: Path, started: list[RtspServer], no_pyav: None) -> None:
    srv = server(tmp_path, user="viewer", password="dig3st", digest=True)
    started.append(srv)
    srv.start()
    res, segs = record(srv.url("cam"), CameraSpool(tmp_path / "s", 1), 5.0)
    assert segs and res.reason.startswith("停止"), res.reason
    wrong, none = record(srv.url("cam").replace(":dig3st@", ":nope@"), CameraSpool(tmp_path / "w", 1), 5.0)
    assert not none and why_not_recording(wrong.connected, False, wrong.reason) == "auth_refused", (
        wrong.reason
    )


def test_wrong_password_reads_as_refused_login(
    tmp_path: Path, started: list[RtspServer], no_pyav: None
) -> None:
    srv = server(tmp_path, user="viewer", password="right")
    started.append(srv)
    srv.start()
    res, segs = record(srv.url("cam").replace(":right@", ":wrong@"), CameraSpool(tmp_path / "s", 1), 10)
    assert not segs and "401" in res.reason and "wrong" not in res.reason
    assert why_not_recording(res.connected, False, res.reason) == "auth_refused"


def test_a_camera_with_sound_is_read_by_pyav(tmp_path: Path, started: list[RtspServer]) -> None:
    srv = server(tmp_path, audio=True)
    started.append(srv)
    srv.start()
    cfg = SessionConfig(1, "cam", "", srv.url("cam"), 2.0, 3.0)
    assert native.run_native(cfg, CameraSpool(tmp_path / "s", 1), threading.Event(), print, print) is None
    assert srv.url("cam") in native.PYAV_ONLY  # the next sessions go to PyAV without asking again
    spool = CameraSpool(tmp_path / "spool", 1)
    _res, segs = record(srv.url("cam"), spool, 5.0)
    native.PYAV_ONLY.discard(srv.url("cam"))
    assert segs and [s["codec_name"] for s in ffprobe(spool.pending()[0][1])["streams"]] == ["h264", "aac"]


def test_b_frames_switch_the_camera_to_pyav(tmp_path: Path, started: list[RtspServer]) -> None:
    if not _gst_rtsp_available():
        missing_peer("GStreamer RTSP server for /usr/bin/python3 (gir1.2-gst-rtsp-server-1.0, python3-gi)")
    media = tmp_path / "bframes.mkv"
    subprocess.run(
        ["timeout", "120", "ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=15",
         "-t", "60", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "15", "-pix_fmt", "yuv420p",
         str(media)],
        check=True,
    )  # fmt: skip
    srv = RtspServer(media, ["cam"])
    started.append(srv)
    srv.start()
    spool = CameraSpool(tmp_path / "spool", 1)
    try:
        first, _ = record(srv.url("cam"), spool, 5.0)
        assert "B" in first.reason and srv.url("cam") in native.PYAV_ONLY, first.reason
        second, segs = record(srv.url("cam"), spool, 5.0)
        assert second.reason.startswith("停止") and segs
        assert decode_errors(spool.pending()[-1][1]) == ""
    finally:
        native.PYAV_ONLY.discard(srv.url("cam"))


# --- a hostile camera: what a malicious or broken device on the LAN can send ------------------------

SDP = "v=0\r\ns=x\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:track1\r\n"


def ok(cseq: int, extra: str = "", body: str = "") -> bytes:
    return f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n{extra}Content-Length: {len(body)}\r\n\r\n{body}".encode()


def fake_camera(answer: Callable[[socket.socket], None]) -> tuple[str, threading.Thread]:
    """A TCP listener that serves one connection with ``answer``."""
    lst = socket.create_server(("127.0.0.1", 0))
    port = lst.getsockname()[1]

    def serve() -> None:
        conn, _ = lst.accept()
        with conn, lst, contextlib.suppress(OSError):
            answer(conn)

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    return f"rtsp://admin:hunter2@127.0.0.1:{port}/s", th


def read_request(conn: socket.socket) -> str:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode()


def playing(conn: socket.socket, session: str = "7;timeout=60") -> None:
    """Answer DESCRIBE, SETUP and PLAY."""
    for i, extra, body in [
        (1, "Content-Type: application/sdp\r\n", SDP),
        (2, f"Session: {session}\r\n", ""),
        (3, "", ""),
    ]:
        read_request(conn)
        conn.sendall(ok(i, extra, body))


def endless_head(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(b"RTSP/1.0 200 OK\r\n")
    for _ in range(100):
        conn.sendall(b"X-Junk: " + b"a" * 1000 + b"\r\n")


def huge_body(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 2000000000\r\n\r\n")


def not_rtsp(conn: socket.socket) -> None:
    read_request(conn)
    conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")


def garbage_after_play(conn: socket.socket) -> None:
    playing(conn)
    junk = bytes(range(256)) * 8
    for _ in range(20):
        conn.sendall(junk + b"$\x00\xff\xff" + junk)  # frames that lie about their length
        time.sleep(0.05)
    time.sleep(10)


def silent_after_play(conn: socket.socket) -> None:
    playing(conn)
    time.sleep(10)


def rtp_stream(tmp: Path, seconds: int) -> list[list[bytes]]:
    """A real H.264 stream (160x120, 15 fps, a keyframe a second) as RTP packets, a list per picture."""
    raw = tmp / "s.h264"
    subprocess.run(
        ["timeout", "60", "ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=15",
         "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-g", "15", "-bf", "0", "-f", "h264", str(raw)],
        check=True,
    )  # fmt: skip
    pictures: list[list[bytes]] = []
    seq = 0
    with av.open(str(raw), "r", format="h264") as src:
        for n, pkt in enumerate(src.demux()):
            parts = bytes(pkt).split(b"\x00\x00\x01")
            nals = [u[:-1] if u.endswith(b"\x00") else u for u in parts]  # 4-byte start codes
            nals = [u for u in nals if u]
            payloads = []
            for nal in nals:
                if len(nal) <= 1200:
                    payloads.append(nal)
                    continue
                body = nal[1:]
                parts = [body[i : i + 1200] for i in range(0, len(body), 1200)]
                for i, part in enumerate(parts):
                    fu = (nal[0] & 0x1F) | (0x80 if i == 0 else 0) | (0x40 if i == len(parts) - 1 else 0)
                    payloads.append(bytes([(nal[0] & 0xE0) | 28, fu]) + part)
            packets = []
            for k, p in enumerate(payloads):
                marker = 0x80 if k == len(payloads) - 1 else 0
                head = struct.pack(">BBHII", 0x80, marker | 96, seq & 0xFFFF, n * 6000, 1)
                packets.append(b"$\x00" + struct.pack(">H", 12 + len(p)) + head + p)
                seq += 1
            pictures.append(packets)
    return pictures


def test_keepalives_hold_the_session(tmp_path: Path, no_pyav: None) -> None:
    """A camera whose session times out after 2 s gets an OPTIONS with the session id every second,
    and what it sent is recorded."""
    heard: list[str] = []
    pictures = rtp_stream(tmp_path, 5)

    def streaming(conn: socket.socket) -> None:
        playing(conn, "7F;timeout=2")
        conn.settimeout(0.01)
        for packets in pictures:
            conn.sendall(b"".join(packets))
            with contextlib.suppress(TimeoutError):
                heard.append(conn.recv(4096).decode())
            time.sleep(1 / 15)

    url, th = fake_camera(streaming)
    spool = CameraSpool(tmp_path / "spool", 1)
    res, segs = record(url, spool, 20)
    th.join(5)
    asks = [h for h in heard if h.startswith("OPTIONS ")]
    assert len(asks) >= 3 and all("Session: 7F" in h for h in asks), (asks, res.reason)
    assert "end of stream" in res.reason or "closed the connection" in res.reason, res.reason
    assert sum(s.frames for s in segs) == 75 and all((s.width, s.height) == (160, 120) for s in segs)
    assert decode_errors(spool.pending()[0][1]) == ""


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (endless_head, "response head too long"),
        (huge_body, "body too large"),
        (not_rtsp, "not an RTSP response"),
        (garbage_after_play, "timeout"),
        (silent_after_play, "timeout"),
    ],
)
def test_a_hostile_camera_gets_a_clear_error_and_no_footage(
    tmp_path: Path, answer: Callable[[socket.socket], None], words: str, no_pyav: None
) -> None:
    url, th = fake_camera(answer)
    spool = CameraSpool(tmp_path / "spool", 1)
    t0 = time.monotonic()
    res, segs = record(url, spool, 20)
    assert words in res.reason and "hunter2" not in res.reason, res.reason
    assert not segs and not spool.pending() and time.monotonic() - t0 < 8
    th.join(1)
