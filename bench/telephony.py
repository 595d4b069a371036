"""Benchmark of the recording B2BUA: SIPp calls with G.711 RTP both ways through Akashi.

Steps the number of concurrent calls N up; for each N, SIPp (caller and operator) holds N calls
through Akashi for ``--duration`` seconds while a probe call measures the relay delay and the
kernel's per-socket drop counters of Akashi's RTP ports measure loss. The same SIPp load run
directly (caller -> operator, no Akashi) is the baseline of the same run.

    python bench/telephony.py --quick          # two small steps, 8 s each
    python bench/telephony.py --duration 60    # the issue's setting

Prints the figures and writes JSON to bench/results/telephony.json (or --out).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.telephony import scenarios  # noqa: E402

HZ = os.sysconf("SC_CLK_TCK")
RTP_LO, RTP_HI = 20000, 29999


def free_port() -> int:
    """A free UDP port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def udp_drops(lo: int, hi: int) -> int:
    """Sum of the kernel's drop counters of UDP sockets bound to ports lo..hi."""
    total = 0
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        parts = line.split()
        port = int(parts[1].split(":")[1], 16)
        if lo <= port <= hi:
            total += int(parts[-1])
    return total


def with_rtp(xml: str, after: str, wav: Path) -> str:
    """Start SIPp's looped RTP stream after the element ``after``."""
    return xml.replace(after, after + f'\n  <nop><action><exec rtp_stream="{wav},-1,0"/></action></nop>', 1)


class Probe:
    """One extra call whose media is ours: send time in the payload, receive time on arrival."""

    def __init__(self) -> None:
        self.cust = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.cust.bind(("127.0.0.1", 0))
        self.op = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.op.bind(("127.0.0.1", 0))
        self.op.settimeout(0.5)
        self.cust.settimeout(0.5)
        self.delays: list[float] = []
        self.sent = 0
        self.got = 0
        self.stop = threading.Event()

    def run(self) -> None:
        """Learn Akashi's port from the notice, then send 50 packets/s and time their relay."""
        try:
            _, akashi_a = self.cust.recvfrom(2048)
        except TimeoutError:
            return
        rx = threading.Thread(target=self._receive, daemon=True)
        rx.start()
        seq = 0
        start = time.monotonic()
        while not self.stop.is_set():
            hdr = (
                bytes([0x80, 0])
                + (seq & 0xFFFF).to_bytes(2, "big")
                + (seq * 160).to_bytes(4, "big")
                + b"PRBE"
            )
            self.cust.sendto(hdr + time.monotonic().hex().encode().ljust(160, b"\xff")[:160], akashi_a)
            self.sent += 1
            seq += 1
            delay = start + seq * 0.02 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        rx.join(2)

    def _receive(self) -> None:
        while not self.stop.is_set():
            try:
                data, _ = self.op.recvfrom(2048)
            except TimeoutError:
                continue
            if data[8:12] == b"PRBE":
                t = float.fromhex(data[12:].split(b"\xff")[0].decode())
                self.delays.append(time.monotonic() - t)
                self.got += 1


def home_toml(
    sip_port: int,
    op_port: int,
    probe_op_port: int,
    notice: Path,
    *,
    called: str = "*",
    probe_called: str = "0999000000",
    sip_extra: str = "",
    agent: bool = True,
) -> str:
    """The benchmarks' Akashi home: a probe route, the load route and the automatic notice."""
    agents = '\n[[agents]]\nname = "bench"\nsip_user = "201"\n' if agent else ""
    return f"""
[sip]
enabled = true
listen = "127.0.0.1:{sip_port}"
public_address = "127.0.0.1"
rtp_ports = "{RTP_LO}-{RTP_HI}"
rtp_timeout_s = 120
{sip_extra}
[[sip.routes]]
match = "{probe_called}"
ring = ["sip:202@127.0.0.1:{probe_op_port}"]

[[sip.routes]]
match = "{called}"
ring = ["sip:201@127.0.0.1:{op_port}"]
ring_timeout_s = 30

[announcements.default]
mode = "automatic"
audio = "{notice}"
{agents}"""


