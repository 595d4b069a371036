"""Voice-mining benchmark over the scripted test calls (offline TTS, 8 kHz G.711 stereo).

For each decoding variant: character error rate per channel, keyword recall/precision per category
(call x category), call-level harassment precision/recall/F1, flags on polite complaints,
operator-notice accuracy, and real-time factor (processing seconds / call seconds, both channels).
The baseline is plain faster-whisper with its default settings (language fixed to Japanese) on the
same audio in the same run; "exact" rows match the lexicon's surface forms only, on the same
transcripts, to show what matching on readings adds. "script" rows run detection on the script text
(no recognition): the ceiling set by the lexicon alone.

    python bench/analysis.py            # all calls, all variants
    python bench/analysis.py --quick    # a few calls, baseline and the default
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np

from akashi.analysis.audio import WavAudio, parse_wav
from akashi.analysis.compliance import check_operator_notice
from akashi.analysis.detect import Segment, lexicon_findings
from akashi.analysis.lexicon import CATEGORIES, Lexicon, load_lexicon
from akashi.analysis.model import load_model
from akashi.analysis.pipeline import decode_options
from akashi.analysis.testcalls import CALLS, NOTICE, ScriptedCall, call_wav, tts_engine
from akashi.analysis.text import levenshtein
from akashi.analysis.transcribe import DecodeOptions, prompt_from_terms, transcribe_audio
from akashi.config.analysis import AnalysisSettings
from akashi.db.fts import normalise_text

THREADS = [2]
QUICK = ("dogeza", "threat_sns", "boss_money", "polite_refund", "normal_order", "no_notice")
_PUNCT = set("、。，．,.!?！？「」・… ")


def _chars(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKC", text) if c not in _PUNCT and not c.isspace())


@dataclass
class Tally:
    """Counts of one variant over all calls."""

    cer_edits: dict[str, int] = field(default_factory=lambda: {"customer": 0, "operator": 0})
    cer_chars: dict[str, int] = field(default_factory=lambda: {"customer": 0, "operator": 0})
    cat: dict[str, list[int]] = field(default_factory=lambda: {c: [0, 0, 0] for c in CATEGORIES})  # tp fp fn
    call: list[int] = field(default_factory=lambda: [0, 0, 0])  # tp fp fn (harassment calls)
    polite_flagged: int = 0
    notice_right: int = 0
    notice_total: int = 0
    audio_s: float = 0.0
    processing_s: float = 0.0
    cpu_s: float = 0.0

    def add_detection(self, call: ScriptedCall, found: set[str]) -> None:
        for c in CATEGORIES:
            truth = c in call.categories
            self.cat[c][0] += truth and c in found
            self.cat[c][1] += (not truth) and c in found
            self.cat[c][2] += truth and c not in found
        harassing = call.kind == "harassment"
        self.call[0] += harassing and bool(found)
        self.call[1] += (not harassing) and bool(found)
        self.call[2] += harassing and not found
        self.polite_flagged += call.kind == "polite" and bool(found)

    def summary(self) -> dict[str, Any]:
        def pr(tp: int, fp: int, fn: int) -> dict[str, float | None]:
            p = tp / (tp + fp) if tp + fp else None
            r = tp / (tp + fn) if tp + fn else None
            f1 = 2 * p * r / (p + r) if p and r else (0.0 if p is not None and r is not None else None)
            return {"precision": p, "recall": r, "f1": f1}

        tp, fp, fn = (sum(v[i] for v in self.cat.values()) for i in range(3))
        return {
            "cer": {
                ch: (self.cer_edits[ch] / self.cer_chars[ch] if self.cer_chars[ch] else None)
                for ch in self.cer_chars
            },
            "keywords_overall": pr(tp, fp, fn),
            "keywords_per_category": {
                c: pr(*v) | {"tp": v[0], "fp": v[1], "fn": v[2]} for c, v in self.cat.items()
            },
            "calls": pr(*self.call),
            "polite_calls_flagged": self.polite_flagged,
            "notice_accuracy": self.notice_right / self.notice_total if self.notice_total else None,
            "audio_s": round(self.audio_s, 2),
            "processing_s": round(self.processing_s, 2),
            "rtf": self.processing_s / self.audio_s if self.audio_s else None,
            "cpu_s": round(self.cpu_s, 2),
            # CPU seconds per audio second divided by the threads used: the wall-clock RTF this run would
            # have on an idle machine of this kind (other work shares these cores during the run).
            "rtf_cpu_per_thread": self.cpu_s / self.audio_s / THREADS[0] if self.audio_s else None,
        }


def exact_categories(segments: list[Segment], lexicon: Lexicon) -> set[str]:
    """Categories whose surface form appears verbatim in the customer's words (no readings, no mood)."""
    text = "".join(s.text for s in segments if s.channel == "customer")
    return {c.name for c in lexicon.categories if any(t.text in text for t in c.terms)}


