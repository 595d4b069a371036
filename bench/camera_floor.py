"""The floor under Akashi's camera CPU: bare PyAV copy threads beside ``ffmpeg -c copy``, in one run.

Akashi records a camera with PyAV (RTSP over TCP demuxed by the FFmpeg libraries in PyAV's wheel, then
muxed to fragmented MP4). This bench runs N threads that do only that, with none of Akashi's code: open
as Akashi opens (open timeout, no read timeout), demux the video, and write a fragmented MP4 file per
4-second group of pictures. Beside them, in the same run from the same GStreamer RTSP server, N
``ffmpeg -c copy`` processes (the Debian ffmpeg CLI, as ``bench/cameras.py`` runs them). The ratio of
the two is what any recorder built on PyAV starts from; ``bench/cameras.py`` gives Akashi's own figure
(its recording threads, and the storing that ffmpeg does not do) against the same ffmpeg.

Figures (2-core VM, 1080p15 at 4 Mbit/s, 5 cameras, 30 s, load average 0.2-0.8, 2026-12-06), four runs:
bare PyAV 0.72-0.88 % of a core per camera against ffmpeg's 0.64-0.80 % in the same run, ratio
1.05-1.17 (1.09 in the two runs of this script; plain MP4 instead of fragmented: 1.13). Akashi in
``bench/cameras.py --cameras 5`` right after each: recording threads 1.25-1.27, everything 1.66 (the
storing, which ffmpeg does not do: 0.22 % of a core per camera). So most of what separates Akashi's
recording threads from ffmpeg is the library and binding under them (PyAV's FFmpeg 8.1 against
Debian's 5.1, and a Python packet object per frame). Akashi's recorder threads and bare threads side by
side in one process (5 of each, per-thread CPU, five runs): Akashi 1.00-1.14 times the bare copy, so its
own per-packet work (timing, segment cuts, parameter-set checks, the read deadline) is at most a tenth.
A recorder at ffmpeg's CPU would need another demuxer than PyAV's.

    .venv/bin/python bench/camera_floor.py --cameras 5 --seconds 30 [--plain] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import av

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.harness import cpu_s, ffmpeg_copy, machine, self_cpu_s, write_json  # noqa: E402
from tests.cameras.conftest import RtspServer, make_h264  # noqa: E402

from akashi.cameras.segmenter import FMP4_OPTIONS  # noqa: E402

GOP_FRAMES = 60  # 4 s at 15 fps: a file per segment, as Akashi and the ffmpeg segmenter cut


def copy(url: str, out_dir: Path, fragmented: bool, stop: threading.Event) -> None:
    """Record ``url`` to MP4 files of about 4 s, cut on keyframes, until ``stop``."""
    src = av.open(url, options={"rtsp_transport": "tcp"}, timeout=(10.0, None))
    video = src.streams.video[0]
    out: Any = None
    stream: Any = None
    frames = base = 0
    try:
        for pkt in src.demux(video):
            if stop.is_set():
                break
            if pkt.dts is None or pkt.pts is None:
                continue
            if pkt.is_keyframe and (out is None or frames >= GOP_FRAMES):
                if out is not None:
                    out.close()
                path = out_dir / f"{time.monotonic_ns()}.mp4"
                out = av.open(str(path), "w", format="mp4", options=FMP4_OPTIONS if fragmented else {})
                stream, frames, base = out.add_stream_from_template(video), 0, pkt.dts
            if out is None:
                continue
            pkt.dts -= base
            pkt.pts -= base
            pkt.stream = stream
            out.mux_one(pkt)
            frames += 1
    finally:
        if out is not None:
            out.close()
        src.close()


def run(args: argparse.Namespace) -> dict[str, object]:
    n = args.cameras
    media = ROOT / "bench" / "results" / f"cam_1920x1080_15_{int(args.seconds) + 30}s.mkv"
    if not media.exists():
        media.parent.mkdir(parents=True, exist_ok=True)
        print(f"encoding {media.name} ...", flush=True)
        make_h264(media, seconds=int(args.seconds) + 30, size="1920x1080", rate=15, bitrate="4M")
    server = RtspServer(media, [f"a{i}" for i in range(n)] + [f"f{i}" for i in range(n)])
    server.start()
    work = Path(tempfile.mkdtemp(prefix="akashi-bench-floor-"))
    stop = threading.Event()
    ffmpegs = [subprocess.Popen(ffmpeg_copy(server.url(f"f{i}"), work / f"ff{i}_%05d.mp4")) for i in range(n)]
    threads = []
    for i in range(n):
        folder = work / f"pyav{i}"
        folder.mkdir()
        t = threading.Thread(
            target=copy, args=(server.url(f"a{i}"), folder, not args.plain, stop), daemon=True
        )
        t.start()
        threads.append(t)
    load0 = os.getloadavg()
    try:
        time.sleep(args.warmup)
        a0, f0, t0 = self_cpu_s(), sum(cpu_s(p.pid) for p in ffmpegs), time.monotonic()
        time.sleep(args.seconds)
        a1, f1, t1 = self_cpu_s(), sum(cpu_s(p.pid) for p in ffmpegs), time.monotonic()
    finally:
        stop.set()
        for p in ffmpegs:
            p.terminate()
        for t in threads:
            t.join(10)
        server.stop()
    alive = [p.poll() is None or p.returncode in (0, -15, 255) for p in ffmpegs]
    span = t1 - t0
    pyav = 100 * (a1 - a0) / span / n
    ffmpeg = 100 * (f1 - f0) / span / n
    return {
        "machine": machine(args.machine),
        "cameras": n,
        "seconds": round(span, 1),
        "stream": "1920x1080 15 fps H.264 4 Mbit/s over RTSP/TCP",
        "pyav_container": "mp4" if args.plain else "fragmented mp4 (Akashi's options)",
        "pyav_bare_cpu_pct_of_core_per_camera": round(pyav, 3),
        "ffmpeg_copy_cpu_pct_of_core_per_camera": round(ffmpeg, 3),
        "ratio_pyav_bare_over_ffmpeg": round(pyav / ffmpeg, 2) if ffmpeg else None,
        "ffmpeg_ran_throughout": all(alive),
        "pyav_files": sum(1 for _ in work.glob("pyav*/*.mp4")),
        "ffmpeg_files": sum(1 for _ in work.glob("ff*.mp4")),
        "load_average_start_end": [round(load0[0], 2), round(os.getloadavg()[0], 2)],
        "pyav_ffmpeg_libraries": ".".join(str(x) for x in av.library_versions["libavformat"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cameras", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--warmup", type=float, default=8)
    ap.add_argument("--plain", action="store_true", help="plain MP4 instead of Akashi's fragmented MP4")
    ap.add_argument("--machine", default="", help="what ran it, for the record")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "camera_floor.json")
    args = ap.parse_args()
    result = run(args)
    for key, value in result.items():
        print(f"{key}: {value}")
    write_json(args.out, result)


if __name__ == "__main__":
    main()