def sipp(args: list[str], log: Path, limit: int) -> subprocess.Popen[bytes]:
    """SIPp under coreutils timeout."""
    return subprocess.Popen(
        ["timeout", "-s", "KILL", str(limit), "sipp", "-nostdin", "-i", "127.0.0.1", *args],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(p: subprocess.Popen[bytes]) -> None:
    """Stop a process group."""
    if p.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
    p.wait(10)


def step(
    work: Path, n: int, duration: float, through_akashi: bool, wav: Path, notice: Path
) -> dict[str, Any]:
    """Hold n calls for ``duration`` s; through Akashi or directly (baseline)."""
    work.mkdir(parents=True, exist_ok=True)
    op_port = free_port()
    op_xml = with_rtp(
        scenarios.operator(hangup="caller", ring_ms=0).replace("[rtpport]", "[media_port]"),
        '<recv request="ACK" crlf="true"/>',
        wav,
    )
    (work / "op.xml").write_text(op_xml)
    talk_ms = int(duration * 1000) + 30_000
    caller_xml = with_rtp(
        scenarios.caller(talk_ms=talk_ms).replace("[rtpport]", "[media_port]"), scenarios.ACK.rstrip(), wav
    )
    (work / "caller.xml").write_text(caller_xml)
    limit = int(duration) + 120
    akashi = None
    stats = work / "stats.json"
    target = f"127.0.0.1:{op_port}"
    probe_op_port = free_port()
    if through_akashi:
        from akashi.setup import init_home

        sip_port = free_port()
        home = work / "home"
        init_home(
            home,
            extra_toml=home_toml(sip_port, op_port, probe_op_port, notice),
        )
        ready = work / "ready.json"
        akashi = subprocess.Popen(
            [
                "timeout",
                "-s",
                "KILL",
                str(limit + 60),
                sys.executable,
                "-m",
                "akashi.cli.main",
                "--home",
                str(home),
                "sip",
                "serve",
                "--ready-file",
                str(ready),
                "--stats-file",
                str(stats),
            ],
            stdout=(work / "akashi.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        while not ready.exists():
            if akashi.poll() is not None:
                raise SystemExit((work / "akashi.log").read_text()[-2000:])
            time.sleep(0.1)
        target = f"127.0.0.1:{sip_port}"
    uas = sipp(
        ["-sf", str(work / "op.xml"), "-p", str(op_port), "-mp", str(free_port()), "-m", str(n + 1)],
        work / "op.log",
        limit,
    )
    time.sleep(0.5)
    t0 = time.monotonic()
    uac = sipp(
        [
            "-sf",
            str(work / "caller.xml"),
            target,
            "-s",
            "0312345678",
            "-p",
            str(free_port()),
            "-mp",
            str(free_port()),
            "-m",
            str(n),
            "-l",
            str(n),
            "-r",
            "50",
            "-rp",
            "1000",
        ],
        work / "caller.log",
        limit,
    )
    probe = None
    probe_t = None

    def poll() -> dict[str, int]:
        if akashi is None:
            return {}
        stats.unlink(missing_ok=True)
        akashi.send_signal(0)
        os.killpg(akashi.pid, 0)
        pid = child_pid(akashi.pid)
        os.kill(pid, signal.SIGUSR1)
        for _ in range(200):  # up to 10 s: a saturated loop answers late
            if stats.exists():
                try:
                    return dict(json.loads(stats.read_text()))
                except ValueError:
                    pass
            time.sleep(0.05)
        return {}

    setup_s = None
    if akashi is not None:
        while time.monotonic() - t0 < 60:
            if poll().get("bridged_calls", 0) >= n:
                setup_s = time.monotonic() - t0
                break
            time.sleep(0.2)
        # the probe call, through the same route
        probe = Probe()
        px = work / "probe_caller.xml"
        px.write_text(scenarios.caller(talk_ms=talk_ms))
        pop = work / "probe_op.xml"
        pop.write_text(scenarios.operator(hangup="caller", ring_ms=0))
        # the probe's own operator: a second SIPp UAS whose SDP names our socket
        probe_uas = sipp(
            [
                "-sf",
                str(pop),
                "-p",
                str(probe_op_port),
                "-m",
                "1",
                "-key",
                "rtpport",
                str(probe.op.getsockname()[1]),
            ],
            work / "probe_op.log",
            limit,
        )
        time.sleep(0.3)
        probe_uac = sipp(
            [
                "-sf",
                str(px),
                target,
                "-s",
                "0999000000",
                "-p",
                str(free_port()),
                "-m",
                "1",
                "-key",
                "rtpport",
                str(probe.cust.getsockname()[1]),
            ],
            work / "probe.log",
            limit,
        )
        probe_t = threading.Thread(target=probe.run, daemon=True)
        probe_t.start()
    else:
        time.sleep(min(10.0, n / 50 + 2))
        setup_s = n / 50  # SIPp's own rate; the baseline answers at once
    pid_a = child_pid(akashi.pid) if akashi else None
    cpu0 = {
        "akashi": cpu_s(pid_a) if pid_a else 0.0,
        "uac": cpu_s(child_pid(uac.pid)),
        "uas": cpu_s(child_pid(uas.pid)),
    }
    drops0 = udp_drops(RTP_LO, RTP_HI) if akashi else 0
    s0 = poll()
    time.sleep(duration)
    s1 = poll()
    cpu1 = {
        "akashi": cpu_s(pid_a) if pid_a else 0.0,
        "uac": cpu_s(child_pid(uac.pid)),
        "uas": cpu_s(child_pid(uas.pid)),
    }
    drops1 = udp_drops(RTP_LO, RTP_HI) if akashi else 0
    if probe is not None:
        probe.stop.set()
        assert probe_t is not None
        probe_t.join(3)
        stop(probe_uac)
        stop(probe_uas)
    for p in (uac, uas):
        stop(p)
    if akashi is not None:
        stop(akashi)
    rx = s1.get("rtp_rx_packets", 0) - s0.get("rtp_rx_packets", 0)
    dropped = drops1 - drops0
    out: dict[str, Any] = {
        "n": n,
        "through_akashi": through_akashi,
        "cpu_s": {k: round(cpu1[k] - cpu0[k], 3) for k in cpu0},
        "setup_s": round(setup_s, 3) if setup_s else None,
        "setup_calls_per_s": round(n / setup_s, 1) if setup_s else None,
    }
    if akashi is not None:
        out["bridged"] = s1.get("bridged_calls", 0)
        out["rtp_rx_packets"] = rx
        out["rtp_dropped_packets"] = dropped
        out["loss"] = dropped / (rx + dropped) if rx + dropped else 1.0
        out["akashi_loop_lag_us"] = {k: v for k, v in s1.items() if k.startswith("loop_lag")}
        out["akashi_cpu_per_call_pct"] = round(
            100 * (cpu1["akashi"] - cpu0["akashi"]) / duration / max(n, 1), 3
        )
        if probe is not None and probe.delays:
            d = sorted(probe.delays)
            out["probe"] = {
                "sent": probe.sent,
                "received": probe.got,
                "delay_p50_ms": round(1000 * statistics.median(d), 3),
                "delay_p99_ms": round(1000 * d[int(0.99 * (len(d) - 1))], 3),
            }
    return out


def child_pid(pid: int) -> int:
    """The process under coreutils ``timeout`` (its only child)."""
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return pid
    return int(kids[0]) if kids else pid


def main() -> None:
    """Run the steps and print/write the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N = 20, 50 for 8 s each")
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--steps", default="50,100,200,300,400,500,700,1000")
    ap.add_argument("--keep-going", action="store_true", help="measure every step, even after an unclean one")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "telephony.json")
    args = ap.parse_args()
    for tool in ("sipp", "sox", "timeout"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed")
    steps = [20, 50] if args.quick else [int(s) for s in args.steps.split(",")]
    duration = 8.0 if args.quick else args.duration
    work = Path(tempfile.mkdtemp(prefix="akashi-bench-tel-"))
    wav = work / "talk.wav"
    subprocess.run(
        [
            "timeout",
            "30",
            "sox",
            "-n",
            "-r",
            "8000",
            "-c",
            "1",
            "-e",
            "u-law",
            str(wav),
            "synth",
            "3",
            "sine",
            "440",
        ],
        check=True,
    )
    notice = work / "notice.wav"
    subprocess.run(
        [
            "timeout",
            "30",
            "sox",
            "-n",
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            str(notice),
            "synth",
            "0.5",
            "sine",
            "1000",
        ],
        check=True,
    )
    results: list[dict[str, Any]] = []
    best = 0
    for n in steps:
        base = step(work / f"direct-{n}", n, duration, False, wav, notice)
        run = step(work / f"akashi-{n}", n, duration, True, wav, notice)
        if int(run.get("bridged", 0)) < n and not run["cpu_s"]["uac"]:
            # SIPp did not start (a port taken between choosing and binding it): measure again
            run = step(work / f"akashi-{n}-again", n, duration, True, wav, notice)
        run["baseline"] = base
        base_cpu = sum(v for v in base["cpu_s"].values())
        run["cpu_ratio_vs_direct_sipp"] = round(run["cpu_s"]["akashi"] / base_cpu, 2) if base_cpu else None
        results.append(run)
        probe = run.get("probe") or {}
        clean = (
            int(run.get("bridged", 0)) >= n
            and float(run["loss"]) <= 0.0001
            and probe.get("delay_p99_ms", 1e9) <= 5.0
        )
        run["clean"] = clean
        print(json.dumps(run), flush=True)
        if clean and all(r["clean"] for r in results):
            best = n  # the largest N with every step up to it clean
        if not clean and not args.keep_going:
            break
    summary = {
        "max_clean_concurrent_calls": best,
        "duration_s": duration,
        "steps": results,
        "cpus": os.cpu_count(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2))
    print(f"max clean concurrent calls: {best}")
    for r in results:
        p = r.get("probe") or {}
        print(
            f"N={r['n']}: akashi CPU/call {r.get('akashi_cpu_per_call_pct')}% of a core, loss {r.get('loss'):.5f}, "
            f"relay p50/p99 {p.get('delay_p50_ms')}/{p.get('delay_p99_ms')} ms, setup {r.get('setup_calls_per_s')} calls/s, "
            f"CPU vs direct SIPp x{r.get('cpu_ratio_vs_direct_sipp')}"
        )
    if all(r["clean"] for r in results):
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"logs of the run kept in {work}")


if __name__ == "__main__":
    main()