def detect(segments: list[Segment], lexicon: Lexicon) -> set[str]:
    """Categories the production detector flags on the customer channel."""
    return {f.category for f in lexicon_findings(segments, lexicon, ("customer",))}


def script_segments(path: Path) -> list[Segment]:
    """The call's script as segments (the reference transcript)."""
    timeline = json.loads(path.with_suffix(".json").read_text())
    return [Segment(t["speaker"], t["start_s"], t["end_s"], t["text"]) for t in timeline]


def score_call(
    tally: Tally,
    exact: Tally | None,
    call: ScriptedCall,
    ref: list[Segment],
    hyp: list[Segment],
    lexicon: Lexicon,
) -> None:
    for ch in ("customer", "operator"):
        r = _chars("".join(s.text for s in ref if s.channel == ch))
        h = _chars("".join(s.text for s in hyp if s.channel == ch))
        tally.cer_edits[ch] += levenshtein(r, h)
        tally.cer_chars[ch] += len(r)
    tally.add_detection(call, detect(hyp, lexicon))
    if exact is not None:
        exact.add_detection(call, exact_categories(hyp, lexicon))
    said = check_operator_notice(hyp, NOTICE, 30.0).ok
    tally.notice_total += 1
    tally.notice_right += said == call.notice_said


def variants(quick: bool, lexicon: Lexicon) -> dict[str, DecodeOptions]:
    prompt = prompt_from_terms(lexicon.prompt_terms())
    out = {
        "plain": DecodeOptions(plain=True),
        "akashi": decode_options(AnalysisSettings(), lexicon),  # the shipped defaults
    }
    if not quick:
        out["vad-batched-noprompt"] = DecodeOptions()
        out["vad-sequential-prompt"] = DecodeOptions(batched=False, prompt_customer=prompt)
        out["akashi-hotwords"] = DecodeOptions(
            prompt_customer=prompt, hotwords_customer=" ".join(lexicon.all_terms()[:30])
        )
        out["akashi-greedy"] = DecodeOptions(prompt_customer=prompt, beam_size=1)
        out["akashi-beam5-both"] = DecodeOptions(prompt_customer=prompt)
    return out


