"""Camera pieces without a peer: the cutter, URL masking, spool recovery, CLI-added cameras."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from akashi.cameras import records
from akashi.cameras.spool import CameraSpool, SegmentMeta
from akashi.cameras.timeline import (
    CUT_TOLERANCE_S,
    DRIFT_LIMIT_S,
    Anchor,
    Cutter,
    StreamParams,
    parameter_sets,
)
from akashi.cameras.urls import check_rtsp_url, mask_text, mask_url
from akashi.context import Akashi
from akashi.db import session_scope
from akashi.db.models import CameraGap
from akashi.errors import ConfigError, NotFoundError

P = StreamParams("h264", 320, 240)


def test_cutter_cuts_on_keyframes_with_tolerance() -> None:
    c = Cutter(4.0)
    assert not c.feed(0.0, False, P)  # nothing before the first keyframe
    assert c.feed(0.1, True, P)
    # A GOP of 1.9 s: the keyframe at 3.9 s is within the tolerance of 4 s, so it cuts there.
    assert not c.feed(2.0, True, P)
    assert c.feed(0.1 + 4.0 - CUT_TOLERANCE_S + 0.01, True, P)
    assert not c.feed(5.0, False, P)


def test_cutter_cuts_at_once_on_new_resolution() -> None:
    c = Cutter(4.0)
    assert c.feed(0.0, True, P)
    assert c.feed(1.0, True, StreamParams("h264", 640, 480))
    assert c.feed(1.5, True, StreamParams("hevc", 640, 480))
    assert not c.feed(2.0, False, StreamParams("h264", 320, 240))  # only keyframes can start a segment


@given(
    seconds=st.floats(1.0, 10.0),
    gop=st.floats(0.2, 5.0),
    n=st.integers(1, 200),
)
def test_cutter_segments_never_drift(seconds: float, gop: float, n: int) -> None:
    """Every segment starts on a keyframe and lasts at least target - tolerance, at most target + one GOP."""
    c = Cutter(seconds)
    starts = [i * gop for i in range(n) if c.feed(i * gop, True, P)]
    assert starts[0] == 0.0
    tol = min(CUT_TOLERANCE_S, seconds / 2)
    for a, b in itertools.pairwise(starts):
        assert seconds - tol - 1e-9 <= b - a <= max(seconds - tol, 0) + gop + 1e-9


def test_anchor_maps_stream_time_to_utc() -> None:
    a = Anchor(datetime(2026, 1, 1, tzinfo=UTC), 100.0)
    assert a.wall(102.5) == datetime(2026, 1, 1, 0, 0, 2, 500000, tzinfo=UTC)


def test_urls_are_masked_everywhere() -> None:
    url = "rtsp://admin:s3cr3t@192.0.2.20:554/stream1"
    assert mask_url(url) == "rtsp://***@192.0.2.20:554/stream1"
    assert "s3cr3t" not in mask_text(f"error opening {url}: 401 for admin:s3cr3t", url)
    assert check_rtsp_url(url) == url
    with pytest.raises(ConfigError) as err:
        check_rtsp_url("http://admin:s3cr3t@host/x")
    assert "s3cr3t" not in str(err.value)


def _write_partial(spool: CameraSpool, src: Path, start: datetime, cut_at: float | None) -> SegmentMeta:
    """A segment as a killed recorder leaves it: rec/ media (fMP4, maybe truncated) + start facts."""
    meta = SegmentMeta(1, "cam", "", start, start, codec="h264", width=320, height=240)
    path = spool.begin(meta)
    with av.open(str(src)) as inp, av.open(
        str(path), "w", format="mp4",
        options={"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"},
    ) as out:  # fmt: skip
        vs = inp.streams.video[0]
        o = out.add_stream_from_template(vs)
        for pkt in inp.demux(vs):
            if pkt.dts is None:
                continue
            pkt.stream = o
            out.mux(pkt)
    if cut_at is not None:  # the tail a SIGKILL cuts off mid-fragment
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * cut_at)])
    return meta


@pytest.fixture(scope="module")
def short_h264(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.cameras.conftest import make_h264

    return make_h264(tmp_path_factory.mktemp("u") / "s.mkv", seconds=5)


def test_spool_recovers_partial_and_drops_empty(tmp_path: Path, short_h264: Path) -> None:
    spool = CameraSpool(tmp_path, 1)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    _write_partial(spool, short_h264, t0, cut_at=0.7)
    empty = SegmentMeta(1, "cam", "", t0 + timedelta(seconds=10), t0 + timedelta(seconds=10))
    spool.begin(empty).write_bytes(b"")
    got = spool.recover()
    assert len(got) == 1 and got[0].recovered
    assert 15 <= got[0].frames < 75  # complete fragments survive, the cut tail does not
    assert 0.9 <= (got[0].ended_at - got[0].started_at).total_seconds() < 5.0
    assert [m.key for m, _ in spool.pending()] == [got[0].key]
    assert not list(spool.rec.iterdir())


def test_segment_meta_round_trips() -> None:
    t0 = datetime(2026, 1, 1, 1, 2, 3, 456789, tzinfo=UTC)
    m = SegmentMeta(3, "受付", "tokyo", t0, t0 + timedelta(seconds=4), frames=60, codec="h264", width=1920)
    assert SegmentMeta.from_json(m.to_json()) == m
    assert json.loads(m.to_json())["camera"] == "受付"


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["timeout", "60", sys.executable, "-m", "akashi.cli.main", "--home", str(home), *args],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_cli_add_list_remove_keeps_url_encrypted(sqlite_home: Path) -> None:
    url = "rtsp://admin:pw-7f3k@192.0.2.30:554/s1"
    r = _cli(sqlite_home, "cameras", "add", "裏口", "--url", url, "--site", "tokyo")
    assert r.returncode == 0, r.stderr
    assert "pw-7f3k" not in r.stdout + r.stderr
    r = _cli(sqlite_home, "cameras", "list", "--json")
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(r.stdout)
    assert row["name"] == "裏口" and row["site"] == "tokyo" and row["source"] == "db"
    assert row["url"] == "rtsp://***@192.0.2.30:554/s1" and row["state"] == "stopped"
    db = b"".join(p.read_bytes() for p in sqlite_home.parent.glob("akashi.db*"))  # with the WAL
    assert db
    assert b"pw-7f3k" not in db and b"192.0.2.30" not in db  # the whole URL is sealed
    with Akashi.open(sqlite_home) as ak:
        (spec,) = records.configured_cameras(ak.settings, ak.engine)
        assert spec.url == url and "pw-7f3k" not in repr(spec)
    assert _cli(sqlite_home, "cameras", "add", "裏口", "--url", url).returncode != 0  # duplicate
    bad = _cli(sqlite_home, "cameras", "add", "x", "--url", "http://u:pw-7f3k@h/")
    assert bad.returncode == 2 and "pw-7f3k" not in bad.stderr
    assert _cli(sqlite_home, "cameras", "remove", "裏口").returncode == 0
    assert json.loads(_cli(sqlite_home, "cameras", "list", "--json").stdout) == []


def test_remove_refuses_config_cameras(sqlite_home: Path) -> None:
    with open(sqlite_home / "akashi.toml", "a", encoding="utf-8") as f:
        f.write('\n[[cameras]]\nname = "受付"\nurl = "rtsp://h/x"\n')
    with Akashi.open(sqlite_home) as ak:
        with pytest.raises(NotFoundError):
            records.remove_camera(ak.engine, "受付")
        with pytest.raises(ConfigError):
            records.add_camera(ak.settings, ak.engine, name="受付", url="rtsp://h/y", site="", seconds=4)


def test_parameter_sets_from_annex_b() -> None:
    sps, pps, idr = b"\x67\x42\xc0\x0d\xda", b"\x68\xce\x3c\x80", b"\x65\x88\x84\x00"
    data = b"\x00\x00\x00\x01" + sps + b"\x00\x00\x01" + pps + b"\x00\x00\x00\x01" + idr
    assert parameter_sets(data, "h264") == sps
    assert parameter_sets(b"\x00\x00\x01" + idr, "h264") == b""
    vps, hsps = b"\x40\x01\x0c", b"\x42\x01\x01"  # H.265 NAL types 32 and 33
    assert (
        parameter_sets(b"\x00\x00\x01" + vps + b"\x00\x00\x01" + hsps + b"\x00\x00\x01\x26\x01", "hevc")
        == vps + hsps
    )
    assert parameter_sets(data, "mjpeg") == b""
    twice = b"\x00\x00\x01" + vps + b"\x00\x00\x01" + hsps  # a packetizer's copy, then the encoder's
    assert parameter_sets(twice + twice + b"\x00\x00\x01\x28\x01", "hevc") == vps + hsps


def test_gap_bookkeeping_survives_a_database_outage(
    sqlite_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gap writes that fail (database down) are kept and written, in order, once it answers again."""
    from sqlalchemy.exc import OperationalError

    from akashi.cameras.recorder import SessionResult
    from akashi.cameras.supervisor import Supervisor

    with Akashi.open(sqlite_home) as ak:
        spec = records.CameraSpec("cam", "", "rtsp://h/x", 4.0, True, "config")
        sup = Supervisor(ak, spec, records.ensure_camera(ak.engine, spec), lambda ev: None)
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        down = {"on": True}
        real_open, real_close = records.open_gap, records.close_gap

        def flaky(real):  # type: ignore[no-untyped-def]
            def call(*a):  # type: ignore[no-untyped-def]
                if down["on"]:
                    raise OperationalError("INSERT", {}, Exception("database is locked"))
                return real(*a)

            return call

        monkeypatch.setattr(records, "open_gap", flaky(real_open))
        monkeypatch.setattr(records, "close_gap", flaky(real_close))
        monkeypatch.setattr(records, "add_gap", flaky(records.add_gap))
        # Outage 1 starts and ends while the database is down: kept in memory.
        sup._after_session(SessionResult("end of stream", True, 3, t0, t0 + timedelta(seconds=12)), False)
        sup._on_open(t0 + timedelta(seconds=20))
        down["on"] = False
        # Outage 2: the database is back; the held-back gap is written first.
        sup._after_session(SessionResult("timeout", True, 2, None, t0 + timedelta(seconds=28)), False)
        sup._on_open(t0 + timedelta(seconds=33))
        with session_scope(ak.engine) as s:
            gaps = [
                (g.started_at, g.ended_at, g.reason)
                for g in s.scalars(select(CameraGap).order_by(CameraGap.id))
            ]
        assert gaps == [
            (t0 + timedelta(seconds=12), t0 + timedelta(seconds=20), "end of stream"),
            (t0 + timedelta(seconds=28), t0 + timedelta(seconds=33), "timeout"),
        ]


