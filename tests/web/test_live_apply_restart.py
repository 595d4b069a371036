"""Settings that only a restart applies are named on the admin page; a broken edit leaves the settings in force."""

from __future__ import annotations

import asyncio

from fastapi.testclient import TestClient
from tomlkit.toml_document import TOMLDocument

from akashi.config import writer
from akashi.config.watch import ConfigWatch, restart_needed
from akashi.web.app import create_app
from tests.web.conftest import Seeded, api_login


def _rtp_ports(doc: TOMLDocument) -> None:
    sip = doc.get("sip")
    if sip is None:
        doc["sip"] = {"rtp_ports": "40000-40999"}
    else:
        sip["rtp_ports"] = "40000-40999"


def test_restart_needed_is_named_and_a_broken_file_is_not_applied(seeded_sqlite: Seeded) -> None:
    ak = seeded_sqlite.ak
    home = ak.settings.home
    watch = ConfigWatch(ak)
    started = ak.settings
    with TestClient(create_app(ak), base_url="http://testserver") as client:
        api_login(client, "admin")
        assert 'id="restart-needed"' not in client.get("/admin").text

        # Edited by hand (or by a tool) while Akashi runs: the watch puts it in force and names the key.
        writer.update_config(home, _rtp_ports)
        assert asyncio.run(watch.check()) is True
        assert ak.settings is not started and ak.settings.sip.rtp_ports == "40000-40999"
        assert restart_needed(started, ak.settings) == ["sip.rtp_ports"]
        page = client.get("/admin").text
        assert (
            'id="restart-needed"' in page
            and "再起動が必要です" in page
            and "<code>sip.rtp_ports</code>" in page
        )
        client.cookies.set("akashi_lang", "en")
        assert "Restart needed" in client.get("/admin").text

    # Half an edit that does not validate: logged, and the settings in force stay.
    in_force = ak.settings
    path = home / "akashi.toml"
    path.write_text(path.read_text() + "\n[no_such_section]\nx = 1\n")
    assert asyncio.run(watch.check()) is False
    assert ak.settings is in_force
    assert asyncio.run(watch.check()) is False  # unchanged since: not read again
