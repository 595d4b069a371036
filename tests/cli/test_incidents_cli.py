"""``akashi calls live [--json]`` and ``akashi incidents list [--json]`` for scripts."""

from __future__ import annotations

import json
import time
from pathlib import Path

from akashi.access.live import LiveStore
from akashi.cameras import records
from akashi.cameras.records import CameraSpec
from akashi.context import Akashi
from akashi.telephony.live import LiveEvent
from tests.cli.test_end_to_end import run


def test_calls_live_and_incidents_list(sqlite_home: Path) -> None:
    home = sqlite_home
    for name, site in (("kanri", "tokyo"), ("kanri_osaka", "osaka")):
        run(home, "user", "add", name, "--role", "manager", "--site", site, "--password-stdin",
            stdin="a-long-password\n")  # fmt: skip
    run(home, "user", "add", "op", "--role", "operator", "--site", "tokyo", "--password-stdin",
        stdin="a-long-password\n")  # fmt: skip
    now = time.time()
    with Akashi.open(home) as ak:
        records.ensure_camera(ak.engine, CameraSpec("受付", "tokyo", "rtsp://h/x", 4.0, True, "config"))
        store = LiveStore(ak.engine)
        store.publish(
            LiveEvent("sip-a", "started", now - 30, site="tokyo", caller="03-1111-2222", agent="sato")
        )
        store.publish(LiveEvent("sip-a", "answered", now - 25))
        store.publish(
            LiveEvent(
                "sip-a",
                "flag",
                now - 5,
                detail={"severity": "severe", "text": "ぶっ殺すぞ", "category": "脅迫"},
            )
        )
        store.publish(LiveEvent("sip-b", "started", now - 10, site="osaka", caller="06-1111-2222"))
        store.exchange(["sip-a", "sip-b"])

    live = json.loads(run(home, "calls", "live", "--json").stdout)
    assert sorted(c["call_id"] for c in live) == ["sip-a", "sip-b"]
    a = next(c for c in live if c["call_id"] == "sip-a")
    assert (a["site"], a["caller"], a["agent"]) == ("tokyo", "03-1111-2222", "sato")
    assert a["duration_s"] >= 25
    assert [(e["kind"], e["detail"]["text"]) for e in a["events"]] == [("flag", "ぶっ殺すぞ")]
    assert a["events"][0]["detail"]["category"] == "脅迫"  # what was found, beside the words
    mine = json.loads(run(home, "calls", "live", "--json", "--as", "kanri").stdout)
    assert [c["call_id"] for c in mine] == ["sip-a"]
    text = run(home, "calls", "live").stdout
    assert "sip-a" in text and "flag[脅迫]:ぶっ殺すぞ" in text and "2 件 / calls in progress" in text
    refused = run(home, "calls", "live", "--as", "op", check=False)
    assert refused.returncode != 0 and "managers" in refused.stderr

    incidents = json.loads(run(home, "incidents", "list", "--json").stdout)
    assert len(incidents) == 1
    inc = incidents[0]
    assert inc["site"] == "tokyo" and inc["legal_hold"] and inc["status"] == "open"
    assert inc["created_by"] == "live" and inc["camera_ranges"] == 1 and inc["calls"] == 0
    assert json.loads(run(home, "incidents", "list", "--json", "--as", "kanri_osaka").stdout) == []
    assert json.loads(run(home, "incidents", "list", "--json", "--status", "closed").stdout) == []
    assert "1 件 / incidents" in run(home, "incidents", "list").stdout