def test_anchor_follows_a_drifting_camera_clock() -> None:
    """A camera clock running 200 ppm slow, corrected at each 4 s cut: the mapping never strays more
    than the limit from the true time, and network jitter alone never moves it."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    a = Anchor(t0, 0.0)
    shifts = []
    for i in range(1, 4 * 3600 + 1):  # four hours of frames at 1 fps, arriving 0-40 ms late
        t = float(i)
        a.observe(t, t0 + timedelta(seconds=t * 1.0002 + (i % 5) * 0.01))
        if i % 4 == 0:
            shifts.append(a.correct())
            true = t0 + timedelta(seconds=t * 1.0002)
            assert abs((a.wall(t) - true).total_seconds()) <= DRIFT_LIMIT_S + 1e-6
    moved = [x for x in shifts if x]
    assert len(moved) == 2 and all(1.0 < x < 1.01 for x in moved)  # 2.88 s of drift in ~1 s steps
    steady = Anchor(t0, 0.0)
    for i in range(1, 100):
        steady.observe(float(i), t0 + timedelta(seconds=i + 0.8 * (i % 2)))  # late bursts, no drift
    assert steady.correct() == 0.0


def test_config_refuses_bad_urls_and_duplicate_names(sqlite_home: Path) -> None:
    from akashi.config import load_settings

    cfg = sqlite_home / "akashi.toml"
    base = cfg.read_text(encoding="utf-8")
    cfg.write_text(base + '\n[[cameras]]\nname = "a"\nurl = "http://u:pw-9x@h/x"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_settings(sqlite_home)
    assert "cameras.0.url" in str(err.value) and "pw-9x" not in str(err.value)
    dup = '\n[[cameras]]\nname = "a"\nurl = "rtsp://h/x"\n'
    cfg.write_text(base + dup + dup, encoding="utf-8")
    with Akashi.open(sqlite_home) as ak, pytest.raises(ConfigError):
        records.configured_cameras(ak.settings, ak.engine)
