"""Backlog throughput of the transcriber: calls recognised side by side against one at a time, in one run.

A backlog (a bulk import, a morning after a busy night) is many calls waiting. ``akashi transcriber`` runs
``analysis.workers`` jobs side by side on one model with ``analysis.cpu_threads`` threads each, its live gate
in place (:func:`akashi.analysis.live.live_first`). This bench recognises the same calls of the generated set
(``akashi.analysis.callset``, development half) with each layout, shipped recognition settings, layouts taken
in turn, round by round, so that the machine's load falls on all of them alike, and prints:

- backlog RTF: wall seconds to finish the backlog per call second (lower is better; the ratio against the
  first layout, the baseline, is the figure to compare across machines);
- CPU seconds per call second;
- whether every layout wrote the same words as the baseline.

Figures of 2026-12-07 (a 2-core VM, AMD EPYC family 25; 14 development calls, 306 s of calls, median 21 s;
two rounds), the baseline being the layout shipped before (one job at a time, two threads); with two workers
a call's two channels are recognised at once too:

    layout (workers x threads)   backlog RTF   CPU s / call s   same words   ratio
    1 x 2 (before)                  0.146          0.221            -         1.00
    2 x 1 (shipped, "auto")         0.088          0.170           yes        0.60
    2 x 2                           0.097          0.188           yes        0.66

An earlier run, before the channels went side by side, gave 0.124 / 0.083 / 0.087 (ratios 0.67, 0.70): the
backlog takes 0.60 to 0.67 of the time. A second thread inside one recognition buys little (the work is
many small matrix products); a second recognition beside it keeps both cores busy. So on a CPU one
single-threaded recognition per core is the default. A single call's own RTF is the bench's
``analysis.py`` figure.

    python bench/backlog.py                         # 1x2 then 2x1, the dev half's first 14 calls
    python bench/backlog.py --layouts 1x2,2x1,2x2 --calls 42
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench.harness import machine, write_json  # noqa: E402

from akashi.analysis.audio import WavAudio, parse_wav  # noqa: E402
from akashi.analysis.callset import bench_set, bench_wav  # noqa: E402
from akashi.analysis.lexicon import load_lexicon  # noqa: E402
from akashi.analysis.live import live_first  # noqa: E402
from akashi.analysis.model import load_model  # noqa: E402
from akashi.analysis.pipeline import decode_options  # noqa: E402
from akashi.analysis.transcribe import transcribe_audio  # noqa: E402
from akashi.config.analysis import AnalysisSettings  # noqa: E402


def _layout(text: str) -> tuple[int, int]:
    workers, threads = (int(x) for x in text.lower().split("x"))
    return workers, threads


def _run(
    model: Any, calls: list[WavAudio], workers: int, settings: AnalysisSettings
) -> tuple[float, float, list[str]]:
    """Wall and CPU seconds to recognise ``calls`` with ``workers`` threads, and each call's words."""
    opts = decode_options(settings, load_lexicon())

    def words(audio: WavAudio) -> str:
        segments, _stats = transcribe_audio(model, audio, "ja", opts)
        return "|".join(f"{s.channel}:{s.text}" for s in segments)

    t0, c0 = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(workers, thread_name_prefix="bench-job") as pool:
        out = list(pool.map(words, calls))
    return time.perf_counter() - t0, time.process_time() - c0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layouts", default="1x2,2x1", help="workers x threads each; the first is the baseline")
    ap.add_argument("--calls", type=int, default=14, help="development calls in the backlog")
    ap.add_argument("--rounds", type=int, default=1, help="each layout this many times, in turn")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "akashi-tests" / "bench")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "backlog.json")
    ap.add_argument("--machine", default="", help="what ran it, for the record")
    args = ap.parse_args()
    layouts = [_layout(x) for x in args.layouts.split(",")]
    members = [bc for bc in bench_set() if bc.half == "dev"][: args.calls]
    calls = [parse_wav(bench_wav(bc, args.cache).read_bytes()) for bc in members]
    audio_s = sum(a.duration_s for a in calls)
    models = {}
    for workers, threads in layouts:
        settings = AnalysisSettings(cpu_threads=threads, workers=workers)
        model = load_model(settings)
        live_first(model)  # the transcriber's gate: post-call work in slots, one per model worker
        transcribe_audio(model, calls[0], "ja", decode_options(settings, load_lexicon()))  # warm-up
        models[(workers, threads)] = (model, settings)
    totals: dict[tuple[int, int], list[float]] = {lay: [0.0, 0.0] for lay in layouts}
    texts: dict[tuple[int, int], list[str]] = {}
    for _ in range(args.rounds):
        for lay in layouts:
            model, settings = models[lay]
            wall, cpu, texts[lay] = _run(model, calls, lay[0], settings)
            totals[lay][0] += wall
            totals[lay][1] += cpu
    base = layouts[0]
    figures: dict[str, Any] = {}
    print(f"{len(calls)} calls, {audio_s:.0f} s; {args.rounds} round(s)")
    for lay in layouts:
        wall, cpu = (t / args.rounds for t in totals[lay])
        name = f"{lay[0]}x{lay[1]}"
        figures[name] = {
            "backlog_rtf": wall / audio_s,
            "cpu_per_call_s": cpu / audio_s,
            "ratio_vs_baseline": wall / (totals[base][0] / args.rounds),
            "same_words_as_baseline": texts[lay] == texts[base],
        }
        f = figures[name]
        print(
            f"{name:6s} backlog RTF {f['backlog_rtf']:.3f}  CPU s per call s {f['cpu_per_call_s']:.3f}  "
            f"x{f['ratio_vs_baseline']:.2f}  same words {f['same_words_as_baseline']}"
        )
    write_json(
        args.out,
        {"machine": machine(args.machine), "calls": len(calls), "audio_s": audio_s, "baseline": f"{base[0]}x{base[1]}",
         "layouts": figures},
    )  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
