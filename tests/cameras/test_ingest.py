"""Recording from a real RTSP server into the evidence store (marker ``rtsp``)."""

from __future__ import annotations

import itertools
import json
import logging
import subprocess
import sys
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from akashi.access.principal import Principal
from akashi.cameras.export import export_cameras
from akashi.cameras.service import CameraService
from akashi.context import Akashi
from akashi.db import session_scope
from akashi.db.models import Camera, CameraGap, CameraSegment, EvidenceObject
from akashi.store.export import check_package
from tests.cameras.conftest import RtspServer
from tests.cameras.helpers import EventLog, add_to_config, camera_toml, decode_errors, ffprobe

pytestmark = pytest.mark.rtsp


def segments_of(ak: Akashi, name: str) -> list[CameraSegment]:
    """A camera's stored segments, oldest first."""
    with session_scope(ak.engine) as s:
        cam = s.scalar(select(Camera).where(Camera.name == name))
        assert cam is not None
        return list(
            s.scalars(
                select(CameraSegment)
                .where(CameraSegment.camera_id == cam.id)
                .order_by(CameraSegment.started_at)
            )
        )


def gaps_of(ak: Akashi, name: str) -> list[CameraGap]:
    """A camera's gaps, oldest first."""
    with session_scope(ak.engine) as s:
        cam = s.scalar(select(Camera).where(Camera.name == name))
        assert cam is not None
        return list(
            s.scalars(select(CameraGap).where(CameraGap.camera_id == cam.id).order_by(CameraGap.started_at))
        )


def decrypt(ak: Akashi, seg: CameraSegment, out: Path) -> Path:
    """Write a segment's plaintext (authenticated by the store) to ``out``."""
    assert seg.object_id is not None
    with open(out, "wb") as f:
        for chunk in ak.store.iter_plaintext(seg.object_id):
            f.write(chunk)
    return out


def check_playable(ak: Akashi, seg: CameraSegment, tmp: Path, codec: str = "h264") -> float:
    """Decrypt one segment, check it against its row with ffprobe and a full decode; its duration."""
    path = decrypt(ak, seg, tmp / f"seg{seg.id}.mp4")
    info = ffprobe(path)
    (video,) = info["streams"]
    assert video["codec_name"] == seg.codec == codec
    assert (video["width"], video["height"]) == (seg.width, seg.height) == (320, 240)
    assert int(video["nb_read_packets"]) == seg.frames > 0
    assert "mp4" in info["format"]["format_name"]
    assert decode_errors(path) == "", f"segment {seg.id} does not decode cleanly"
    duration = float(info["format"]["duration"])
    wall = (seg.ended_at - seg.started_at).total_seconds()
    assert abs(duration - wall) < 0.2, (duration, wall)
    return duration


