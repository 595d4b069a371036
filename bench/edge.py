"""Benchmark of the SIP edge under an INVITE flood: do clean calls stay clean while one address floods?

Akashi holds ``--calls`` SIPp calls (G.711 both ways, caller -> Akashi -> operator) plus the probe call
of ``bench/telephony.py`` (send time in the payload, relay delay on arrival). The probe's relay delay is
measured for ``--duration`` seconds without a flood, then for as long while a SIPp flooder on another
loopback address (127.0.0.2) sends new INVITEs at ``--flood-rate`` per second. Akashi admits
``sip.invites_per_second_per_source`` of them (to an unrouted number: 404) and refuses the rest with
a stateless 503 + Retry-After.

    python bench/edge.py --quick                 # 10 s per phase, 500 INVITEs/s
    python bench/edge.py --duration 60           # 100 calls, 1000 INVITEs/s, a minute each

Prints the INVITEs/s absorbed (answered: 503 or 404), the probe's p99 relay delay during the flood
against the same call without it (ratio), Akashi's memory, and writes JSON to bench/results/edge.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    CALLED,
    PROBE_CALLED,
    RTP_HI,
    RTP_LO,
    Probe,
    Serve,
    callers,
    child_pid,
    cpu_s,
    free_port,
    home_toml,
    need,
    operators,
    p99_ms,
    sipp,
    stop,
    tones,
    udp_drops,
    write_json,
    write_load,
)
from tests.telephony import scenarios  # noqa: E402

FLOOD_IP = "127.0.0.2"
UNROUTED = "0399999999"


def flood_scenario() -> str:
    """One INVITE per call: answered 404 (admitted, unrouted number) or 503 (refused); then ACK."""
    # elements: 0 INVITE, 1 100, 2 180, 3 404, 4 503, 5 ACK: [branch-5] is the INVITE's branch
    return "\n".join(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<scenario name="flood">',
            scenarios.CALLER_INVITE,
            '  <recv response="404" optional="true" next="ack"/>',
            '  <recv response="503"/>',
            '  <label id="ack"/>',
            scenarios.ACK.replace("[branch]", "[branch-5]"),
            "</scenario>",
        ]
    )


def rss_kb(pid: int) -> dict[str, int]:
    """Resident memory now and its peak (kB) of a process."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


def sipp_counts(log: Path) -> dict[str, int]:
    """SIPp's final cumulative counters (calls created, successful, failed) from its screen output."""
    text = log.read_text(errors="replace")
    out = {}
    for name, key in (
        ("Outgoing calls created", "sent"),
        ("Successful call", "answered"),
        ("Failed call", "failed"),
    ):
        found = re.findall(rf"{name}\s*\|\s*\d+\s*\|\s*(\d+)", text)
        out[key] = int(found[-1]) if found else 0
    return out


