"""Two telephony nodes behind Kamailio's dispatcher (deploy/kamailio), one web node, PostgreSQL and S3.

Each node is a host of its own (a network namespace with its own address on a bridge; see ``netns.py``):
``akashi serve --only telephony`` twice, each with its own home holding a copy of the installation's
``keys/``, and ``akashi serve --only web,worker`` once, all on one PostgreSQL database and one S3 bucket.
SIPp calls Kamailio; node A is killed with SIGKILL in the middle of its calls. Its calls lose at most the
last second (stored when it restarts), new calls go to node B, and the one web finds every call.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import _drop_pg_database, _new_pg_database, make_home, require_binary
from tests.deploy.netns import Lan, Proc, free_port, lan, sip_options_ok, wait_until
from tests.store.conftest import ACCESS_KEY, BUCKET, SECRET_KEY, RcloneS3, rclone_binary
from tests.telephony import scenarios
from tests.telephony.conftest import sip_toml
from tests.telephony.peers import bursts, write_wav16

pytestmark = [pytest.mark.sip, pytest.mark.postgres, pytest.mark.s3, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
KAMAILIO_CFG = ROOT / "deploy" / "kamailio" / "kamailio.cfg"
PG_SOCKET_DIR = "/var/run/postgresql"
FIRST, SECOND, THIRD = 6, 4, 2  # calls before the kill (half on each node), after it, after A is back
PASSWORD = "correct-horse-battery"
AKASHI = [sys.executable, "-m", "akashi.cli.main"]


def _rtp(xml: str, after: str, wav: Path) -> str:
    """SIPp streams ``wav`` (looped) from right after the element ``after``."""
    xml = xml.replace("[rtpport]", "[media_port]")
    return xml.replace(after, after + f'\n  <nop><action><exec rtp_stream="{wav},-1,0"/></action></nop>', 1)


def caller_xml(talk_ms: int, wav: Path) -> str:
    """The customer through a record-routing proxy: ACK and BYE go to the node's Contact by the route set."""
    ack = scenarios.ACK.replace(
        "ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0", "ACK [next_url] SIP/2.0"
    )
    ack = ack.replace(";rport\n", ";rport\n[routes]\n", 1)
    bye = scenarios.CALLER_REQ.format(method="BYE", cseq=10, body_headers="Content-Length: 0\n", body="")
    bye = bye.replace(";rport\n", ";rport\n[routes]\n", 1)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<scenario name="caller">',
        scenarios.CALLER_INVITE.replace(" 0 101", " 0").replace(
            "a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\n", ""
        ),
        '  <recv response="200" rtd="true" rrs="true"/>',
        ack,
        f'  <pause milliseconds="{talk_ms}"/>',
        bye,
        '  <recv response="200"/>',
        "</scenario>",
    ]
    return _rtp("\n".join(parts), ack.rstrip(), wav)


def sipp(name: str, xml: str, where: Path, host: str, *args: str, limit_s: int = 60) -> Proc:
    """A SIPp on ``host`` running the scenario ``xml``."""
    (where / f"{name}.xml").write_text(xml)
    port, mport = free_port(host), free_port(host)
    cmd = [require_binary("sipp"), "-sf", str(where / f"{name}.xml"), "-i", host, "-p", str(port),
           "-mp", str(mport), "-nostdin", "-trace_err", *args]  # fmt: skip
    p = Proc(name, cmd, where / f"{name}.out", limit_s=limit_s)
    p.port = port
    return p


def _bridged(home: Path) -> int:
    n = 0
    for meta in (home / "spool" / "calls").glob("*/meta.json"):
        try:
            n += bool(json.loads(meta.read_text()).get("bridged_at"))
        except (OSError, ValueError):
            continue
    return n


def _spooled(home: Path) -> int:
    """Bytes of media on disk of the call spooled least so far (0 with no call)."""
    sizes = [
        sum(f.stat().st_size for f in folder.iterdir() if f.name != "meta.json")
        for folder in (home / "spool" / "calls").iterdir()
        if folder.is_dir()
    ]
    return min(sizes, default=0)