async def test_two_cameras_record_playable_segments(
    sqlite_home: Path, rtsp_server: RtspServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    add_to_config(
        sqlite_home,
        camera_toml(
            [("受付", "tokyo", rtsp_server.url("cam0")), ("entrance", "osaka", rtsp_server.url("cam1"))]
        ),
    )
    caplog.set_level(logging.DEBUG)
    events = EventLog()
    with Akashi.open(sqlite_home) as ak:
        async with CameraService(ak, [events]):
            for name in ("受付", "entrance"):
                await events.wait_count("segment_stored", name, 3, timeout=60)
        assert rtsp_server.password not in caplog.text
        for name, _site in (("受付", "tokyo"), ("entrance", "osaka")):
            segs = segments_of(ak, name)
            assert len(segs) >= 3
            for a, b in itertools.pairwise(segs):  # one session: segments abut exactly
                assert abs((b.started_at - a.ended_at).total_seconds()) < 0.01
            for seg in segs:
                dur = check_playable(ak, seg, tmp_path)
                if seg is not segs[-1]:  # cut on keyframes (1 s GOP) at 2 s
                    assert 1.7 <= dur <= 2.3
            with session_scope(ak.engine) as s:
                for seg in segs:
                    obj = s.get(EvidenceObject, seg.object_id)
                    assert obj is not None and obj.kind == "camera_segment" and obj.sha256 == seg.sha256
                    assert obj.meta["camera"] == name and obj.meta["frames"] == seg.frames
                    assert obj.retain_until is not None
                    assert obj.retain_until - seg.ended_at == timedelta(days=30)
                cam = s.scalar(select(Camera).where(Camera.name == name))
                assert cam is not None and cam.state == "stopped"
                assert cam.last_segment_at == segs[-1].ended_at
            assert gaps_of(ak, name) == [] or all(
                g.started_at >= segs[-1].ended_at for g in gaps_of(ak, name)
            )

        # Export both cameras over the recorded range through the CLI, then check the package.
        first = min(segments_of(ak, n)[0].started_at for n in ("受付", "entrance"))
        last = max(segments_of(ak, n)[-1].ended_at for n in ("受付", "entrance"))
        pkg = tmp_path / "cameras.zip"
        run_cli(
            sqlite_home, "export", "camera", "受付", "entrance",
            "--from", first.isoformat(), "--to", last.isoformat(), "--out", str(pkg),
        )  # fmt: skip
        report = check_package(pkg)
        assert report.ok, report.problems
        with zipfile.ZipFile(pkg) as zf:
            meta = json.loads(zf.read("metadata.json"))
            assert [c["name"] for c in meta["cameras"]] == ["受付", "entrance"]
            for cam_meta in meta["cameras"]:
                segs = segments_of(ak, cam_meta["name"])
                assert [s["sha256"] for s in cam_meta["segments"]] == [s.sha256 for s in segs]
                clip = tmp_path / Path(cam_meta["clip"]["file"]).name
                clip.write_bytes(zf.read(cam_meta["clip"]["file"]))
                info = ffprobe(clip)
                (video,) = info["streams"]
                # Remuxed, not re-encoded: every original frame is there, same codec and size.
                assert int(video["nb_read_packets"]) == sum(s.frames for s in segs)
                assert (video["codec_name"], video["width"], video["height"]) == ("h264", 320, 240)
                span = (segs[-1].ended_at - segs[0].started_at).total_seconds()
                assert abs(float(info["format"]["duration"]) - span) < 0.2
                assert abs(cam_meta["clip"]["duration_s"] - span) < 0.01
                assert decode_errors(clip) == ""


def run_cli(home: Path, *args: str) -> str:
    """Run ``akashi --home HOME ...`` in a subprocess; its stdout."""
    r = subprocess.run(
        ["timeout", "120", sys.executable, "-m", "akashi.cli.main", "--home", str(home), *args],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    return r.stdout


async def test_resolution_change_starts_a_new_segment(
    sqlite_home: Path, resolution_change_file: Path, tmp_path: Path
) -> None:
    from tests.cameras.conftest import _gst_rtsp_available
    from tests.conftest import missing_peer

    if not _gst_rtsp_available():
        missing_peer("GStreamer RTSP server for /usr/bin/python3")
    srv = RtspServer(resolution_change_file, ["cam"])
    srv.start()
    try:
        add_to_config(sqlite_home, camera_toml([("cam", "", srv.url("cam"))], seconds=5.0))
        events = EventLog()
        with Akashi.open(sqlite_home) as ak:
            async with CameraService(ak, [events]):
                await events.wait_count("disconnected", "cam", 1, timeout=60)  # the file ends
            segs = segments_of(ak, "cam")
    finally:
        srv.stop()
    sizes = [(s.width, s.height) for s in segs]
    assert (320, 240) in sizes and (640, 480) in sizes
    change = sizes.index((640, 480))
    assert all(sz == (320, 240) for sz in sizes[:change]) and all(sz == (640, 480) for sz in sizes[change:])
    # The change cut a segment short of its 5 s: the new picture starts on its own keyframe.
    assert (segs[change].started_at - segs[change - 1].started_at).total_seconds() < 4.9 or change == 1
    for seg in segs:
        path = decrypt(ak, seg, tmp_path / f"{seg.id}.mp4")
        (video,) = ffprobe(path)["streams"]
        assert (video["width"], video["height"]) == (seg.width, seg.height)
        assert decode_errors(path) == ""


async def test_audio_track_is_copied(sqlite_home: Path, tmp_path: Path) -> None:
    from tests.cameras.conftest import _gst_rtsp_available, make_h264
    from tests.conftest import missing_peer

    if not _gst_rtsp_available():
        missing_peer("GStreamer RTSP server for /usr/bin/python3")
    srv = RtspServer(make_h264(tmp_path / "av.mkv", seconds=60, audio=True), ["cam"], audio=True)
    srv.start()
    try:
        add_to_config(sqlite_home, camera_toml([("cam", "", srv.url("cam"))], seconds=2.0))
        events = EventLog()
        with Akashi.open(sqlite_home) as ak:
            async with CameraService(ak, [events]):
                await events.wait_count("segment_stored", "cam", 3, timeout=60)
            segs = segments_of(ak, "cam")
            for seg in segs[:-1]:
                path = decrypt(ak, seg, tmp_path / f"{seg.id}.mp4")
                streams = {s["codec_name"]: s for s in ffprobe(path)["streams"]}
                assert set(streams) == {"h264", "aac"}
                seconds = (seg.ended_at - seg.started_at).total_seconds()
                # AAC at 16 kHz: 1024 samples a packet, 15.6 packets a second, none lost at the cuts.
                assert abs(int(streams["aac"]["nb_read_packets"]) - seconds * 16000 / 1024) <= 2
                assert decode_errors(path) == ""
            pkg = export_cameras(
                ak, Principal.system("test"), ["cam"], start=segs[0].started_at, end=segs[-1].ended_at,
                out=tmp_path / "av.zip",
            )  # fmt: skip
            with zipfile.ZipFile(pkg) as zf:
                clip = tmp_path / "clip.mp4"
                clip.write_bytes(zf.read(json.loads(zf.read("metadata.json"))["cameras"][0]["clip"]["file"]))
            streams = {s["codec_name"]: s for s in ffprobe(clip)["streams"]}
            assert set(streams) == {"h264", "aac"} and decode_errors(clip) == ""
    finally:
        srv.stop()


async def test_h265_camera(sqlite_home: Path, tmp_path: Path) -> None:
    from tests.cameras.conftest import _gst_rtsp_available, make_h264
    from tests.conftest import missing_peer

    if not _gst_rtsp_available():
        missing_peer("GStreamer RTSP server for /usr/bin/python3")
    media = make_h264(tmp_path / "hevc.mkv", seconds=60, codec="libx265")
    srv = RtspServer(media, ["cam"], codec="h265")
    srv.start()
    try:
        add_to_config(sqlite_home, camera_toml([("cam", "", srv.url("cam"))], seconds=2.0))
        events = EventLog()
        with Akashi.open(sqlite_home) as ak:
            async with CameraService(ak, [events]):
                await events.wait_count("segment_stored", "cam", 2, timeout=60)
            for seg in segments_of(ak, "cam"):
                check_playable(ak, seg, tmp_path, codec="hevc")
    finally:
        srv.stop()


async def test_sessions_do_not_starve_the_default_pool(
    sqlite_home: Path, rtsp_server: RtspServer, tmp_path: Path
) -> None:
    """More cameras than the loop's default pool has threads: every camera records and uploads."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(2))
    names = ["a", "b", "c"]
    add_to_config(
        sqlite_home, camera_toml([(n, "", rtsp_server.url(f"cam{i}")) for i, n in enumerate(names)])
    )
    events = EventLog()
    with Akashi.open(sqlite_home) as ak:
        async with CameraService(ak, [events]):
            await events.wait_for(
                lambda: all(events.count("segment_stored", n) >= 2 for n in names), 60, "all cameras stored"
            )


async def test_g711_audio_is_kept_in_quicktime_segments(
    sqlite_home: Path, h264_file: Path, tmp_path: Path
) -> None:
    """MP4 cannot carry G.711: such cameras get fragmented QuickTime segments, audio bit-exact."""
    from tests.cameras.conftest import _gst_rtsp_available
    from tests.conftest import missing_peer

    if not _gst_rtsp_available():
        missing_peer("GStreamer RTSP server for /usr/bin/python3")
    srv = RtspServer(h264_file, ["cam"], g711=True)
    srv.start()
    try:
        add_to_config(sqlite_home, camera_toml([("cam", "", srv.url("cam"))], seconds=2.0))
        events = EventLog()
        with Akashi.open(sqlite_home) as ak:
            async with CameraService(ak, [events]):
                await events.wait_count("segment_stored", "cam", 3, timeout=60)
            segs = segments_of(ak, "cam")
            for seg in segs[:-1]:
                assert seg.object_id is not None
                info = ak.store.object_info(seg.object_id)
                assert info.media_type == "video/quicktime" and info.meta["audio"] == "pcm_mulaw"
                path = decrypt(ak, seg, tmp_path / f"{seg.id}.mov")
                probed = ffprobe(path)
                assert "mov" in probed["format"]["format_name"]
                streams = {s["codec_name"]: s for s in probed["streams"]}
                assert set(streams) == {"h264", "pcm_mulaw"}
                assert decode_errors(path) == ""
            pkg = export_cameras(
                ak, Principal.system("test"), ["cam"], start=segs[0].started_at, end=segs[-1].ended_at,
                out=tmp_path / "g711.zip",
            )  # fmt: skip
        with zipfile.ZipFile(pkg) as zf:
            name = json.loads(zf.read("metadata.json"))["cameras"][0]["clip"]["file"]
            assert name.endswith(".mov")
            clip = tmp_path / "clip.mov"
            clip.write_bytes(zf.read(name))
        assert {s["codec_name"] for s in ffprobe(clip)["streams"]} == {"h264", "pcm_mulaw"}
        assert decode_errors(clip) == ""
    finally:
        srv.stop()