def long_call(model: Any, parts: list[WavAudio], lexicon: Lexicon) -> dict[str, Any]:
    """RTF on one long call made of all the test calls back to back (speech packed into 30 s windows)."""
    joined = WavAudio(parts[0].rate, np.concatenate([p.samples for p in parts]), parts[0].codec)
    out: dict[str, Any] = {"audio_s": round(joined.duration_s, 1)}
    for name, opts in (
        ("plain", DecodeOptions(plain=True)),
        ("akashi", decode_options(AnalysisSettings(), lexicon)),
    ):
        _segs, stats = transcribe_audio(model, joined, "ja", opts)
        out[name] = {
            "processing_s": round(stats.processing_s, 2),
            "rtf": stats.rtf,
            "rtf_cpu_per_thread": stats.cpu_s / stats.audio_s / THREADS[0],
        }
        print(
            f"long call ({joined.duration_s:.0f} s) {name:8s} RTF {stats.rtf:.3f} "
            f"(CPU-time RTF {out[name]['rtf_cpu_per_thread']:.3f})",
            flush=True,
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="six calls; plain and default variants only")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "analysis.json")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "akashi-tests" / "calls")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--variants", default="", help="comma-separated subset of variant names")
    args = ap.parse_args()
    THREADS[0] = args.threads

    calls = [c for c in CALLS if not args.quick or c.name in QUICK]
    t0 = time.perf_counter()
    paths = {c.name: call_wav(c, args.cache) for c in calls}
    print(f"calls: {len(calls)} ({tts_engine()} TTS, {time.perf_counter() - t0:.1f} s to make/load)")
    lexicon = load_lexicon()
    cfg = AnalysisSettings(
        cpu_threads=args.threads,
        device=args.device,
        compute_type="int8" if args.device == "cpu" else "int8_float16",
    )
    model = load_model(cfg)
    audio = {n: parse_wav(p.read_bytes()) for n, p in paths.items()}
    # Warm up once so that the first variant does not pay for lazy initialisation.
    transcribe_audio(model, audio[calls[0].name], "ja", DecodeOptions())

    results: dict[str, Any] = {}
    script = Tally()
    for c in calls:
        ref = script_segments(paths[c.name])
        script.add_detection(c, detect(ref, lexicon))
    results["script (no ASR)"] = {
        k: v for k, v in script.summary().items() if k.startswith(("keywords", "calls", "polite"))
    }

    chosen = variants(args.quick and not args.variants, lexicon)
    if args.variants:
        chosen = {k: v for k, v in chosen.items() if k in args.variants.split(",")}
    for name, opts in chosen.items():
        tally, exact = Tally(), Tally()
        detail = []
        for c in calls:
            segs, stats = transcribe_audio(model, audio[c.name], "ja", opts)
            segs = [Segment(s.channel, s.start_s, s.end_s, normalise_text(s.text)) for s in segs]
            tally.audio_s += stats.audio_s
            tally.processing_s += stats.processing_s
            tally.cpu_s += stats.cpu_s
            score_call(tally, exact, c, script_segments(paths[c.name]), segs, lexicon)
            detail.append(
                {
                    "call": c.name,
                    "truth": sorted(c.categories),
                    "found": sorted(detect(segs, lexicon)),
                    "segments": [[s.channel, s.start_s, s.end_s, s.text] for s in segs],
                }
            )
        results[name] = tally.summary() | {"per_call": detail}
        ex = exact.summary()
        results[name + " / exact-text matching"] = {
            k: v for k, v in ex.items() if k.startswith(("keywords", "calls", "polite"))
        }
        s = results[name]
        print(
            f"{name:24s} CER cust {s['cer']['customer']:.3f} op {s['cer']['operator']:.3f}  "
            f"kw P {s['keywords_overall']['precision'] or 0:.2f} R {s['keywords_overall']['recall'] or 0:.2f}  "
            f"(exact: P {ex['keywords_overall']['precision'] or 0:.2f} R {ex['keywords_overall']['recall'] or 0:.2f})  "
            f"call F1 {s['calls']['f1'] or 0:.2f}  polite flagged {s['polite_calls_flagged']}  "
            f"notice acc {s['notice_accuracy']:.2f}  RTF {s['rtf']:.3f} (CPU-time RTF {s['rtf_cpu_per_thread']:.3f})",
            flush=True,
        )
    if not args.quick and not args.variants:
        results["long call"] = long_call(model, [audio[c.name] for c in calls], lexicon)
    base, ours = results.get("plain"), results.get("akashi")
    if base and ours:
        results["ratios"] = {"rtf_akashi_over_plain": ours["rtf"] / base["rtf"]}
        print(f"RTF akashi / plain = {results['ratios']['rtf_akashi_over_plain']:.2f}")
    sc = results["script (no ASR)"]
    print(
        f"{'script (no ASR)':24s} kw P {sc['keywords_overall']['precision'] or 0:.2f} "
        f"R {sc['keywords_overall']['recall'] or 0:.2f}  call F1 {sc['calls']['f1'] or 0:.2f}"
    )
    meta = {
        "calls": [c.name for c in calls],
        "tts": tts_engine(),
        "threads": args.threads,
        "device": args.device,
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "quick": args.quick,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "results": results}, ensure_ascii=False, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
