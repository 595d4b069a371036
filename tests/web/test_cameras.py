"""Camera pages and API on real stored fMP4 segments: timeline with gaps, Range playback, thumbnail,
range export (joined by the cameras area's exporter), scopes; and playback in Chromium."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from akashi.db.base import session_scope
from akashi.db.models import Camera, CameraGap, CameraSegment, Site
from akashi.web.i18n import JST
from tests.cameras.conftest import RtspServer, h264_file, rtsp_server  # noqa: F401  (fixtures)
from tests.conftest import require_binary
from tests.web.conftest import Seeded, api_login


def make_segment(path: Path, seconds: int = 4) -> Path:
    """A fragmented MP4 (H.264, 10 fps, keyframe every second), as the recorder writes them."""
    ffmpeg = require_binary("ffmpeg")
    subprocess.run(
        ["timeout", "60", ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         f"testsrc2=size=320x240:rate=10:duration={seconds}", "-c:v", "libx264", "-pix_fmt", "yuv420p",
         "-g", "10", "-movflags", "frag_keyframe+empty_moov+default_base_moof", "-f", "mp4", str(path)],
        check=True,
    )  # fmt: skip
    return path


def add_camera(seeded: Seeded, tmp: Path) -> int:
    """A Tokyo camera with two stored 4-second segments today (JST noon) and a 20-second gap."""
    ak = seeded.ak
    noon = datetime.now(JST).replace(hour=12, minute=0, second=0, microsecond=0).astimezone(UTC)
    seg_file = make_segment(tmp / "seg.mp4")
    with session_scope(ak.engine) as s:
        tokyo = s.query(Site).filter_by(name="tokyo").one().id
        cam = Camera(
            name="entrance",
            site_id=tokyo,
            state="recording",
            codec="h264",
            last_segment_at=noon + timedelta(seconds=28),
        )
        s.add(cam)
        s.flush()
        cam_id = cam.id
    for start in (noon, noon + timedelta(seconds=24)):
        with seg_file.open("rb") as f:
            put = ak.store.put(
                f, kind="camera_segment", media_type="video/mp4", filename="seg.mp4", site="tokyo"
            )
        with session_scope(ak.engine) as s:
            s.add(
                CameraSegment(
                    camera_id=cam_id,
                    object_id=put.object_id,
                    started_at=start,
                    ended_at=start + timedelta(seconds=4),
                    frames=40,
                    codec="h264",
                    width=320,
                    height=240,
                    size=put.size,
                    sha256=put.sha256,
                )
            )
    with session_scope(ak.engine) as s:
        s.add(
            CameraGap(
                camera_id=cam_id,
                started_at=noon + timedelta(seconds=4),
                ended_at=noon + timedelta(seconds=24),
                reason="RTSP timeout",
            )
        )
    return cam_id


@pytest.fixture
def camera(seeded_sqlite: Seeded, tmp_path: Path) -> int:
    return add_camera(seeded_sqlite, tmp_path)


def test_timeline_media_thumbnail_export(client: TestClient, camera: int, seeded_sqlite: Seeded) -> None:
    from akashi.store.export import check_package

    csrf = api_login(client, "boss_tokyo")
    cams = client.get("/api/v1/cameras").json()
    assert [c["name"] for c in cams] == ["entrance"] and cams[0]["last_segment_jst"].endswith("JST")
    tl = client.get(f"/api/v1/cameras/{camera}/timeline").json()
    assert [(g["start"], g["end"]) for g in tl["segments"]] == [(43200.0, 43204.0), (43224.0, 43228.0)]
    assert [(g["start"], g["end"], g["reason"]) for g in tl["gaps"]] == [(43204.0, 43224.0, "RTSP timeout")]
    seg = tl["segments"][0]["id"]
    full = client.get(f"/api/v1/camera-segments/{seg}/media")
    assert full.status_code == 200 and full.content[4:8] == b"ftyp"
    part = client.get(f"/api/v1/camera-segments/{seg}/media", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == full.content[100:200]
    jpeg = client.get(f"/api/v1/cameras/{camera}/thumbnail")
    assert jpeg.status_code == 200 and jpeg.content[:2] == b"\xff\xd8"
    day = datetime.now(JST).date().isoformat()
    r = client.post(
        f"/api/v1/cameras/{camera}/export",
        params={"start": f"{day}T12:00:00+09:00", "end": f"{day}T12:00:30+09:00"},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 200, r.text
    pkg = seeded_sqlite.ak.settings.home / "cam.zip"
    pkg.write_bytes(r.content)
    assert check_package(pkg).ok
    page = client.get(f"/cameras/{camera}")
    assert page.status_code == 200 and "RTSP timeout" in page.text
    assert 'src="/api/v1/cameras/' in client.get("/cameras").text


def test_camera_scopes(client: TestClient, camera: int) -> None:
    api_login(client, "boss_osaka")
    assert client.get("/api/v1/cameras").json() == []
    assert client.get(f"/api/v1/cameras/{camera}/timeline").status_code == 404
    assert client.get(f"/api/v1/cameras/{camera}/thumbnail").status_code == 404
    api_login(client, "op_tanaka")
    assert client.get(f"/cameras/{camera}").status_code == 404
    api_login(client, "auditor")  # sees the timeline, may not watch
    tl = client.get(f"/api/v1/cameras/{camera}/timeline").json()
    assert client.get(f"/api/v1/camera-segments/{tl['segments'][0]['id']}/media").status_code == 403


@pytest.mark.browser
def test_camera_playback_in_chromium(server: str, browser: object, camera: int) -> None:
    from tests.web.test_browser import _login, _shot

    ctx = browser.new_context(
        viewport={"width": 1360, "height": 900}, locale="ja-JP", timezone_id="Asia/Tokyo"
    )  # type: ignore[attr-defined]
    page = ctx.new_page()
    _login(page, server, "boss_tokyo")
    page.goto(f"{server}/cameras")
    page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
    _shot(page, "cameras")
    page.goto(f"{server}/cameras/{camera}")
    box = page.locator("#timeline").bounding_box()
    assert box is not None
    # click at 12:00:02 JST on the day's timeline: plays the first segment from 2 s in
    page.mouse.click(box["x"] + box["width"] * (43202 / 86400), box["y"] + box["height"] / 2)
    page.wait_for_function(
        "() => { const v = document.getElementById('video'); return v.currentTime > 2.2 && !v.paused; }"
    )
    _shot(page, "camera")
    ctx.close()


def test_incident_with_camera_range_exports_one_package(
    client: TestClient, camera: int, seeded_sqlite: Seeded
) -> None:
    import zipfile

    from akashi.store.export import check_package

    csrf = api_login(client, "boss_tokyo")
    h = {"X-CSRF-Token": csrf}
    inc = client.post("/api/v1/incidents", json={"title": "入口での威嚇", "site": "tokyo"}, headers=h).json()
    day = datetime.now(JST).date().isoformat()
    r = client.post(
        f"/api/v1/incidents/{inc['id']}/items",
        headers=h,
        json={
            "camera_id": camera,
            "started_at": f"{day}T12:00:01+09:00",
            "ended_at": f"{day}T12:00:25+09:00",
        },
    )
    assert r.status_code == 201, r.text
    r = client.post(
        f"/api/v1/incidents/{inc['id']}/items",
        json={"call_id": seeded_sqlite.calls["tanaka_call"]},
        headers=h,
    )
    assert r.status_code == 201
    r = client.post(f"/api/v1/incidents/{inc['id']}/export", headers=h)
    assert r.status_code == 200
    pkg = seeded_sqlite.ak.settings.home / "inc.zip"
    pkg.write_bytes(r.content)
    assert check_package(pkg).ok
    with zipfile.ZipFile(pkg) as z:
        names = z.namelist()
    assert (
        len([n for n in names if n.endswith(".mp4")]) == 2
        and len([n for n in names if n.endswith(".wav")]) == 1
    )
    page = client.get(f"/incidents/{inc['id']}").text
    assert "entrance" in page and "JST" in page


@pytest.mark.rtsp
@pytest.mark.browser
def test_live_view_plays_in_chromium(
    server: str,
    browser: object,
    seeded_sqlite: Seeded,
    rtsp_server: RtspServer,  # noqa: F811
) -> None:
    """Live: RTSP remuxed to fMP4 by the server, played through Media Source Extensions."""
    from akashi.cameras.records import add_camera as add_db_camera
    from tests.web.test_browser import _login, _shot

    ak = seeded_sqlite.ak
    cam_id = add_db_camera(
        ak.settings, ak.engine, name="lobby", url=rtsp_server.url("cam0"), site="tokyo", seconds=4.0
    )
    ctx = browser.new_context(
        viewport={"width": 1360, "height": 900}, locale="ja-JP", timezone_id="Asia/Tokyo"
    )  # type: ignore[attr-defined]
    page = ctx.new_page()
    _login(page, server, "boss_tokyo")
    page.goto(f"{server}/cameras/{cam_id}")
    page.click("#live")
    page.wait_for_function(
        "() => { const v = document.getElementById('video'); return v.currentTime > 0.5 && !v.paused; }",
        timeout=30_000,
    )
    _shot(page, "camera-live")
    ctx.close()
    with session_scope(ak.engine) as s:
        from akashi.db.models import AuditEntry

        lives = s.query(AuditEntry).filter_by(action="live", user_name="boss_tokyo", outcome="ok").count()
    assert lives == 1
