"""Detection and CER on calls of realistic length: each half's generated calls joined into calls of about 5 minutes.

``bench/analysis.py`` scores the generated calls one by one, and they are short (median 21 s): one 30 s window
per channel. Real calls run for minutes, and what Whisper does in a window after the first (stop early, loop)
only shows there. Here the calls of a half (``akashi.analysis.callset``) are joined, at 8 kHz, into calls of
about ``--length`` seconds, in ``--orders`` orders (the set's, reversed, then shuffled with fixed seeds), so each
call is heard ``--orders`` times with different neighbours. Each joined call is recognised whole with a
variant's decoder options (``bench/analysis.py``'s variants); its segments are cut back into the calls it was
made of (by the middle of each segment) and scored per call as ``bench/analysis.py`` scores them: CER per
channel, category recall and precision, polite calls flagged, the notice check, utterance start error, RTF.

Figures of 2026-12-07 (a 2-core VM, AMD EPYC, one render of the set; 3 orders: the dev half's 42 calls make 9
joined calls, 2,746 s; the held-out half's 38 make 9, 2,391 s). Recognition as shipped before the repeat check
(below), except for the silence put between packed regions (``packing.PACK_GAP_S``, 1.0 s) and the customer's
prompt:

    half      gap    prompt      cust CER  op CER  cat recall     polite flagged  notice  start p90  RTF
    dev       1.0 s  lexicon      0.291    0.235   0.64 (P 0.93)   1/36           0.91    0.26 s     0.038 (as shipped)
    dev       0.5 s  lexicon      0.246    0.239   0.71 (P 0.97)   0/36           0.91    0.28 s     0.034
    dev       0.3 s  lexicon      0.254    0.256   0.80 (P 0.99)   0/36           0.90    0.31 s     0.035
    dev       1.0 s  none         0.236    0.236   0.72 (P 0.98)   0/36           0.91    0.25 s     0.036
    dev       0.3 s  none         0.230    0.255   0.78 (P 1.00)   0/36           0.90    0.31 s     0.032
    dev       1.0 s  timed        0.320    0.236   0.71 (P 0.97)   0/36           0.91    0.26 s     0.040
    dev       0.5 s  timed        0.227    0.239   0.82 (P 0.96)   0/36           0.91    0.27 s     0.035
    dev       0.3 s  timed        0.222    0.255   0.82 (P 0.98)   0/36           0.90    0.31 s     0.033
    held-out  1.0 s  lexicon      0.282    0.203   0.86 (P 0.99)   0/30           0.95    0.28 s     0.040 (as shipped)
    held-out  0.3 s  lexicon      0.270    0.205   0.81 (P 1.00)   0/30           0.95    0.33 s     0.036

The same calls one by one (``bench/analysis.py``, same render): dev 0.85 recall with 1.0 s, 0.88 with 0.5 s,
0.90 with 0.3 s (customer CER 0.204, 0.215, 0.218); held-out 0.84 with 1.0 s, 0.81 with 0.3 s.

What the joined calls show: with the lexicon prompt Whisper may write a window's first sentences as one segment
and stop (on one dev joined call 16 of the customer's 38 speech regions got no word in the first pass; the rescue
pass heard them again, unprompted). A shorter silence between regions left fewer regions unheard and took a
tenth off the time, and on dev raised recall on joined calls from 0.64 to 0.80; but it raised the operator's CER
on dev (0.236 to 0.256) and the customer's on short calls (0.204 to 0.218), and the held-out half, run for both
gaps, did not gain (0.86 to 0.81 joined, 0.84 to 0.81 one by one). So 1.0 s stays. "timed" writes the lexicon
prompt as a window of Whisper's own timestamped output (``bench/analysis.py``'s ``timed-prompt``): Whisper kept to
one segment per utterance, but wrote prompt words for what was said more often (馬鹿 for 今すぐ on a short dev
call, precision 0.97): not shipped.

The joined calls also showed Whisper writing a region over again in the next regions of its window, with the
word times forced onto them: a call's opening came out as the previous call's threat. Since then a customer's
region whose words only repeat the regions before it is heard again, and other words heard there replace the
repeat (``akashi.analysis.rescue``; chosen on dev, the held-out half run once after):

    half      repeat check   cust CER  op CER  cat recall     polite flagged  notice  start p90  RTF
    dev       no              0.291    0.235   0.64 (P 0.93)   1/36           0.91    0.26 s     0.038
    dev       yes (shipped)   0.245    0.235   0.72 (P 0.97)   1/36           0.91    0.26 s     0.040
    held-out  no              0.282    0.203   0.86 (P 0.99)   0/30           0.95    0.28 s     0.040
    held-out  yes (shipped)   0.292    0.203   0.85 (P 1.00)   0/30           0.95    0.27 s     0.039

A first version that replaced a repeat with whatever the second pass heard gave dev 0.249 / 0.71 and held-out
0.302 / 0.83 (the scripts say many lines twice, and a line heard again alone, unprompted, comes out worse);
checking the operator's channel too took its dev CER from 0.235 to 0.290. The calls one by one did not change
(dev 0.85, held-out 0.84). The polite call still flagged on dev got another call's 女のくせに in the middle of a
region: more than a repeat of the regions before it.

A caller who says the same lines again (``--same-script``: each script's renders of a half, joined in turn;
figures of 2026-12-07 on another 2-core AMD EPYC VM and render, whose calls one by one gave dev 0.88 and
held-out 0.84). On one dev call Whisper wrote the first render's two threats again at the end of its window,
in the silence after the last speech, and their word times were clamped onto that region's end: customer CER
1.07 on that call, a threat at a time nobody said it. Words whose middle lies more than 0.75 s outside every
speech region of the packing are now left out (``packing.SILENT_WORD_S``; the largest such distance of a
word that was said, on these calls, was 0.5 s; chosen on dev, the held-out half run once after):

    half      silent words  cust CER  op CER  cat recall     polite flagged  notice  RTF
    dev       kept           0.192    0.226   0.88 (P 0.97)   0/12           0.93    0.059
    dev       left out       0.173    0.226   0.88 (P 0.97)   0/12           0.93    0.064
    held-out  kept           0.206    0.192   0.84 (P 1.00)   0/10           0.95    0.058
    held-out  left out       0.206    0.192   0.84 (P 1.00)   0/10           0.95    0.058

The joined 5-minute dev calls and the calls one by one came out the same with and without it on that render.

Shorter customer windows on long calls (``analysis.customer_window_s``, the ``cwin*`` variants; same VM and
render as the table above). In a full 30 s window of a joined call's customer speech, with the lexicon prompt,
Whisper wrote the first regions' threats again over the next five regions, and in the next window wrote one
sentence and stopped: 20 of a call's 39 customer regions had to be heard again, unprompted, and a polite call got
another call's 女のくせに. Where a customer's speech fills more than one 30 s window, its windows are now at most
15 s (a short call's one window stays whole). Chosen on dev; the held-out half run once after, with 30 s beside:

    half      customer window  cust CER  op CER  cat recall     polite flagged  notice  RTF
    dev       30 s (before)     0.267    0.244   0.70 (P 0.95)   1/36           0.93    0.050
    dev       20 s              0.270    0.244   0.83 (P 0.98)   0/36           0.93    0.053
    dev       15 s (shipped)    0.213    0.244   0.84 (P 0.98)   0/36           0.93    0.054-0.059
    dev       10 s              0.259    0.244   0.80 (P 0.95)   0/36           0.93    0.075
    dev       15 s, fitted      0.236    0.244   0.80 (P 1.00)   0/36           0.93    0.047
    held-out  30 s (before)     0.280    0.216   0.86 (P 1.00)   0/30           0.97    0.046
    held-out  15 s (shipped)    0.245    0.216   0.84 (P 1.00)   0/30           0.97    0.052

On two of the dev joined calls the first pass left 13 customer regions without a word and wrote 18 that only
repeated earlier ones with 30 s windows, 6 and 8 with 15 s; CPU time per call second was the same (0.124 and
0.123: the encoder runs twice as often, the second pass hears fewer regions), but a lone call's wall time grows
by about a sixth, as the customer's channel is the longer of the two run side by side. Fitting the 15 s
windows' encoder input to the speech ("15 s, fitted", a trial, not a setting) took CPU time to 0.097 but gave
back part of the gain on dev, so it is not shipped. The calls one by one did not change (they have one window
a channel): dev 0.88 | held-out 0.84 recall, customer CER 0.207 | 0.248.

With 15 s windows a joined call's first region still got the call before's two threats, every word at one
instant (8.75-8.75 s: the aligner found no speech for them). Piles of words given no time, six letters or
more, are now left out and their region heard again (``rescue.unpiled``; chosen on dev, held-out run once after):

    half      piles     cust CER  op CER  cat recall     polite flagged  notice  RTF
    dev       kept       0.213    0.244   0.84 (P 0.98)   0/36           0.93    0.054-0.059
    dev       left out   0.206    0.238   0.85 (P 1.00)   0/36           0.93    0.057
    held-out  kept       0.245    0.216   0.84 (P 1.00)   0/30           0.97    0.052
    held-out  left out   0.245    0.214   0.84 (P 1.00)   0/30           0.97    0.050

Calls one by one: unchanged (dev 0.88, customer CER 0.207). Each script's renders joined (``--same-script``), all
three filters and windows as shipped: dev customer CER 0.175, recall 0.88 (P 0.97); held-out 0.206, 0.84 (P 1.00).

On a seventh VM (2026-12-07, about three times slower, TTS rendered again), the dev half as shipped against no
timestamp tokens (``no-ts``, faster and as accurate on the calls one by one):

    half      variant    cust CER  op CER  cat recall     polite flagged  notice  RTF
    dev       shipped     0.249    0.236   0.81 (P 0.98)   0/36           0.93    0.185
    dev       no-ts       0.271    0.237   0.78 (P 0.98)   0/36           0.91    0.156

    python bench/analysis_joined.py                                # dev, shipped, 3 orders
    python bench/analysis_joined.py --halves dev,heldout --same-script
    python bench/analysis_joined.py --halves dev,heldout --variants shipped,cwin30
    python bench/analysis_joined.py --halves dev,heldout --variants shipped,no-prompt --pack-gap 0.3
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from bench.analysis import Tally, narrowband, score, script_segments, variants  # noqa: E402
from bench.harness import machine, write_json  # noqa: E402

from akashi.analysis import packing, transcribe  # noqa: E402
from akashi.analysis.audio import WavAudio, parse_wav  # noqa: E402
from akashi.analysis.callset import BenchCall, bench_set, bench_wav  # noqa: E402
from akashi.analysis.detect import Segment, Word  # noqa: E402
from akashi.analysis.lexicon import load_lexicon  # noqa: E402
from akashi.analysis.model import load_model  # noqa: E402
from akashi.config.analysis import AnalysisSettings  # noqa: E402
from akashi.db.fts import normalise_text  # noqa: E402


def joined(
    calls: list[BenchCall], audio: dict[str, WavAudio], length: float, orders: int
) -> list[list[BenchCall]]:
    """The calls in groups of about ``length`` seconds, in ``orders`` orders (as given, reversed, shuffled)."""
    groups: list[list[BenchCall]] = []
    for order in range(orders):
        seq = list(calls)
        if order == 1:
            seq.reverse()
        elif order > 1:
            random.Random(order).shuffle(seq)
        group: list[BenchCall] = []
        total = 0.0
        for bc in seq:
            group.append(bc)
            total += audio[bc.name].duration_s
            if total >= length:
                groups.append(group)
                group, total = [], 0.0
        if group:
            groups.append(group)
    return groups


def by_script(calls: list[BenchCall]) -> list[list[BenchCall]]:
    """The renders of each script joined in turn (a caller who says the same lines again), where a half has
    more than one."""
    groups: dict[str, list[BenchCall]] = {}
    for bc in calls:
        groups.setdefault(bc.name.split("@")[0], []).append(bc)
    return [g for _name, g in sorted(groups.items()) if len(g) > 1]


def cut(segments: list[Segment], start: float, duration: float) -> list[Segment]:
    """The segments whose middle lies in ``start`` .. ``start + duration``, on that call's own timeline."""
    return [
        Segment(
            s.channel,
            s.start_s - start,
            s.end_s - start,
            normalise_text(s.text),
            tuple(Word(w.start_s - start, w.end_s - start, w.text, w.probability) for w in s.words),
        )
        for s in segments
        if start <= (s.start_s + s.end_s) / 2 < start + duration
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--halves", default="dev")
    ap.add_argument("--variants", default="shipped", help="bench/analysis.py's decoder variants")
    ap.add_argument("--length", type=float, default=300.0, help="seconds of a joined call (about)")
    ap.add_argument("--orders", type=int, default=3, help="orders the calls are joined in")
    ap.add_argument(
        "--same-script",
        action="store_true",
        help="join the renders of each script instead (the same lines again)",
    )
    ap.add_argument("--pack-gap", type=float, default=0.0, help="silence between packed regions (s)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "akashi-tests" / "bench")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "analysis_joined.json")
    ap.add_argument("--machine", default="", help="what ran it, for the record")
    args = ap.parse_args()
    if args.pack_gap:
        packing.PACK_GAP_S = args.pack_gap
    lexicon = load_lexicon()
    model = load_model(AnalysisSettings(cpu_threads=args.threads, workers=args.workers))
    every = variants(lexicon)
    results: dict[str, Any] = {}
    for half in args.halves.split(","):
        calls = [bc for bc in bench_set() if bc.half == half]
        paths = {bc.name: bench_wav(bc, args.cache) for bc in calls}
        audio = {bc.name: narrowband(parse_wav(paths[bc.name].read_bytes())) for bc in calls}
        groups = by_script(calls) if args.same_script else joined(calls, audio, args.length, args.orders)
        for vname in args.variants.split(","):
            tally, wall, heard, detail = Tally(), 0.0, 0.0, []
            for group in groups:
                call = WavAudio(8000, np.concatenate([audio[bc.name].samples for bc in group]), "pcm16")
                segments, stats = transcribe.transcribe_audio(model, call, "ja", every[vname])
                wall, heard = wall + stats.processing_s, heard + stats.audio_s
                start = 0.0
                for bc in group:
                    duration = audio[bc.name].duration_s
                    ref = script_segments(paths[bc.name])
                    detail.append(
                        score(tally, bc, ref, cut(segments, start, duration), lexicon) | {"at_s": start}
                    )
                    start += duration
            s = tally.summary(args.threads)
            results[f"{half}/{vname}"] = s | {
                "joined_calls": len(groups),
                "rtf": wall / heard,
                "per_call": detail,
            }
            cat = s["categories"]
            print(
                f"{half} {vname:10s} gap {packing.PACK_GAP_S} s: CER cust {s['cer']['customer']:.3f} "
                f"op {s['cer']['operator']:.3f} | cat R {cat['recall'] or 0:.2f} P {cat['precision'] or 0:.2f} | "
                f"polite flagged {s['polite_calls_flagged']}/{s['polite_calls']} | notice {s['notice_accuracy'] or 0:.2f} "
                f"| start p90 {s['boundary_error_s']['p90'] or 0:.2f} s | RTF {wall / heard:.3f} "
                f"({len(groups)} joined calls, {heard:.0f} s)",
                flush=True,
            )
    write_json(
        args.out,
        {"machine": machine(args.machine), "pack_gap_s": packing.PACK_GAP_S, "length_s": args.length,
         "orders": args.orders, "same_script": args.same_script, "results": results},
    )  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