def phase(ak: Serve, probe: Probe, seconds: float, uac_pid: int) -> dict[str, Any]:
    """Measure for ``seconds``: the probe's delays, Akashi's CPU, memory (sampled) and RTP socket drops."""
    i0 = len(probe.delays)
    s0 = ak.stats()
    cpu0, uac0, drops0 = cpu_s(ak.pid), cpu_s(uac_pid), udp_drops(RTP_LO, RTP_HI)
    peak = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        peak = max(peak, rss_kb(ak.pid)["VmRSS"])
        time.sleep(0.5)
    s1 = ak.stats()
    delays = probe.delays[i0:]
    return {
        "seconds": seconds,
        "probe_packets": len(delays),
        "relay_p50_ms": round(1000 * sorted(delays)[len(delays) // 2], 3) if delays else None,
        "relay_p99_ms": p99_ms(delays),
        "akashi_cpu_pct": round(100 * (cpu_s(ak.pid) - cpu0) / seconds, 1),
        "caller_sipp_cpu_pct": round(100 * (cpu_s(uac_pid) - uac0) / seconds, 1),
        "akashi_rss_peak_kb": peak,
        "rtp_socket_drops": udp_drops(RTP_LO, RTP_HI) - drops0,
        "rtp_rx_packets": s1.get("rtp_rx_packets", 0) - s0.get("rtp_rx_packets", 0),
        "bridged_calls": s1.get("bridged_calls", 0),
        "refused_rate": s1.get("refused_rate", 0) - s0.get("refused_rate", 0),
        "loop_lag_us": {k: v for k, v in s1.items() if k.startswith("loop_lag")},
    }


def run(work: Path, calls: int, duration: float, flood_rate: int) -> dict[str, Any]:
    """Hold ``calls`` clean calls; measure a quiet phase, then a flood phase of the same length."""
    wav, notice = tones(work)
    limit = int(2 * duration) + 180
    op_port, probe_op_port, sip_port = free_port(), free_port(), free_port()
    toml = home_toml(sip_port, op_port, probe_op_port, notice, called=CALLED, probe_called=PROBE_CALLED)
    ak = Serve.sip(work, toml, limit + 60)
    target = f"127.0.0.1:{sip_port}"
    talk_ms = int(2 * duration * 1000) + 60_000
    write_load(work, wav, talk_ms)
    (work / "flood.xml").write_text(flood_scenario())
    procs: list[subprocess.Popen[bytes]] = []
    probe = Probe()
    try:
        procs.append(operators(work, op_port, calls, limit))
        time.sleep(0.5)
        uac = callers(work / "caller.xml", target, calls, work / "caller.log", limit)
        procs.append(uac)
        if not ak.bridged(calls, time.monotonic() + 60):
            raise SystemExit(
                f"only {ak.stats().get('bridged_calls')} of {calls} calls bridged; logs in {work}"
            )
        probe.call(work, target, probe_op_port, talk_ms, limit)
        time.sleep(2.0)  # the probe's notice, then its bridge
        uac_pid = child_pid(uac.pid)
        rss_before = rss_kb(ak.pid)
        quiet = phase(ak, probe, duration, uac_pid)
        flood_log = work / "flood.log"
        flood = sipp(
            [
                "-sf",
                str(work / "flood.xml"),
                target,
                "-i",
                FLOOD_IP,
                "-s",
                UNROUTED,
                "-p",
                str(free_port()),
                "-mp",
                str(free_port()),
                "-key",
                "rtpport",
                "9",
                "-r",
                str(flood_rate),
                "-rp",
                "1000",
                "-m",
                str(int(flood_rate * duration)),
                "-l",
                str(flood_rate * 5),
                "-recv_timeout",
                "3000",
            ],
            flood_log,
            int(duration) + 60,
        )
        procs.append(flood)
        t_flood = time.monotonic()
        flooded = phase(ak, probe, duration, uac_pid)
        flood.wait(timeout=duration + 60)
        flood_s = time.monotonic() - t_flood
        rss_after = rss_kb(ak.pid)
    finally:
        probe.end()
        for p in procs:
            stop(p)
        ak.stop()
    counts = sipp_counts(flood_log)
    ratio = (
        round(flooded["relay_p99_ms"] / quiet["relay_p99_ms"], 2)
        if flooded["relay_p99_ms"] and quiet["relay_p99_ms"]
        else None
    )
    return {
        "calls": calls,
        "duration_s": duration,
        "flood": {
            "source": FLOOD_IP,
            "rate_asked": flood_rate,
            **counts,
            "flood_s": round(flood_s, 2),
            "invites_per_s_sent": round(counts["sent"] / duration, 1),
            "invites_per_s_absorbed": round(counts["answered"] / duration, 1),
            "refused_503_by_akashi": flooded["refused_rate"],
        },
        "quiet": quiet,
        "flooded": flooded,
        "relay_p99_ratio_flood_vs_quiet": ratio,
        "akashi_memory_kb": {"before": rss_before, "after": rss_after},
        "cpus": os.cpu_count(),
    }


def main() -> None:
    """Run the benchmark and print/write the figures."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10 s per phase at 500 INVITEs/s")
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of each phase (quiet, flood)")
    ap.add_argument("--flood-rate", type=int, default=1000, help="INVITEs per second the flooder tries")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "edge.json")
    args = ap.parse_args()
    need("sipp", "sox", "timeout")
    duration = 10.0 if args.quick else args.duration
    rate = 500 if args.quick else args.flood_rate
    work = Path(tempfile.mkdtemp(prefix="akashi-bench-edge-"))
    result = run(work, args.calls, duration, rate)
    write_json(args.out, result)
    f, q, fl = result["flood"], result["quiet"], result["flooded"]
    mem = result["akashi_memory_kb"]
    print(json.dumps(result))
    print(
        f"{result['calls']} calls + probe; flood from {f['source']}: {f['invites_per_s_sent']} INVITEs/s sent, "
        f"{f['invites_per_s_absorbed']} INVITEs/s absorbed (answered 503/404), {f['failed']} unanswered"
    )
    print(
        f"probe relay p99: {q['relay_p99_ms']} ms quiet, {fl['relay_p99_ms']} ms during the flood "
        f"(x{result['relay_p99_ratio_flood_vs_quiet']}); p50 {q['relay_p50_ms']} / {fl['relay_p50_ms']} ms"
    )
    print(
        f"Akashi RSS: {mem['before']['VmRSS']} kB before, peak {fl['akashi_rss_peak_kb']} kB during, "
        f"{mem['after']['VmRSS']} kB after (high-water {mem['after']['VmHWM']} kB); "
        f"CPU {q['akashi_cpu_pct']}% quiet, {fl['akashi_cpu_pct']}% flooded; "
        f"RTP socket drops {q['rtp_socket_drops']} quiet, {fl['rtp_socket_drops']} flooded"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
