"""Recognition speed and CER of the working tree against an earlier commit, on the same calls, in one run.

Issue 12's speed goal was set against a figure of this project's bench on the machine it was filed on (RTF
0.062, goal 0.05: 0.81 of it). The same code gives other absolute figures on another machine, so this bench
runs both codes here, on the same audio, and prints the ratio:

- the earlier code is ``git worktree add``-ed at ``--ref`` (default: the last commit before issue 12's work)
  and runs with this venv's Python and ``PYTHONPATH=<its src>`` (:class:`bench.harness.Code`);
- each code runs in a process of its own with its own default settings, shipped lexicon and decoder
  options, as ``transcribe_audio`` is called by the transcriber: one call at a time, a warm-up call first;
- the calls: the development half of the generated set (``akashi.analysis.callset``), short and dense, and
  calls of about ``--long`` seconds made by joining them (realistic length). Both codes get the same PCM16
  WAVs (the set's G.711 A-law files are decoded here first, since the earlier code may not read them);
- the codes take turns, round by round, the order flipped each round, so the machine's load falls on both;
- per code and set: wall-clock RTF (processing seconds per call second, both channels), CPU seconds per
  call second, and on the short calls CER per channel against the scripts (punctuation and spaces ignored).

Figures of 2026-12-07 (a 2-core VM, AMD EPYC; the 42 development calls, median 21 s, and joined calls of them;
two rounds; before: 2cc07ec, after: 7ba4add, each with its shipped settings):

    calls            RTF before -> after   ratio   issue's 0.062 scaled   customer CER       operator CER
    short (42)        0.078 -> 0.053        0.67        0.042              0.210 -> 0.204     0.285 -> 0.222
    joined 78 s       0.058 -> 0.052        0.89        0.055              0.298 -> 0.282     0.258 -> 0.147
    joined 306 s      0.034 -> 0.040        1.19        0.074              0.487 -> 0.341     0.315 -> 0.226
    joined 611 s      0.031 -> 0.037        1.19        0.074              0.464 -> 0.282     0.349 -> 0.238

Two runs earlier the same day, at a0a828f (before a customer's repeated region was heard again), gave ratios of
0.65 / 0.80 / 1.12 / 1.18 and 0.66 / 0.81 / 1.20 / 1.28 (customer CER on the joined calls 0.282, 0.313, 0.312).
The code before issue 12 butted the speech of a channel together without word times and lost much of a long
call (customer CER 0.46-0.49); now the speech regions are packed with silences between them, words are timed
and regions Whisper left unheard, or wrote a repeat in, are heard again, which costs time on long calls: they
are slower than before while short calls are faster. On this VM the joined calls of 5 and 10 minutes are under
0.05 (0.037-0.040) and the short calls at 0.053; another VM of the same kind ran the same code at about twice
these figures.

Another VM of the same kind, later that day (14 development calls, joined 78 s and 306 s, two rounds; after:
60adcaf with the customer's windows at most 15 s on long calls, ``analysis.customer_window_s``):

    calls            RTF before -> after   ratio   CPU s per call s    customer CER       operator CER
    short (14)        0.102 -> 0.060        0.59     0.148 -> 0.100     0.185 -> 0.192     0.276 -> 0.213
    joined 78 s       0.064 -> 0.069        1.09     0.088 -> 0.120     0.298 -> 0.274     0.268 -> 0.167
    joined 306 s      0.044 -> 0.067        1.54     0.064 -> 0.111     0.418 -> 0.216     0.316 -> 0.223

A run after it (after: 56d90a6, the same recognition) with a joined call of 612 s: short 0.111 -> 0.062 (x0.56),
joined 612 s 0.040 -> 0.057 (x1.42; CPU s per call s 0.061 -> 0.099), customer CER 0.494 -> 0.212, operator
0.319 -> 0.230.

The 15 s windows run the customer's encoder twice per 30 s of speech; a lone call's two channels are recognised
side by side and the customer's is the longer, so its wall time grows with it (bench/analysis_joined.py).

A seventh VM of the same kind (2026-12-07; the same code ran about three times slower than on the last one; 14
development calls and joined calls of 78 s, 306 s and 612 s, two rounds; after: 2fbf602 with a long channel's windows
shared out among the model's workers, ``DecodeOptions.share_workers``):

    calls            RTF before -> after   ratio   CPU s per call s    customer CER       operator CER
    short (14)        0.190 -> 0.168        0.88     0.325 -> 0.276     0.196 -> 0.199     0.285 -> 0.208
    joined 78 s       0.120 -> 0.187        1.56     0.203 -> 0.337     0.073 -> 0.048     0.239 -> 0.170
    joined 306 s      0.090 -> 0.141        1.57     0.156 -> 0.269     0.484 -> 0.181     0.316 -> 0.229
    joined 612 s      0.086 -> 0.130        1.52     0.147 -> 0.250     0.469 -> 0.240     0.383 -> 0.222

Sharing the windows took a lone long call's wall time from 0.58-0.60 of its CPU time to 0.51-0.52 on this VM
(``bench/analysis.py``'s docstring). But the code before used its two threads better here than on the last VM (wall
time 0.58 of CPU time at 306 s, against 0.69 there), so the ratios are no better than the last VM's. What grew is
the CPU time per call second, x1.7 at 306 s on both VMs: the customer's 15 s windows and the second pass.

An eighth VM of the same kind (2026-12-08, AMD EPYC, about twice as fast as the seventh; the same calls and
rounds; after: 2888e2f, the same recognition as 2fbf602):

    calls            RTF before -> after   ratio   CPU s per call s    customer CER       operator CER
    short (14)        0.146 -> 0.099        0.68     0.222 -> 0.165     0.183 -> 0.196     0.274 -> 0.224
    joined 78 s       0.096 -> 0.108        1.12     0.140 -> 0.193     0.306 -> 0.056     0.265 -> 0.160
    joined 306 s      0.058 -> 0.078        1.34     0.091 -> 0.152     0.507 -> 0.190     0.302 -> 0.240
    joined 612 s      0.056 -> 0.076        1.34     0.088 -> 0.147     0.491 -> 0.205     0.303 -> 0.220

    python bench/analysis_against.py                       # 2cc07ec against the working tree
    python bench/analysis_against.py --calls 14 --long 60,300 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench.against import checkout  # noqa: E402
from bench.analysis import chars, in_turn, narrowband, script_segments  # noqa: E402
from bench.harness import Code, machine, write_json  # noqa: E402

from akashi.analysis.audio import WavAudio, parse_wav, write_wav  # noqa: E402
from akashi.analysis.callset import bench_set, bench_wav  # noqa: E402
from akashi.analysis.text import levenshtein  # noqa: E402

#: the last commit before issue 12's work (timed utterances and everything after them)
BEFORE = "2cc07ec"
#: issue 12's figures: the bench's RTF on the machine it was filed on, and the goal
FILED_RTF, GOAL_RTF = 0.062, 0.05

# Run in the code under test: only names both codes have (load_model, decode_options, transcribe_audio).
RUNNER = """
import json, sys, time
from pathlib import Path
import akashi
from akashi.analysis.audio import parse_wav
from akashi.analysis.lexicon import load_lexicon
from akashi.analysis.model import load_model
from akashi.analysis.pipeline import decode_options
from akashi.analysis.transcribe import transcribe_audio
from akashi.config.analysis import AnalysisSettings

