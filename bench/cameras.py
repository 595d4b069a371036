"""Camera ingest benchmark: N cameras into Akashi beside one ``ffmpeg -c copy`` per camera (Frigate's way).

Both record the same kind of stream from the same GStreamer RTSP server at the same time (each client
gets its own session of a pre-encoded 1080p15 H.264 file). Akashi runs in this process (CameraService,
real store, SQLite); ffmpeg runs as N subprocesses writing 4-second MP4 segments. Over the measured
window we report CPU (% of one core) and memory per camera for both, and the upload latency from a
segment's close to its stored evidence object (p50/p99/max, and how many within 5 s).

Akashi's CPU is also split by thread: the recorder threads (RTSP demux, stream copy, fMP4 muxing, the
per-packet Python) against everything else (uploads: encryption, hashing, ledger and database rows;
the event loop). ffmpeg does no part of the second share, so both are given.

The machine may be shared with other work: the load average at start and end is in the result, and the
figures to compare are the ratios between Akashi and ffmpeg measured in the same run.

Where the CPU went (2-core shared box, 10 cameras at 1080p15 4 Mb/s, 2026-12-06; py-spy, cProfile and
per-thread /proc counters): RTSP demux in libavformat about 0.38% of a core per camera (the same code
ffmpeg runs); PyAV's read timeout takes the GIL in its interrupt callback on every network wait, about
0.07% per camera at 30 cameras (kept: FFmpeg's own socket timeouts restart with every byte, so only it
stops a camera that trickles bytes); per-packet Python under 0.03% once Fractions, datetimes and
per-packet dataclasses were gone (the recorder threads hold the GIL about 2% of the time); fMP4 muxing
about 30 us a packet; fsync and file opens per segment well under 1 ms. Storing a 4-second segment
costs about 14 ms of CPU: encryption and two SHA-256 passes about 6 ms, the ledger entry about 2 ms, the
segment row about 4 ms, the rest the store's own row and bookkeeping.

    .venv/bin/python bench/cameras.py --quick            # 2 cameras, 720p, 20 s
    .venv/bin/python bench/cameras.py --cameras 10 --seconds 30
    .venv/bin/python bench/cameras.py --cameras 50 --seconds 30 --no-ffmpeg   # capacity: Akashi alone
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))

from tests.cameras.conftest import RtspServer, children, make_h264  # noqa: E402

import akashi.cameras.supervisor as supervisor_module  # noqa: E402
from akashi.cameras.events import CameraEvent  # noqa: E402
from akashi.cameras.service import CameraService  # noqa: E402
from akashi.context import Akashi  # noqa: E402
from akashi.setup import init_home  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def self_cpu_s() -> float:
    """CPU seconds of this process (all threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


#: Native ids of the threads that run RTSP sessions (filled by the wrapper installed in ``run``).
SESSION_TIDS: set[int] = set()


def thread_cpu_s() -> dict[int, float]:
    """CPU seconds of each thread of this process, by native thread id."""
    out: dict[int, float] = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        out[int(tid)] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def count_session_threads() -> None:
    """Wrap the supervisor's session runner so that the bench knows which threads record."""
    from akashi.cameras.recorder import run_session as inner

    def run_session(*args: Any, **kwargs: Any) -> Any:
        SESSION_TIDS.add(threading.get_native_id())
        return inner(*args, **kwargs)

    supervisor_module.__dict__["run_session"] = run_session  # the name the supervisor calls


def pct(values: list[float], q: float) -> float:
    """Percentile (nearest rank) of a non-empty list."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))]


async def run(args: argparse.Namespace) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="akashi-bench-cam-"))
    cache = ROOT / "bench" / "results"
    cache.mkdir(parents=True, exist_ok=True)
    size = "1280x720" if args.quick else "1920x1080"
    media = cache / f"cam_{size}_15_{int(args.seconds) + 30}s.mkv"
    if not media.exists():
        print(f"encoding {media.name} ...", flush=True)
        make_h264(
            media, seconds=int(args.seconds) + 30, size=size, rate=15, bitrate="2M" if args.quick else "4M"
        )
    n = args.cameras
    paths = [f"a{i}" for i in range(n)] + ([f"f{i}" for i in range(n)] if args.ffmpeg else [])
    server = RtspServer(media, paths)
    server.start()
    home = work / "home"
    init_home(home)
    with open(home / "akashi.toml", "a", encoding="utf-8") as f:
        for i in range(n):
            f.write(f'\n[[cameras]]\nname = "bench{i}"\nurl = "{server.url(f"a{i}")}"\nsegment_seconds = 4\n')
    ffmpegs: list[subprocess.Popen[bytes]] = []
    count_session_threads()
    load0 = os.getloadavg()
    latencies: list[float] = []
    stored = 0
    per_camera: dict[str, int] = {}

    def listen(ev: CameraEvent) -> None:
        nonlocal stored
        if ev.kind == "segment_stored":
            stored += 1
            per_camera[ev.camera] = per_camera.get(ev.camera, 0) + 1
            latencies.append(ev.latency_s)

    try:
        with Akashi.open(home) as ak:
            _ = ak.store  # open the store (keys, backend) before the baseline
            rss0 = proc_rss_mb(os.getpid())
            for i in range(n if args.ffmpeg else 0):
                out = work / f"ff{i}"
                out.mkdir()
                ffmpegs.append(
                    subprocess.Popen(
                        [
                            "timeout", str(args.seconds + 120), "ffmpeg", "-nostdin", "-loglevel", "error",
                            "-rtsp_transport", "tcp", "-timeout", "5000000", "-i", server.url(f"f{i}"),
                            "-c", "copy", "-f", "segment", "-segment_time", "4", "-reset_timestamps", "1",
                            "-segment_format", "mp4", str(out / "%05d.mp4"),
                        ]
                    )
                )  # fmt: skip
            async with CameraService(ak, [listen]):
                await asyncio.sleep(args.warmup)  # connect, first keyframes
                ff_pids = [int(children(p.pid)[0]) for p in ffmpegs]  # ffmpeg under coreutils timeout
                assert server.proc is not None
                srv_pid = int(children(server.proc.pid)[0])  # the Python under coreutils timeout
                th0, s0 = thread_cpu_s(), proc_cpu_s(srv_pid)
                a0, f0, t0 = self_cpu_s(), sum(proc_cpu_s(p) for p in ff_pids), time.monotonic()
                stored0 = stored
                lat0 = len(latencies)
                per0 = dict(per_camera)
                rss_a, rss_f = [], []
                while time.monotonic() - t0 < args.seconds:
                    await asyncio.sleep(1.0)
                    rss_a.append(proc_rss_mb(os.getpid()))
                    rss_f.append(sum(proc_rss_mb(p) for p in ff_pids))
                wall = time.monotonic() - t0
                a1, f1 = self_cpu_s(), sum(proc_cpu_s(p) for p in ff_pids)
                th1, s1 = thread_cpu_s(), proc_cpu_s(srv_pid)
                window_lat = latencies[lat0:]
                window_stored = stored - stored0
                recording = sum(1 for k, v in per_camera.items() if v > per0.get(k, 0))
    finally:
        for p in ffmpegs:
            p.send_signal(signal.SIGINT)
        for p in ffmpegs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        server.stop()
    akashi_cpu = 100 * (a1 - a0) / wall / n
    ffmpeg_cpu = 100 * (f1 - f0) / wall / n if args.ffmpeg else 0.0
    rec_s = sum(v - th0.get(t, 0.0) for t, v in th1.items() if t in SESSION_TIDS)
    rest_s = sum(v - th0.get(t, 0.0) for t, v in th1.items() if t not in SESSION_TIDS)
    akashi_mem = (statistics.median(rss_a) - rss0) / n
    ffmpeg_mem = statistics.median(rss_f) / n
    result: dict[str, object] = {
        "cameras": n,
        "resolution": size,
        "fps": 15,
        "seconds": round(wall, 1),
        "akashi": {
            "cpu_pct_of_core_per_camera": round(akashi_cpu, 2),
            "mem_mb_per_camera": round(akashi_mem, 2),
            "process_rss_mb_baseline": round(rss0, 1),
            "recording_threads_cpu_pct_per_camera": round(100 * rec_s / wall / n, 2),
            "storing_and_loop_cpu_pct_per_camera": round(100 * rest_s / wall / n, 2),
            "segments_stored_in_window": window_stored,
            "segments_expected_in_window": round(n * wall / 4),
            "cameras_storing_in_window": recording,
            "upload_latency_s": {
                "p50": round(pct(latencies, 50), 4) if latencies else None,
                "p99": round(pct(latencies, 99), 4) if latencies else None,
                "max": round(max(latencies), 4) if latencies else None,
                "n": len(latencies),
                "window_n": len(window_lat),
                "window_within_5s": sum(1 for x in window_lat if x <= 5.0),
                "window_max": round(max(window_lat), 4) if window_lat else None,
            },
        },
        "ffmpeg_copy": {
            "cpu_pct_of_core_per_camera": round(ffmpeg_cpu, 2),
            "mem_mb_per_camera": round(ffmpeg_mem, 2),
        },
        "ratio_cpu_akashi_over_ffmpeg": round(akashi_cpu / ffmpeg_cpu, 2) if ffmpeg_cpu else None,
        "ratio_cpu_recording_threads_over_ffmpeg": round(100 * rec_s / wall / n / ffmpeg_cpu, 2)
        if ffmpeg_cpu
        else None,
        "ratio_mem_akashi_over_ffmpeg": round(akashi_mem / ffmpeg_mem, 2) if ffmpeg_mem else None,
        "rtsp_server_cpu_pct_of_core_per_path": round(
            100 * (s1 - s0) / wall / (2 * n if args.ffmpeg else n), 2
        ),
        "load_average_start_end": [round(load0[0], 2), round(os.getloadavg()[0], 2)],
        "cores": os.cpu_count(),
        "goal": "CPU per camera <= ffmpeg -c copy's in the same run, memory per camera below it",
    }
    return result


def main() -> None:
    """Parse arguments, run, print and write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--warmup", type=float, default=6.0)
    ap.add_argument("--quick", action="store_true", help="2 cameras at 720p for 20 s")
    ap.add_argument(
        "--no-ffmpeg",
        dest="ffmpeg",
        action="store_false",
        help="Akashi alone (capacity runs): no ffmpeg beside",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "cameras.json")
    args = ap.parse_args()
    if args.quick:
        args.cameras, args.seconds = 2, 20.0
    result = asyncio.run(run(args))
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
