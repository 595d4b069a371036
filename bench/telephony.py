"""Benchmark of the recording B2BUA: SIPp calls with G.711 RTP both ways through Akashi.

Steps the number of concurrent calls N up; for each N, SIPp (caller and operator) holds N calls
through Akashi for ``--duration`` seconds while a probe call measures the relay delay and the
kernel's per-socket drop counters of Akashi's RTP ports measure loss. The same SIPp load run
directly (caller -> operator, no Akashi) is the baseline of the same run.

    python bench/telephony.py --quick          # two small steps, 8 s each
    python bench/telephony.py --duration 60    # the issue's setting
    python bench/telephony.py --steps 50,100,200 --duration 20 --against --repeats 3   # before/after

Prints the figures and writes JSON to bench/results/telephony.json (or --out).

Before/after (``--against [REF]``): the same steps with the code of commit REF, checked out by
``git worktree add --detach`` into the run's temporary folder (removed afterwards), and with the working
tree. Both run on this venv's Python with ``PYTHONPATH=<code>/src``, which goes before the venv's editable
install; the path of the ``akashi`` each imports is checked to lie under its own src and written to the
JSON, and each code makes its own home (its config schema, keys, migrations). Per N: the direct SIPp
baseline once, then ``--repeats`` before/after pairs whose order flips each time (B A, A B, ...), so a
neighbour's load falls on both alike. One table gives each figure as before | after | after/before (medians
of the repetitions); bench/results/telephony-ab.json holds every run of both (its order, the 1-minute load
average at its end), the per-N medians and ratios.
The steps go on while either code carries every call without loss (a p99 over 5 ms, mostly the
neighbours', does not end the comparison); ``--keep-going`` measures every step regardless.

REF defaults to 5e945f2 ("SIP edge refusals are audited"): the last commit before d70cc17, which began the
restructuring of call control (the ``telephony/call/`` package and its host protocols, then the explicit
states ef64192, the sans-I/O CallMachine f21bb2d, the SIP grammar module 2be1ea8, typed facts 198d3e7 and
the frozen CallOutcome 7c1aaa0). The calls.py split into ringing.py/forward.py (de8703f) is a week older and
was not part of it. Configuration: both read the same ``home_toml``; code that has admission control by load
(adfe9e2, after REF) gets it switched off (``ADMISSION_OFF``): on a loaded machine it refuses calls that
REF takes, and REF's settings refuse those keys (``extra="forbid"``). "After" is the working tree as it is,
so it also carries what came after REF for other reasons (admission's load sampler, live protection, SIPREC,
the config watcher), not the call-control restructuring alone.

Measured on the shared 2-core development VM (Intel Xeon, 24 GiB) with other sessions' tests and benches
beside it, ``--steps 50,100,200 --duration 20 --against --repeats 3``, twice with "after" = c423c0f
(medians of 3, before | after):

* run 1, 1-min load 3.2-9.9: CPU per call (% of a core) 0.133|0.162 (x1.22), 0.106|0.117 (x1.10),
  0.088|0.109 (x1.24); relay p99 ms 4.3|4.6, 48|132, 3.6|2.9; loop lag p99 ms 4|5, 10|42, 4|5.
* run 2, 1-min load 1.4-3.9: CPU per call 0.125|0.152 (x1.22), 0.113|0.125 (x1.11), 0.099|0.105 (x1.06);
  relay p99 ms 25|13, 2.1|4.3, 2.6|4.5; loop lag p99 ms 7|3, 2|2, 3|5.
* every one of the 36 runs through Akashi bridged all calls with 0 loss; median relay p50 0.18-0.26 ms
  in both.
  Clean runs (p99 <= 5 ms), before/after, of 3: run 1 2/2, 1/1, 2/2; run 2 1/1, 3/2, 3/2.

Then 912225b (one 20 ms timer for loop-lag stats and admission, the monitor fed only when a limit is set),
60c2e6e (the operator's DTMF hook called for telephone-event packets only, not per audio packet), d584c94
and fad613d (the live board's heartbeat UPDATE of every live call and the stale sweep every 5 s instead of
every 0.5 s exchange; waiting commands still looked for at each exchange, without an IN of every call).
Run 3, "after" = fad613d, same command, 1-min load 0.7-4.7:

* CPU per call 0.130|0.147 (x1.13), 0.114|0.123 (x1.08), 0.096|0.098 (x1.02); per pair x0.98-x1.28,
  x1.08-x1.11, x1.02-x1.09; all 18 runs 0 loss; relay p99 ms 1.3|2.1, 2.0|8.5, 1.9|0.7; loop lag p99 ms
  2|2, 3|4, 1|2. At N = 100 "after"'s relay p99 was the higher in all 3 pairs (3.3-8.9 vs 1.8-2.6 ms), as
  in runs 1 and 2: small against the neighbours' noise, but a candidate is the live board's exchange
  holding the GIL in its thread (SQLAlchemy) while packets wait (not isolated).
* idle ``sip serve`` (20 s samples, 3 each, interleaved, admission off as in the bench, load 3.8-8.2):
  5e945f2 0.70, 0.75, 0.80% of a core; c423c0f 1.35, 1.43, 1.40%; these changes 0.85, 0.70, 0.90%; these
  changes with admission on (the default: the monitor samples at 50 Hz) 1.30, 1.10, 1.15%.
* left: a constant ~0.4-0.9% of a core while calls run (py-spy at N = 200: the live board's exchange
  every 0.5 s in its thread, ~2-3% of the process's samples, the command look-up a board needs), not per
  packet: the hot path is REF's plus one attribute test per packet (a set membership test on the
  operator's leg).

Relay p99, loop lag and "clean" move with the neighbours' load (single runs of either code reach
20-145 ms) and are within that noise of each other. In runs 1 and 2 CPU per call was not: "after" used
more in 17 of the 18 before/after pairs (x0.99-x1.33; medians x1.06-x1.24), about 1-4% of a core more at
N = 200. Idle ``sip serve`` (3 interleaved 20 s samples each) took 0.75% of a core before and 1.4% after
(c423c0f): the admission monitor's 50 Hz sampler, run even with its limits at 0, beside a second 20 ms
timer for the lag stats, was most of that (run 3's idle figures).
Against 37518e0 (the states and the machine in; live protection, SIPREC and the one Call class not yet) the
working tree used 6% more at N = 200 (0.099|0.105, one run of 3 pairs), so part came with those later commits.

Measured 2026-12-06 17:15-17:31 UTC on the shared 2-core VM while nothing else ran (load average 0.2-1.6),
admission control at its defaults, ``--duration 20``: N=300 clean (every call bridged, 0 loss, probe
p99 1.8 ms, loop lag p99 3 ms, 0.095 % of a core per call, 3.4x the CPU of the same SIPp calls direct);
N=500 all bridged with 0 loss but p99 10.9 ms (not clean). Offered 700 and 1,000: admission control
refused the excess with 503 once the process passed 0.85 of a core, and kept what it took clean -
508 and 605 calls bridged, 0 loss, probe p99 1.5 and 3.3 ms. With admission control off (``--against``
runs), 700 calls all bridged with 0 loss but p99 12.7-68 ms.

``--media-workers 0,1,2`` (``sip.media_workers``), 2026-12-06 22:36-22:53 UTC, same VM, ``--duration 15``,
load 2-12 (the bench's own processes; SIPp shares the two cores): bridged / probe p99 for 0 | 1 | 2 workers -
N=300: 301 / 1.5 ms | 301 / 2.8 ms | 301 / 3.2 ms (all clean, 0.144-0.147 % of a core per call each);
N=500: 412 (rest 503) / 1.4 ms | 501 / 8.1 ms | 501 / 13.7 ms; N=700: 499 / 17.2 ms | 701 / 27.6 ms |
701 / 5.4 ms; N=1,000: 464 | 724 | 814 / 39 ms. 0 loss everywhere. Workers carry more calls without loss,
but on 2 cores shared with SIPp the relay's p99 passes 5 ms, so the clean figure stays at 300. A first
version that reported every endpoint's counters four times a second (dataclasses.asdict, JSON) cost the
relay p99 10 ms at 300 calls; the short report twice a second does not.

2026-12-07, a fresh 2-core VM of the same kind (AMD EPYC, 24 GiB), quiet (load 0.5-6.5 from the bench's own processes), SIPp on
the same two cores, ``--media-workers 1,2 --steps 400,500,600,700,900 --duration 30 --keep-going`` (the default is now
"auto", one worker per core): bridged / probe p99 for 1 | 2 workers - N=400: 401 / 6.3 ms |
401 / 4.2 ms; N=500: 501 / 4.5 | 501 / 2.5 (both clean); N=600: 16.4 | 8.1; N=700: 37.5 | 15.3; N=900: 843
taken, 58 refused (the probe too) | 901 / 22.1 ms. 0 loss everywhere; 0.108-0.147 % of a core per call,
x2.3-3.0 the direct SIPp pair's CPU; set-up 45-48 calls/s. Three runs of 15 s steps the same day: 1 | 2 workers
N=300 2.8 | 0.45, N=400 1.9 | 0.40, N=500 8.1 | 2.3 and 12.1 | 2.1, N=600 12.8 | 2.3 and 10.6 | 7.1 (three
workers 1.25, four 0.99), N=700 39.3 | 6.3 ms. In all 11 pairs two workers had the lower p99; most calls carried
clean: 400-500 with one worker, 500-600 with two. The overload step with two workers: at the default limits
(0.85 of a core per worker) neither worker reached its limit before SIPp and the workers filled the box, so all
900 were taken; with ``--sip "admission_max_cpu = 0.4"`` (the workers' share of a box shared with SIPp) 717 were
taken and 184 refused with 503, the calls taken at p99 1.7 ms (and 500 calls all taken at 4.7 ms). The probe
call is placed before the load, so that it is one of the calls up when admission control refuses new ones; its
figures are reset when the hold begins. A report of the workers' endpoints sent in ten slices (a tenth every
50 ms) instead of all at once every 0.5 s made no difference (``--against HEAD --media-workers 1``, 2 pairs:
median p99 3.6 | 5.4 ms at 500, 17 | 19 ms at 600) and was not kept.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    RTP_HI,
    RTP_LO,
    Code,
    Probe,
    Serve,
    callers,
    child_pid,
    cpu_s,
    free_port,
    home_toml,
    need,
    operators,
    p50_ms,
    p99_ms,
    stop,
    tones,
    tree_cpu_s,
    udp_drops,
    write_json,
    write_load,
)


def step(
    work: Path,
    n: int,
    duration: float,
    through_akashi: bool,
    wav: Path,
    notice: Path,
    code: Code | None = None,
) -> dict[str, Any]:
    """Hold n calls for ``duration`` s; through Akashi (``code``'s, default the working tree) or directly."""
    code = code or Code.working_tree()
    work.mkdir(parents=True, exist_ok=True)
    op_port, probe_op_port = free_port(), free_port()
    # calls outlast the wait for them to bridge (up to 60 s when admission control refuses some, so that
    # n never bridge), the probe call and the hold: a step that refuses calls still measures the rest
    talk_ms = int(duration * 1000) + 90_000
    write_load(work, wav, talk_ms)
    limit = int(duration) + 180
    akashi = None
    target = f"127.0.0.1:{op_port}"
    if through_akashi:
        sip_port = free_port()
        toml = home_toml(sip_port, op_port, probe_op_port, notice, sip_extra=code.sip_extra)
        akashi = Serve.sip(work, toml, limit + 60, code)
        target = f"127.0.0.1:{sip_port}"
    uas = operators(work, op_port, n + 1, limit)
    time.sleep(0.5)
    probe = None
    if akashi is not None:
        # the probe call first: it is up when the load comes, as the calls admission control protects
        # are; its figures are those of the hold (reset below)
        probe = Probe()
        probe.call(work, target, probe_op_port, talk_ms, limit)
        akashi.bridged(1, time.monotonic() + 10)
    t0 = time.monotonic()
    uac = callers(work / "caller.xml", target, n, work / "caller.log", limit)
    setup_s = None
    if akashi is not None:
        if akashi.bridged(n + 1, t0 + 60):
            setup_s = time.monotonic() - t0
    else:
        time.sleep(min(10.0, n / 50 + 2))
        setup_s = n / 50  # SIPp's own rate; the baseline answers at once
    pids = {"akashi": akashi.pid if akashi else None, "uac": child_pid(uac.pid), "uas": child_pid(uas.pid)}
    gone: set[str] = set()
    cpu0 = read_cpu(pids, {k: 0.0 for k in pids}, gone)
    drops0 = udp_drops(RTP_LO, RTP_HI) if akashi else 0
    s0 = akashi.stats() if akashi else {}
    if probe is not None:
        probe.reset()
    # CPU read every second: a SIPp whose calls were all refused (503 under overload) exits before the
    # hold ends, and its last reading is what it used
    cpu1 = dict(cpu0)
    end = time.monotonic() + duration
    while (left := end - time.monotonic()) > 0:
        time.sleep(min(1.0, left))
        cpu1 = read_cpu(pids, cpu1, gone)
    s1 = akashi.stats() if akashi else {}
    drops1 = udp_drops(RTP_LO, RTP_HI) if akashi else 0
    if probe is not None:
        probe.end()
    for p in (uac, uas):
        stop(p)
    if akashi is not None:
        akashi.stop()
    rx = s1.get("rtp_rx_packets", 0) - s0.get("rtp_rx_packets", 0)
    dropped = drops1 - drops0
    out: dict[str, Any] = {
        "n": n,
        "through_akashi": through_akashi,
        "cpu_s": {k: round(cpu1[k] - cpu0[k], 3) for k in cpu0},
        "setup_s": round(setup_s, 3) if setup_s else None,
        "setup_calls_per_s": round(n / setup_s, 1) if setup_s else None,
        "loadavg_1m_end": round(os.getloadavg()[0], 2),
    }
    if gone:
        out["exited_early"] = sorted(gone)
    if akashi is not None:
        out["bridged"] = s1.get("bridged_calls", 0)
        out["rtp_rx_packets"] = rx
        out["rtp_dropped_packets"] = dropped
        out["loss"] = dropped / (rx + dropped) if rx + dropped else 1.0
        out["akashi_loop_lag_us"] = {k: v for k, v in s1.items() if k.startswith("loop_lag")}
        out["media_worker_lag_p95_us"] = s1.get("media_worker_lag_p95_us")
        # new calls refused with 503 by admission control (the SIP process's load, or every worker's)
        out["refused_overload"] = s1.get("refused_overload", 0) + s1.get("refused_media_overload", 0)
        out["akashi_cpu_per_call_pct"] = round(
            100 * (cpu1["akashi"] - cpu0["akashi"]) / duration / max(n, 1), 3
        )
        if probe is not None and probe.delays:
            d = list(probe.delays)
            out["probe"] = {
                "sent": probe.sent,
                "received": probe.got,
                "delay_p50_ms": p50_ms(d),
                "delay_p99_ms": p99_ms(d),
            }
    return out


def read_cpu(pids: dict[str, int | None], last: dict[str, float], gone: set[str]) -> dict[str, float]:
    """CPU seconds of each process now; one that has exited keeps its ``last`` reading (and joins ``gone``)."""
    now = dict(last)
    for k, pid in pids.items():
        if pid and k not in gone:
            try:
                now[k] = tree_cpu_s(pid) if k == "akashi" else cpu_s(pid)
            except (FileNotFoundError, ProcessLookupError):
                gone.add(k)
    return now


def is_clean(run: dict[str, Any], n: int) -> bool:
    """Every call bridged, no loss, the probe's relay p99 within 5 ms."""
    probe = run.get("probe") or {}
    return (
        int(run.get("bridged", 0)) >= n
        and float(run["loss"]) <= 0.0001
        and probe.get("delay_p99_ms", 1e9) <= 5.0
    )


def measure(
    work: Path, n: int, duration: float, wav: Path, notice: Path, code: Code, base: dict[str, Any]
) -> dict[str, Any]:
    """One step through Akashi (again when SIPp did not start), with its ratio to direct SIPp."""
    run = step(work, n, duration, True, wav, notice, code)
    if int(run.get("bridged", 0)) < n and not run["cpu_s"]["uac"]:
        # SIPp did not start (a port taken between choosing and binding it): measure again
        run = step(work.with_name(work.name + "-again"), n, duration, True, wav, notice, code)
    base_cpu = sum(v for v in base["cpu_s"].values())
    run["cpu_ratio_vs_direct_sipp"] = round(run["cpu_s"]["akashi"] / base_cpu, 2) if base_cpu else None
    run["clean"] = is_clean(run, n)
    run["code"] = code.label
    return run


def ladder(
    steps: list[int], duration: float, work: Path, keep_going: bool, media_workers: list[int], sip: str = ""
) -> tuple[dict[str, Any], bool]:
    """The working tree, N up until a step is not clean; prints each step's figures.

    With several ``media_workers`` counts, each N runs once per count (the order flipping from one N to
    the next), all against the same direct-SIPp baseline.
    """
    wav, notice = tones(work)
    results: list[dict[str, Any]] = []
    best = dict.fromkeys(media_workers, 0)
    going = set(media_workers)
    for i, n in enumerate(steps):
        base = step(work / f"direct-{n}", n, duration, False, wav, notice)
        for w in media_workers if i % 2 == 0 else media_workers[::-1]:
            if w not in going:
                continue
            code = dataclasses.replace(Code.working_tree(), sip_extra=f"media_workers = {w}\n{sip}\n")
            run = measure(work / f"akashi-{n}-w{w}", n, duration, wav, notice, code, base)
            run["media_workers"] = w
            run["baseline"] = base
            results.append(run)
            print(json.dumps(run), flush=True)
            if run["clean"] and all(r["clean"] for r in results if r["media_workers"] == w):
                best[w] = n  # the largest N with every step up to it clean
            if not run["clean"] and not keep_going:
                going.discard(w)
        if not going:
            break
    for w in media_workers:
        print(f"media workers {w}: max clean concurrent calls: {best[w]}")
    for r in results:
        p = r.get("probe") or {}
        print(
            f"N={r['n']} workers={r['media_workers']}: akashi CPU/call {r.get('akashi_cpu_per_call_pct')}% of a core, "
            f"loss {r.get('loss'):.5f}, bridged {r.get('bridged')}, relay p50/p99 {p.get('delay_p50_ms')}/"
            f"{p.get('delay_p99_ms')} ms, refused 503 {r.get('refused_overload')}, "
            f"setup {r.get('setup_calls_per_s')} calls/s, "
            f"CPU vs direct SIPp x{r.get('cpu_ratio_vs_direct_sipp')}"
        )
    summary = {
        "sip_extra": sip,
        "max_clean_concurrent_calls": best[media_workers[0]],
        "max_clean_by_media_workers": {str(w): best[w] for w in media_workers},
        "duration_s": duration,
        "steps": results,
    }
    return summary, all(r["clean"] for r in results)


def main() -> None:
    """Run the steps and print/write the figures."""
    from bench.against import BEFORE, checkout, compare

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N = 20, 50 for 8 s each")
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--steps", default="50,100,200,300,400,500,700,1000")
    ap.add_argument("--keep-going", action="store_true", help="measure every step, even after an unclean one")
    ap.add_argument(
        "--against",
        nargs="?",
        const=BEFORE,
        metavar="REF",
        help=f"also run the code of commit REF (default {BEFORE}, before issue 13), interleaved",
    )
    ap.add_argument("--repeats", type=int, default=1, help="with --against: before/after pairs per N")
    ap.add_argument(
        "--media-workers",
        default="0",
        help="sip.media_workers counts to run side by side, e.g. 0,2 (0: the SIP process relays); "
        "with --against, one count for both codes",
    )
    ap.add_argument(
        "--sip",
        default="",
        metavar="LINES",
        help='more [sip] lines for Akashi, e.g. "admission_max_cpu = 0.3"',
    )
    ap.add_argument(
        "--out", type=Path, help="JSON (default bench/results/telephony.json, -ab.json with --against)"
    )
    args = ap.parse_args()
    need("sipp", "sox", "timeout", "git")
    steps = [20, 50] if args.quick else [int(s) for s in args.steps.split(",")]
    duration = 8.0 if args.quick else args.duration
    work = Path(tempfile.mkdtemp(prefix="akashi-bench-tel-"))
    load0 = os.getloadavg()[0]
    if args.against:
        with checkout(args.against, work) as before:
            workers = args.media_workers.split(",")
            if len(workers) != 1:
                ap.error("--against compares one --media-workers count")
            extra = f"media_workers = {int(workers[0])}\n"
            summary, clean = compare(
                steps, duration, work, before, args.repeats, args.keep_going, step, measure, extra
            )
    else:
        counts = [int(w) for w in args.media_workers.split(",")]
        summary, clean = ladder(steps, duration, work, args.keep_going, counts, args.sip)
    summary |= {"cpus": os.cpu_count(), "loadavg_1m_start": round(load0, 2)}
    out = args.out or ROOT / "bench" / "results" / ("telephony-ab.json" if args.against else "telephony.json")
    write_json(out, summary)
    if clean:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"logs of the run kept in {work}")


if __name__ == "__main__":
    main()