paths, out = json.loads(sys.argv[1]), Path(sys.argv[2])
settings = AnalysisSettings()
model = load_model(settings)
opts = decode_options(settings, load_lexicon())
audio = [parse_wav(Path(p).read_bytes()) for p in paths]
transcribe_audio(model, audio[0], "ja", opts)  # warm-up
calls = []
for path, a in zip(paths, audio):
    segments, stats = transcribe_audio(model, a, "ja", opts)
    calls.append({"path": path, "audio_s": stats.audio_s, "wall_s": stats.processing_s, "cpu_s": stats.cpu_s,
                  "text": {ch: "".join(s.text for s in segments if s.channel == ch) for ch in ("customer", "operator")}})
out.write_text(json.dumps({"package": akashi.__file__, "settings": settings.model_dump(), "calls": calls}))
"""


def recognise(code: Code, paths: list[Path], work: Path) -> dict[str, Any]:
    """``paths`` recognised by ``code``'s akashi in a process of its own; its settings and per-call figures."""
    out = work / f"{code.label}-{time.monotonic_ns()}.json"
    code.python(RUNNER, json.dumps([str(p) for p in paths]), str(out), cwd=work, timeout=3600)
    result: dict[str, Any] = json.loads(out.read_text())
    if not Path(result["package"]).resolve().is_relative_to(code.src.resolve()):
        raise SystemExit(f"{code.label}: imported {result['package']}, not the package under {code.src}")
    return result


def pcm16(audio: WavAudio, path: Path) -> Path:
    """``audio`` written as a PCM16 WAV at its own rate (what both codes read alike)."""
    path.write_bytes(write_wav(audio.samples, audio.rate, "pcm16"))
    return path


def join(calls: list[tuple[WavAudio, dict[str, str]]], length: float) -> tuple[WavAudio, dict[str, str]]:
    """A call of about ``length`` seconds made of ``calls`` (8 kHz) in turn, and its script per channel."""
    taken = in_turn([audio.duration_s for audio, _ref in calls], length)
    samples = np.concatenate([narrowband(calls[i][0]).samples for i in taken])
    text = {ch: "".join(calls[i][1][ch] for i in taken) for ch in ("customer", "operator")}
    return WavAudio(8000, samples, "pcm16"), text


