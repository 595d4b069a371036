"""Checks across sections at load: every announcement, site and name a setting refers to exists."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest

from akashi.config import analysis as analysis_config
from akashi.config import load_settings
from akashi.config.settings import Settings
from akashi.errors import ConfigError

ROUTE = '[[sip.routes]]\nmatch = "0120"\nring = ["sip:op@127.0.0.1"]\n'
TRUNK = '[[sip.trunks]]\nname = "{name}"\nhost = "192.0.2.1"\n'
AGENT = '[[agents]]\nname = "{name}"\nsip_user = "{user}"\n'
CAMERA = '[[cameras]]\nname = "{name}"\nurl = "rtsp://192.0.2.9/s"\n'


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Settings:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "akashi.toml").write_text(text, encoding="utf-8")
    return load_settings(tmp_path, environ=environ or {})


def refused(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, text, environ)
    return str(err.value)


def test_a_route_naming_an_undefined_announcement_is_refused_with_key_and_line(tmp_path: Path) -> None:
    """A misspelt notice would answer calls without it: the key, the name and the line are given."""
    msg = refused(tmp_path, ROUTE + 'announcement = "defualt"\n')
    assert "sip.routes.0.announcement" in msg and "'defualt'" in msg and "akashi.toml:4" in msg
    assert "告知" in msg and "defined: default" in msg


def test_defining_announcements_drops_the_implicit_default(tmp_path: Path) -> None:
    """With [announcements.main] only, a route left on "default" names nothing."""
    text = '[announcements.main]\ntext = "録音します"\n\n' + ROUTE
    assert "sip.routes.0.announcement: " in refused(tmp_path, text)
    load(tmp_path, text + 'announcement = "main"\n')


@pytest.mark.parametrize("after", ["", "unavailable", "closed"])
def test_unavailable_announcement_may_be_empty_built_in_or_defined(tmp_path: Path, after: str) -> None:
    """Empty hangs up, "unavailable" is built in, anything else must be in [announcements]."""
    text = f'[announcements.closed]\ntext = "本日は終了しました"\n[announcements.default]\n\n{ROUTE}'
    load(tmp_path, text + f'unavailable_announcement = "{after}"\n')


def test_an_undefined_unavailable_announcement_is_refused(tmp_path: Path) -> None:
    msg = refused(tmp_path, ROUTE + 'unavailable_announcement = "closd"\n')
    assert "sip.routes.0.unavailable_announcement" in msg and "'closd'" in msg and "akashi.toml:4" in msg


def test_outbound_announcement_is_checked_when_an_outbound_notice_plays(tmp_path: Path) -> None:
    """Only a notice that would play must exist (sip.outbound_notice or an agent's own)."""
    load(tmp_path, '[sip]\noutbound_announcement = "out"\n')
    assert "sip.outbound_announcement" in refused(
        tmp_path, '[sip]\noutbound_notice = true\noutbound_announcement = "out"\n'
    )
    agent = AGENT.format(name="a", user="201") + "outbound_notice = true\n"
    assert "sip.outbound_announcement" in refused(
        tmp_path, '[sip]\noutbound_announcement = "out"\n\n' + agent
    )


def test_declared_sites_are_the_only_sites_routes_agents_and_cameras_may_name(tmp_path: Path) -> None:
    """A misspelt site would file evidence under a new site nobody may see."""
    sites = '[[sites]]\nname = "tokyo"\n[[sites]]\nname = "osaka"\n\n'
    load(tmp_path, sites + ROUTE + 'site = "tokyo"\n')
    assert "sip.routes.0.site" in refused(tmp_path, sites + ROUTE + 'site = "tokyo2"\n')
    msg = refused(tmp_path, sites + AGENT.format(name="a", user="201") + 'site = "kyoto"\n')
    assert "agents.0.site" in msg and "'kyoto'" in msg and "osaka, tokyo" in msg
    assert "cameras.1.site" in refused(
        tmp_path, sites + CAMERA.format(name="a") + CAMERA.format(name="b") + 'site = "nagoya"\n'
    )


def test_without_declared_sites_any_site_name_is_made_on_first_use(tmp_path: Path) -> None:
    s = load(tmp_path, ROUTE + 'site = "tokyo"\n\n' + AGENT.format(name="a", user="201") + 'site = "osaka"\n')
    assert s.sip.routes[0].site == "tokyo"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (TRUNK.format(name="t") + TRUNK.format(name="t"), "sip.trunks"),
        (AGENT.format(name="a", user="201") + AGENT.format(name="b", user="201"), "agents"),
        ('[[sites]]\nname = "x"\n[[sites]]\nname = "x"\n', "sites"),
    ],
)
def test_names_others_refer_to_are_unique(tmp_path: Path, text: str, key: str) -> None:
    msg = refused(tmp_path, text)
    assert f"{key}: " in msg and "appears twice" in msg and "重複" in msg


