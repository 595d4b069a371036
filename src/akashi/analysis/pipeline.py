"""Analysis of one call: transcript, flags with evidence, severity, keywords, notice compliance.

:func:`analyze_call` is what the ``transcribe`` job and ``akashi analyze ID`` run. It reads the
call's media through the evidence store, never touches the recorders, and replaces the call's earlier
analysis (segments, flags, keywords) in one transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select

from akashi.analysis.audio import WavAudio, parse_wav
from akashi.analysis.compliance import (
    NoticeResult,
    audio_coverage,
    check_automatic_notice,
    check_operator_notice,
)
from akashi.analysis.detect import Finding, Segment, Word, lexicon_findings, severity, shouting, talk_over
from akashi.analysis.lexicon import NOTICE_MISSING, Lexicon, load_lexicon
from akashi.analysis.mining import call_keywords, call_terms
from akashi.analysis.mining_report import doc_freq
from akashi.analysis.model import load_model
from akashi.analysis.prompts import OPERATOR_PROMPT, joint_prompt, prompt_from_terms
from akashi.analysis.text import reading_of
from akashi.analysis.transcribe import DecodeOptions, TranscriptionStats, transcribe_audio
from akashi.callfacts import AnalysisFacts, NoticeFacts
from akashi.codecs.decode import playable_wav
from akashi.db.base import session_scope, utcnow
from akashi.db.fts import normalise_text
from akashi.db.models import Call, CallFlag, TranscriptSegment
from akashi.db.models_analysis import CallKeyword
from akashi.errors import NotFoundError
from akashi.ingest import NO_AUDIO
from akashi.jobs.queue import PermanentJobError

if TYPE_CHECKING:
    from akashi.config.analysis import AnalysisSettings
    from akashi.context import Akashi

log = logging.getLogger(__name__)

BEHAVIOUR_WEIGHTS = {"時間拘束": 1.0, "リピート": 1.0, "大声": 1.5, "被せ発話": 1.0}
LEXICON_CHANNELS = ("customer", "mixed")


@dataclass
class CallAnalysis:
    """The outcome of analysing one call."""

    call_id: int
    segments: list[Segment]
    findings: list[Finding]
    severity: float
    flags: list[str]
    keywords: list[tuple[str, int]]
    notice: NoticeResult | None
    stats: TranscriptionStats = field(default_factory=TranscriptionStats)
    # every customer-channel term with its count (stored as the call's keyword rows: the background)
    terms: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "call_id": self.call_id,
            "flags": self.flags,
            "severity": self.severity,
            "keywords": [w for w, _ in self.keywords],
            "notice": None
            if self.notice is None
            else {"mode": self.notice.mode, "ok": self.notice.ok, **self.notice.detail},
            "transcript": [
                {"channel": g.channel, "start_s": g.start_s, "end_s": g.end_s, "text": g.text}
                for g in self.segments
            ],
            "segments": len(self.segments),
            "findings": [
                {
                    "category": f.category,
                    "source": f.source,
                    "words": f.words,
                    "channel": f.channel,
                    "start_s": f.start_s,
                    "end_s": f.end_s,
                    "score": f.score,
                }
                for f in self.findings
            ],
            "audio_s": round(self.stats.audio_s, 2),
            "processing_s": round(self.stats.processing_s, 2),
        }


FIT_CHANNELS: dict[str, tuple[str, ...]] = {
    "off": (),
    "operator": ("operator",),
    "all": ("customer", "operator", "mixed"),
}


def decode_options(cfg: AnalysisSettings, lexicon: Lexicon) -> DecodeOptions:
    """Recogniser options from the settings: the lexicon prompt on the customer channel and the
    reception's words on the operator's, or both word lists as one prompt when the channels share
    windows (``joint_channels``)."""
    customer = prompt_from_terms(lexicon.prompt_terms()) if cfg.prompt_lexicon else None
    operator = OPERATOR_PROMPT if cfg.prompt_operator else None
    joint = cfg.joint_channels
    return DecodeOptions(
        vad=cfg.vad,
        batched=cfg.batched,
        batch_size=cfg.batch_size,
        beam_size=cfg.beam_size,
        beam_size_operator=cfg.beam_size_operator,
        prompt_customer=None if joint else customer,
        prompt_operator=None if joint else operator,
        joint=joint,
        prompt_joint=joint_prompt(customer, operator) if joint else None,
        fit_channels=FIT_CHANNELS[cfg.fit_windows],
        customer_window_s=cfg.customer_window_s,
    )


def recogniser_settings(cfg: AnalysisSettings) -> dict[str, Any]:
    """The settings a transcript was made with, as recorded beside it."""
    keys = ("language", "device", "compute_type", "vad", "batched", "beam_size", "beam_size_operator")
    extra = ("prompt_lexicon", "prompt_operator", "joint_channels", "fit_windows", "customer_window_s")
    return {k: getattr(cfg, k) for k in (*keys, *extra)}


def model_cache(cfg: AnalysisSettings) -> Path | None:
    """The configured model cache folder, if any."""
    return Path(cfg.model_cache).expanduser() if cfg.model_cache else None


def read_media(ak: Akashi, object_id: str) -> bytes:
    """A stored recording as a WAV: the plaintext, or a call kept as RTP decoded (16 kHz for wideband)."""
    return playable_wav(b"".join(ak.store.iter_plaintext(object_id)))


def behaviour_findings(
    ak: Akashi, call: Call, audio: WavAudio | None, cfg: AnalysisSettings
) -> list[Finding]:
    """時間拘束, リピート, 大声 and 被せ発話 for one call."""
    out: list[Finding] = []
    duration = call.duration_s or (audio.duration_s if audio else 0.0)
    if duration > cfg.long_call_minutes * 60:
        out.append(
            Finding(
                "時間拘束",
                "behaviour",
                start_s=0.0,
                end_s=duration,
                score=1.0,
                detail={"duration_min": round(duration / 60, 1), "threshold_min": cfg.long_call_minutes},
            )
        )
    if call.caller_digits:
        since = call.started_at - timedelta(days=cfg.repeat_days)
        with session_scope(ak.engine) as s:
            count = (
                s.scalar(
                    select(func.count(Call.id)).where(
                        Call.caller_digits == call.caller_digits,
                        Call.started_at >= since,
                        Call.started_at <= call.started_at,
                    )
                )
                or 0
            )
        if count >= cfg.repeat_calls:
            out.append(
                Finding(
                    "リピート",
                    "behaviour",
                    score=1.0,
                    detail={"calls": count, "days": cfg.repeat_days, "caller": call.caller_digits},
                )
            )
    if audio is not None and audio.channels >= 1:
        out.extend(shouting(audio.channel(0), audio.rate, cfg.shout_dbfs, cfg.shout_seconds))
    if audio is not None and audio.channels == 2:
        out.extend(
            talk_over(audio.channel(0), audio.channel(1), audio.rate, min_total_s=cfg.talk_over_seconds)
        )
    return out


def _notice_text(ak: Akashi, call: Call) -> str:
    name = call.facts.announcement or "default"
    ann = ak.settings.announcements.get(name) or ak.settings.announcements.get("default")
    return ann.text if ann else ""


def notice_check(
    ak: Akashi, call: Call, segments: list[Segment], audio: WavAudio | None = None
) -> NoticeResult | None:
    """The notice compliance of ``call``, or None when its mode asks for no notice."""
    cfg = ak.settings.analysis
    # the window counts from the answer: call audio may start earlier (an outbound call's early media)
    window_s = cfg.notice_window_s + call.facts.answer_offset_s()
    if call.notice_mode in ("operator", "siprec"):  # siprec: the PBX's notice, heard on the operator channel
        return check_operator_notice(segments, _notice_text(ak, call), window_s)
    if call.notice_mode == "automatic" and call.source == "import" and call.notice_started_at is None:
        # An imported recording of an automatic notice has no playback log: the announcement is in the
        # recording's operator channel (what the customer heard), so it is checked from the transcript.
        res = check_operator_notice(segments, _notice_text(ak, call), window_s)
        return NoticeResult("automatic", res.ok, res.detail | {"basis": "transcript"})
    if call.notice_mode == "automatic":
        expected = call.facts.notice_duration_s
        coverage = None
        # notice times are wall clock, the audio's are call-audio time (from its first sample)
        t0 = (call.answered_at or call.started_at) - timedelta(seconds=call.facts.answer_offset_s())
        if audio is not None and audio.channels == 2 and call.notice_started_at and call.notice_ended_at:
            coverage = audio_coverage(
                audio.channel(1),
                audio.rate,
                (call.notice_started_at - t0).total_seconds(),
                (call.notice_ended_at - t0).total_seconds(),
            )
        return check_automatic_notice(
            call.notice_started_at,
            call.notice_ended_at,
            call.bridged_at,
            expected,
            coverage=coverage,
        )
    return None


class NoAudioError(PermanentJobError):
    """The call has no audio and no stored transcript: its analysis job fails for good, never retried."""


def _mark_no_audio(ak: Akashi, call_id: int) -> None:
    with session_scope(ak.engine) as s:
        call = s.get(Call, call_id)
        if call is not None:
            call.analysis_state = NO_AUDIO


def analyze_call(ak: Akashi, call_id: int, *, retranscribe: bool = True, model: Any = None) -> CallAnalysis:
    """Analyse call ``call_id`` and store the outcome. ``retranscribe=False`` reuses the stored transcript.

    On failure the call is marked ``analysis_state="failed"`` and the error is raised again (the job
    queue retries it with backoff).
    """
    try:
        return _analyze(ak, call_id, retranscribe=retranscribe, model=model)
    except (NotFoundError, NoAudioError):
        raise
    except Exception:
        with session_scope(ak.engine) as s:
            call = s.get(Call, call_id)
            if call is not None:
                call.analysis_state = "failed"
        raise


def _analyze(ak: Akashi, call_id: int, *, retranscribe: bool, model: Any) -> CallAnalysis:
    cfg = ak.settings.analysis
    lexicon = load_lexicon(cfg.lexicon or None)
    with session_scope(ak.engine) as s:
        call = s.get(Call, call_id)
        if call is None:
            raise NotFoundError(f"通話 {call_id} はありません", f"no call {call_id}")
        call.analysis_state = "running"
        stored = [
            Segment(r.channel, r.start_s, r.end_s, r.text, tuple(Word.from_json(w) for w in r.words or ()))
            for r in s.scalars(
                select(TranscriptSegment)
                .where(TranscriptSegment.call_id == call_id)
                .order_by(TranscriptSegment.start_s)
            )
        ]
    audio = parse_wav(read_media(ak, call.media_object_id)) if call.media_object_id else None
    if audio is not None and audio.samples.shape[0] == 0:
        audio = None  # a header and no sound (a refused attempt): nothing to hear or measure
    if audio is None and retranscribe and not stored:  # a transcription asked of a call with no sound
        _mark_no_audio(ak, call_id)
        raise NoAudioError(
            f"通話 {call_id} には音声がないため文字起こしできません",
            f"call {call_id} has no audio: nothing to transcribe",
        )
    stats = TranscriptionStats()
    if audio is not None and (retranscribe or not stored):
        whisper = model if model is not None else load_model(cfg, model_cache(cfg), online=cfg.online)
        segments, stats = transcribe_audio(whisper, audio, cfg.language, decode_options(cfg, lexicon))
        segments = [Segment(g.channel, g.start_s, g.end_s, normalise_text(g.text), g.words) for g in segments]
    else:
        segments = stored
    findings = lexicon_findings(segments, lexicon, LEXICON_CHANNELS)
    findings += behaviour_findings(ak, call, audio, cfg)
    # A missed call never reached anyone: there was no conversation to give a notice in.
    notice = notice_check(ak, call, segments, audio) if call.status != "missed" else None
    if notice is not None and not notice.ok:
        at, until = notice.detail.get("at_s"), notice.detail.get("end_s")
        findings.append(
            Finding(
                NOTICE_MISSING,
                "compliance",
                channel="operator",
                start_s=float(at) if isinstance(at, int | float) else 0.0,
                end_s=float(until)
                if isinstance(until, int | float)
                else cfg.notice_window_s + call.facts.answer_offset_s(),
                score=1.0,
                detail=notice.detail,
            )
        )
    weights = {c.name: c.severity for c in lexicon.categories} | BEHAVIOUR_WEIGHTS | {NOTICE_MISSING: 0.0}
    harassment = [f for f in findings if f.source != "compliance"]
    sev = severity(harassment, weights)
    flags = sorted({f.category for f in findings})
    terms = call_terms(segments)
    with session_scope(ak.engine) as s:
        df, n_docs = doc_freq(s, list(terms), call_id)
    # the call's keywords: its customer terms by TF-IDF against the other calls (analysis/mining.py)
    kws = [(w, terms[w]) for w, _ in call_keywords(terms, df, n_docs)]
    result = CallAnalysis(call_id, segments, findings, sev, flags, kws, notice, stats, dict(terms))
    _store(ak, call_id, result, replace_segments=segments is not stored, lexicon=lexicon)
    return result


def _store(ak: Akashi, call_id: int, res: CallAnalysis, *, replace_segments: bool, lexicon: Lexicon) -> None:
    cfg = ak.settings.analysis
    with session_scope(ak.engine) as s:
        call = s.get(Call, call_id)
        if call is None:
            raise NotFoundError(f"通話 {call_id} はありません", f"no call {call_id}")
        if replace_segments:
            s.execute(delete(TranscriptSegment).where(TranscriptSegment.call_id == call_id))
            s.add_all(
                TranscriptSegment(
                    call_id=call_id,
                    channel=g.channel,
                    start_s=g.start_s,
                    end_s=g.end_s,
                    text=g.text,
                    reading=reading_of(g.text),
                    words=[w.to_json() for w in g.words] or None,
                )
                for g in res.segments
            )
        s.execute(delete(CallFlag).where(CallFlag.call_id == call_id))
        s.add_all(
            CallFlag(
                call_id=call_id,
                category=f.category,
                source=f.source,
                words=f.words,
                channel=f.channel,
                start_s=f.start_s,
                end_s=f.end_s,
                score=f.score,
                detail=f.detail,
            )
            for f in res.findings
        )
        s.execute(delete(CallKeyword).where(CallKeyword.call_id == call_id))
        s.add_all(CallKeyword(call_id=call_id, word=w[:128], count=n) for w, n in res.terms.items())
        call.flags = res.flags
        call.severity = res.severity
        call.analysis_state = "done"
        facts = call.facts
        before = facts.analysis
        facts.analysis = AnalysisFacts(
            at=utcnow().isoformat(),
            model=cfg.model,
            # the recogniser settings that made the stored transcript (kept when it was reused), which
            # the readable transcript in evidence packages states (analysis/transcript_doc.py)
            settings=recogniser_settings(cfg) if replace_segments else (before.settings if before else None),
            lexicon=lexicon.source,
            audio_s=round(res.stats.audio_s, 2),
            processing_s=round(res.stats.processing_s, 2),
            notice_ok=None if res.notice is None else res.notice.ok,
            notice=None
            if res.notice is None
            else NoticeFacts.model_validate({"mode": res.notice.mode, **res.notice.detail}),
            keywords=[w for w, _ in res.keywords],
        )
        call.extra = facts.to_extra()