def figures(runs: list[dict[str, Any]], refs: dict[str, dict[str, str]]) -> dict[str, Any]:
    """RTF and CPU per call second over all rounds; CER per channel against the scripts."""
    audio = sum(c["audio_s"] for r in runs for c in r["calls"])
    out: dict[str, Any] = {
        "rtf": sum(c["wall_s"] for r in runs for c in r["calls"]) / audio,
        "cpu_per_call_s": sum(c["cpu_s"] for r in runs for c in r["calls"]) / audio,
        "audio_s_per_round": audio / len(runs),
    }
    for ch in ("customer", "operator"):
        calls = runs[-1]["calls"]
        edits = sum(levenshtein(chars(refs[c["path"]][ch]), chars(c["text"][ch])) for c in calls)
        out[f"cer_{ch}"] = edits / sum(len(chars(refs[c["path"]][ch])) for c in calls)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", default=BEFORE, help="the earlier commit (default: before issue 12's work)")
    ap.add_argument("--calls", type=int, default=14, help="development calls (short and dense)")
    ap.add_argument("--long", default="60,300", help="lengths (s) of joined calls; empty: none")
    ap.add_argument("--rounds", type=int, default=2, help="each code this many times per set, in turn")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "akashi-tests" / "bench")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "analysis_against.json")
    ap.add_argument("--machine", default="", help="what ran it, for the record")
    args = ap.parse_args()
    members = [bc for bc in bench_set() if bc.half == "dev"][: args.calls]
    with (
        tempfile.TemporaryDirectory(prefix="akashi-against-") as tmp,
        checkout(args.ref, Path(tmp)) as before,
    ):
        work = Path(tmp)
        short, refs = [], {}
        for bc in members:
            src = bench_wav(bc, args.cache)
            path = pcm16(parse_wav(src.read_bytes()), work / f"{bc.name}.wav")
            ref = script_segments(src)
            refs[str(path)] = {
                ch: "".join(s.text for s in ref if s.channel == ch) for ch in ("customer", "operator")
            }
            short.append(path)
        pieces = [(parse_wav(p.read_bytes()), refs[str(p)]) for p in short]
        sets = {"short": short}
        for i, length in enumerate(float(x) for x in args.long.split(",") if x):
            audio, text = join(pieces, length)
            path = pcm16(audio, work / f"joined-{i}.wav")
            refs[str(path)] = text
            sets[f"joined {audio.duration_s:.0f} s"] = [path]
        codes = [before, Code.working_tree()]
        runs: dict[str, dict[str, list[dict[str, Any]]]] = {s: {c.label: [] for c in codes} for s in sets}
        for rnd in range(args.rounds):
            for code in codes if rnd % 2 == 0 else codes[::-1]:
                for name, paths in sets.items():
                    got = recognise(code, paths, work)
                    runs[name][code.label].append(got)
                    rtf = sum(c["wall_s"] for c in got["calls"]) / sum(c["audio_s"] for c in got["calls"])
                    print(
                        f"round {rnd + 1} {code.label:6s} ({code.commit}) {name:14s} RTF {rtf:.3f}",
                        flush=True,
                    )
        table: dict[str, Any] = {}
        for name in sets:
            per = {c.label: figures(runs[name][c.label], refs) for c in codes}
            ratio = per["after"]["rtf"] / per["before"]["rtf"]
            table[name] = per | {
                "rtf_ratio": ratio,
                "issue_figure_scaled": FILED_RTF * ratio,
            }
        settings = {c.label: runs["short"][c.label][0]["settings"] for c in codes}
        commits = {c.label: c.commit for c in codes}
    print(
        f"\n{len(members)} development calls; {args.rounds} round(s); before {commits['before']}, after {commits['after']}"
    )
    for name, row in table.items():
        b, a = row["before"], row["after"]
        line = f"{name:14s} RTF {b['rtf']:.3f} -> {a['rtf']:.3f} (x{row['rtf_ratio']:.2f}; the issue's {FILED_RTF} scaled: {row['issue_figure_scaled']:.3f}, goal {GOAL_RTF})"
        line += f"  CPU s per call s {b['cpu_per_call_s']:.3f} -> {a['cpu_per_call_s']:.3f}"
        line += (
            f"  CER customer {b['cer_customer']:.3f} -> {a['cer_customer']:.3f},"
            f" operator {b['cer_operator']:.3f} -> {a['cer_operator']:.3f}"
        )
        print(line)
    write_json(
        args.out,
        {"machine": machine(args.machine), "commits": commits, "calls": len(members), "rounds": args.rounds,
         "settings": settings, "sets": table},
    )  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