@pytest.fixture
def pg_socket_db(pg_admin_url: str) -> Iterator[str]:
    """A throwaway PostgreSQL database reached through the Unix socket (every namespace sees the file)."""
    if not os.path.exists(f"{PG_SOCKET_DIR}/.s.PGSQL.5432"):
        from tests.conftest import missing_peer

        missing_peer(f"PostgreSQL's Unix socket in {PG_SOCKET_DIR}")
    name, _url = _new_pg_database(pg_admin_url)
    try:
        yield f"postgresql+psycopg://postgres@/{name}?host={PG_SOCKET_DIR}"
    finally:
        _drop_pg_database(name)


def test_node_killed_behind_kamailio(
    tmp_path: Path, pg_socket_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kill -9 of a node mid-call: its calls lose at most the last second, new calls go to the other node."""
    kamailio = require_binary("kamailio")
    require_binary("sipp")
    require_binary("sox")
    rclone_binary()  # the S3 server, checked before the LAN is made
    monkeypatch.delenv("AKASHI_HOME", raising=False)
    wav = tmp_path / "talk.wav"
    subprocess.run(["timeout", "30", "sox", "-n", "-r", "8000", "-c", "1", "-e", "u-law", str(wav),
                    "synth", "3", "sine", "440"], check=True)  # fmt: skip
    notice = write_wav16(tmp_path / "notice.wav", bursts(0.5, [0.0], 1000.0, burst_s=0.5))
    procs: list[Proc] = []
    with lan() as net:
        node_ip = {"a": net.add_host("a", 11), "b": net.add_host("b", 12)}
        s3 = RcloneS3(tmp_path / "s3", net.gateway)
        s3.start()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AKASHI_")}
        env |= {
            "AKASHI_ANALYSIS__ENABLED": "false",
            "AKASHI_JOBS__POLL_SECONDS": "0.2",
            "AKASHI_STORE__BACKEND": "s3",
            "AKASHI_STORE__S3__ENDPOINT_URL": s3.url,
            "AKASHI_STORE__S3__BUCKET": BUCKET,
            "AKASHI_STORE__S3__ACCESS_KEY": ACCESS_KEY,
            "AKASHI_STORE__S3__SECRET_KEY": SECRET_KEY,
            "AKASHI_STORE__S3__PREFIX": "akashi/",
        }
        for k, v in env.items():
            if k.startswith("AKASHI_"):
                monkeypatch.setenv(k, v)
        try:
            _run(tmp_path, net, node_ip, env, procs, kamailio, wav, notice, pg_socket_db)
        finally:
            for p in procs:
                p.stop(5)
            s3.stop()


def _run(
    tmp: Path, net: Lan, node_ip: dict[str, str], env: dict[str, str], procs: list[Proc],
    kamailio: str, wav: Path, notice: Path, db_url: str,
) -> None:  # fmt: skip
    gw = net.gateway
    # the web node's home is made first: its keys/ are the installation's, copied to the nodes
    web_home = make_home(tmp / "web", db_url)
    web_port = free_port("127.0.0.1", socket.SOCK_STREAM)
    subprocess.run(
        [*AKASHI, "--home", str(web_home), "user", "add", "kanri", "--role", "admin", "--password-stdin"],
        input=PASSWORD, text=True, env=env, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    op_xml = _rtp(scenarios.operator(hangup="caller"), '<recv request="ACK" crlf="true"/>', wav)
    op = sipp("op", op_xml, tmp, gw, "-m", str(FIRST + SECOND + THIRD), limit_s=170)
    procs.append(op)
    homes: dict[str, Path] = {}
    for name, ip in node_ip.items():
        home = tmp / f"node-{name}"
        shutil.copytree(web_home / "keys", home / "keys")
        toml = sip_toml(5060, [op.port], notice=notice, store_processes=0)
        toml = (
            toml.replace('listen = "127.0.0.1:5060"', f'listen = "{ip}:5060"')
            .replace('public_address = "127.0.0.1"', f'public_address = "{ip}"')
            .replace("@127.0.0.1:", f"@{gw}:")
        )
        homes[name] = make_home(home, db_url, extra_toml=toml)

    def node(name: str) -> Proc:
        cmd = [*AKASHI, "--home", str(homes[name]), "serve", "--only", "telephony"]
        return Proc(f"node-{name}", cmd, tmp / f"node-{name}.log", netns=net.namespaces[name], env=env)

    nodes = {n: node(n) for n in node_ip}
    procs.extend(nodes.values())
    web_env = {**env, "AKASHI_WEB__LISTEN": f"127.0.0.1:{web_port}"}
    web_cmd = [*AKASHI, "--home", str(web_home), "serve", "--only", "web,worker"]
    web = Proc("web", web_cmd, tmp / "web.log", env=web_env)
    procs.append(web)
    dlist = tmp / "dispatcher.list"
    dlist.write_text("".join(f"1 sip:{ip}:5060 0 0 duid=node-{n}\n" for n, ip in node_ip.items()))
    kport = free_port(gw)
    # round-robin instead of the shipped Call-ID hash: six calls then surely land on both nodes, and the
    # calls after A's return surely reach it (selection is all that differs; pings and failover are the same)
    (tmp / "kamailio").mkdir()
    kam = Proc("kamailio", [kamailio, "-f", str(KAMAILIO_CFG), "-DD", "-E", "-l", f"udp:{gw}:{kport}",
                            "-Y", str(tmp / "kamailio"), "-P", str(tmp / "kamailio" / "pid"),
                            "-m", "64", "-M", "8", "-A", f'DISPATCHER_LIST="{dlist}"', "-A", "PING_INTERVAL=1",
                            "-A", "INVITE_TIMEOUT_MS=1500", "-A", "CHILDREN=2", "-A", 'DS_ALGORITHM="4"'], tmp / "kamailio.log")  # fmt: skip
    procs.append(kam)
    for n, ip in node_ip.items():
        wait_until(f"node {n} answers OPTIONS", lambda ip=ip: sip_options_ok(gw, (ip, 5060)), 90, nodes[n])
    wait_until("Kamailio answers OPTIONS", lambda: sip_options_ok(gw, (gw, kport)), 30, kam)

    def kam_log() -> str:
        return kam.log.read_text(errors="replace")

    def seen_up(ip: str) -> bool:
        """Kamailio has said the node is up again as often as it said it is down (nodes start up).

        The two lines come from different Kamailio processes (the ping timer, the worker that takes the
        reply), whose writes to the log may land out of order; the state changes alternate, so counting them
        is what tells where the node stands.
        """
        log = kam_log()
        return log.count(f"node sip:{ip}:5060 is up again") >= log.count(f"node sip:{ip}:5060 is down")

    # a node still starting when Kamailio's first pings went out was taken out: wait for it to be back
    wait_until("Kamailio sees both nodes up", lambda: all(seen_up(ip) for ip in node_ip.values()), 30, kam)

    # -- calls on both nodes, then node A dies --------------------------------------------------------
    first = sipp("caller1", caller_xml(10_000, wav), tmp, gw, f"{gw}:{kport}", "-s", "0312345678",
                 "-m", str(FIRST), "-l", str(FIRST), "-r", "10", limit_s=120)  # fmt: skip
    procs.append(first)
    wait_until(
        "every first call bridged", lambda: sum(_bridged(h) for h in homes.values()) == FIRST, 40,
        first, op, kam, *nodes.values(),
    )  # fmt: skip
    on_a = _bridged(homes["a"])
    assert on_a and on_a < FIRST, f"round-robin put {on_a} of {FIRST} calls on node A"
    # media flows on every call: each of A's spools holds about 3 s of audio (both directions) on disk
    wait_until("A's calls recorded for a while", lambda: _spooled(homes["a"]) >= 48_000, 30, nodes["a"])
    # what Kamailio says from here on is about the kill (its first pings, sent while the nodes were still
    # starting, may time out and be logged as a node down and up again after the wait above)
    wait_until("Kamailio sees both nodes up", lambda: all(seen_up(ip) for ip in node_ip.values()), 30, kam)
    mark = len(kam_log())
    killed_at = time.time()
    nodes["a"].kill9()

    # -- new calls: Kamailio takes A out (no ping answer, or an INVITE unanswered) and B gets them --------
    second = sipp("caller2", caller_xml(2_000, wav), tmp, gw, f"{gw}:{kport}", "-s", "0312345678",
                  "-m", str(SECOND), "-l", str(SECOND), "-r", "10", limit_s=60)  # fmt: skip
    procs.append(second)
    rc = second.proc.wait(45)
    assert rc == 0, second.tail() + kam.tail()

    down = f"node sip:{node_ip['a']}:5060 is down"
    wait_until("Kamailio takes node A out", lambda: down in kam_log()[mark:], 10, kam)

    # -- A comes back: it stores its spooled, interrupted calls; the pings see it and it gets calls again --
    nodes["a"] = node("a")
    procs.append(nodes["a"])
    up = f"node sip:{node_ip['a']}:5060 is up again"
    wait_until("Kamailio's pings find node A up", lambda: up in kam_log()[mark:], 60, kam)
    third = sipp("caller3", caller_xml(2_000, wav), tmp, gw, f"{gw}:{kport}", "-s", "0312345678",
                 "-m", str(THIRD), "-l", str(THIRD), "-r", "10", limit_s=60)  # fmt: skip
    procs.append(third)
    assert third.proc.wait(45) == 0, third.tail() + kam.tail()
    assert f"new INVITE to sip:{node_ip['a']}:5060" in kam_log()[mark:].split(up, 1)[1]
    assert f"node sip:{node_ip['b']}:5060 is down" not in kam_log()[mark:]  # B stayed in all along

    engine = sa.create_engine(db_url)
    try:

        def stored() -> int:
            with engine.connect() as c:
                return int(c.execute(sa.text("SELECT count(*) FROM calls")).scalar_one())

        total = FIRST + SECOND + THIRD
        wait_until("every call stored", lambda: stored() == total, 60, nodes["a"], nodes["b"])
        with engine.connect() as c:
            rows = c.execute(
                sa.text("SELECT status, started_at, answered_at, ended_at, caller FROM calls ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    interrupted = [r for r in rows if r.status == "interrupted"]
    assert len(interrupted) == on_a, rows
    for r in interrupted:  # the spool kept all but the last second of A's calls
        lost = killed_at - r.ended_at.timestamp()
        assert -0.1 < lost <= 1.0, (lost, r)
    later = [r for r in rows if r.started_at.timestamp() > killed_at]
    assert len(later) == SECOND + THIRD and all(r.status == "completed" for r in later), rows
    assert all(r.caller == "0901234567" for r in rows)

    # -- one web finds every call of both nodes -----------------------------------------------------------
    base = f"http://127.0.0.1:{web_port}"
    wait_until("the web node answers", lambda: _up(base), 60, web)
    with httpx.Client(base_url=base, timeout=10) as client:
        login = client.post("/api/v1/auth/login", json={"name": "kanri", "password": PASSWORD})
        assert login.status_code == 200, login.text
        page = client.get("/api/v1/calls", params={"limit": 50}).json()
    assert page["total"] == total, page
    assert sorted(c["status"] for c in page["items"]).count("interrupted") == on_a
    assert all(c["has_media"] for c in page["items"]), page


def _up(base: str) -> bool:
    try:
        return httpx.get(base + "/api/v1/openapi.json", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