def test_networks_are_networks(tmp_path: Path) -> None:
    """Addresses and networks become ip networks at load; host bits are allowed, as before."""
    s = load(
        tmp_path,
        '[sip]\nagent_networks = ["10.1.0.5/16", "2001:db8::1"]\ninbound_networks = ["203.0.113.5"]\n',
    )
    assert s.sip.agent_networks == [
        ipaddress.ip_network("10.1.0.0/16"),
        ipaddress.ip_network("2001:db8::1/128"),
    ]
    assert s.sip.inbound_networks == [ipaddress.ip_network("203.0.113.5/32")]


@pytest.mark.parametrize("value", ['"10.0.0.0/33"', '"tokyo"', "5", '""'])
def test_a_network_that_is_none_is_refused_naming_the_key(tmp_path: Path, value: str) -> None:
    msg = refused(tmp_path, f"[sip]\ninbound_networks = [{value}]\n")
    assert "sip.inbound_networks.0" in msg and "akashi.toml:2" in msg


def test_a_network_from_the_environment_is_checked_too(tmp_path: Path) -> None:
    msg = refused(tmp_path, "", environ={"AKASHI_SIP__AGENT_NETWORKS": '["10.0.0.0/8", 7]'})
    assert "sip.agent_networks.1" in msg and "AKASHI_SIP__AGENT_NETWORKS" in msg


def test_media_workers_need_ports_for_a_call_each(tmp_path: Path) -> None:
    """Each media worker gets a slice of rtp_ports: too few ports for the workers is refused at load."""
    msg = refused(tmp_path, '[sip]\nrtp_ports = "24000-24004"\nmedia_workers = 2\n')
    assert "too small for 2 media workers" in msg and "akashi.toml:1" in msg
    assert (
        load(tmp_path / "ok", '[sip]\nrtp_ports = "24000-24008"\nmedia_workers = 2\n').sip.media_workers == 2
    )
    assert refused(tmp_path / "neg", "[sip]\nmedia_workers = -1\n")


def test_auto_analysis_workers_are_one_per_cpu_threads_cores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default: single-threaded recognitions, one per core this process may use; one on a GPU."""
    a = load(tmp_path, "").analysis
    assert a.workers == "auto" and a.cpu_threads == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3, 4, 5})
    assert a.worker_count == 6
    assert load(tmp_path / "two", "[analysis]\ncpu_threads = 2\n").analysis.worker_count == 3
    assert load(tmp_path / "gpu", '[analysis]\ndevice = "cuda"\n').analysis.worker_count == 1
    auto = load(tmp_path / "auto", '[analysis]\ndevice = "auto"\n').analysis
    # "auto" without a GPU is the CPU: a job per core
    monkeypatch.setattr(analysis_config, "cuda_devices", lambda: 0)
    assert auto.resolved_device == "cpu" and auto.worker_count == 6
    monkeypatch.setattr(analysis_config, "cuda_devices", lambda: 1)
    assert auto.resolved_device == "cuda" and auto.worker_count == 1
    assert load(tmp_path / "set", "[analysis]\nworkers = 2\n").analysis.worker_count == 2
    assert load(tmp_path / "env", "", {"AKASHI_ANALYSIS__WORKERS": "4"}).analysis.worker_count == 4
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0})
    assert load(tmp_path / "one", "[analysis]\ncpu_threads = 2\n").analysis.worker_count == 1  # never 0
    for bad in ('"many"', "0", "true"):
        msg = refused(tmp_path / "bad", f"[analysis]\nworkers = {bad}\n")
        assert 'workers must be "auto"' in msg and "akashi.toml:2" in msg


def test_the_default_configuration_loads(tmp_path: Path) -> None:
    s = load(tmp_path, "")
    assert list(s.announcements) == ["default"]


def test_auto_media_workers_are_one_per_usable_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default "auto": one worker per core this process may run on, at most one per call's two ports."""
    s = load(tmp_path, "").sip
    assert s.media_workers == "auto" and s.media_worker_count == len(os.sched_getaffinity(0))
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1, 2, 3, 4, 5})  # taskset, a cpuset
    assert s.media_worker_count == 6
    assert load(tmp_path / "few", '[sip]\nrtp_ports = "24000-24008"\n').sip.media_worker_count == 2
    assert load(tmp_path / "zero", "[sip]\nmedia_workers = 0\n").sip.media_worker_count == 0
    assert load(tmp_path / "env", "", {"AKASHI_SIP__MEDIA_WORKERS": "3"}).sip.media_worker_count == 3
    msg = refused(tmp_path / "word", '[sip]\nmedia_workers = "many"\n')
    assert (
        'must be "auto" (one per core) or a number of workers from 0 to 64' in msg and "akashi.toml:2" in msg
    )
    assert refused(tmp_path / "bool", "[sip]\nmedia_workers = true\n")
