"""Live view (fMP4 remux) and keyframe thumbnails, against the real RTSP server."""

from __future__ import annotations

from pathlib import Path

import pytest

from akashi.access.principal import Principal
from akashi.cameras.live import live_fmp4, mse_mime
from akashi.cameras.service import CameraService
from akashi.cameras.thumbs import segment_thumbnails
from akashi.context import Akashi
from tests.cameras.conftest import RtspServer
from tests.cameras.helpers import EventLog, add_to_config, camera_toml, decode_errors, ffprobe
from tests.cameras.test_ingest import segments_of

pytestmark = pytest.mark.rtsp


def _boxes(data: bytes) -> list[bytes]:
    """Top-level MP4 box types."""
    out, pos = [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        out.append(data[pos + 4 : pos + 8])
        if size < 8:
            break
        pos += size
    return out


async def test_live_view_is_fmp4_for_the_browser(
    sqlite_home: Path, rtsp_server: RtspServer, tmp_path: Path
) -> None:
    add_to_config(sqlite_home, camera_toml([("live", "", rtsp_server.url("cam0"))]))
    with Akashi.open(sqlite_home) as ak:
        data = b""
        stream = live_fmp4(ak, "live")
        async for chunk in stream:
            data += chunk
            if _boxes(data).count(b"moof") >= 3:
                break
        await stream.aclose()
    boxes = _boxes(data)
    assert boxes[:2] == [b"ftyp", b"moov"] and b"moof" in boxes and b"mdat" in boxes
    clip = tmp_path / "live.mp4"
    clip.write_bytes(data)
    (video,) = ffprobe(clip)["streams"]
    assert (video["codec_name"], video["width"]) == ("h264", 320)
    assert int(video["nb_read_packets"]) >= 15  # at least the first complete GOPs
    # x264 ultrafast is Constrained Baseline (42 C0); the level is the one ffprobe reads from the SPS.
    assert mse_mime(data) == f'video/mp4; codecs="avc1.42C0{int(video["level"]):02X}"'
    assert decode_errors(clip) == ""


async def test_thumbnails_from_keyframes(sqlite_home: Path, rtsp_server: RtspServer, tmp_path: Path) -> None:
    add_to_config(
        sqlite_home,
        camera_toml([("thumbs", "", rtsp_server.url("cam1"))], seconds=4.0, thumbnail_every_s=2.0),
    )
    events = EventLog()
    with Akashi.open(sqlite_home) as ak:
        async with CameraService(ak, [events]):
            await events.wait_count("segment_stored", "thumbs", 1, timeout=60)
        seg = segments_of(ak, "thumbs")[0]
        thumbs = segment_thumbnails(ak, Principal.system("test"), seg.id, width=160)
    duration = (seg.ended_at - seg.started_at).total_seconds()
    assert [t.offset_s for t in thumbs] == [float(2 * i) for i in range(int((duration + 1.999) // 2))]
    for i, t in enumerate(thumbs):
        path = tmp_path / f"t{i}.jpg"
        path.write_bytes(t.jpeg)
        (img,) = ffprobe(path)["streams"]
        assert (img["codec_name"], img["width"], img["height"]) == ("mjpeg", 160, 120)
        assert decode_errors(path) == ""
