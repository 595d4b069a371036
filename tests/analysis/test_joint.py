"""Both channels recognised in one packed pass: every word goes back to its own channel and time."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from akashi.analysis.audio import parse_wav
from akashi.analysis.detect import lexicon_findings
from akashi.analysis.lexicon import load_lexicon
from akashi.analysis.packing import MAX_REGION_S, WHISPER_RATE, locate, pack_pieces
from akashi.analysis.transcribe import DecodeOptions, transcribe_audio


def test_packed_regions_of_two_channels_map_back_to_their_channel() -> None:
    customer = np.full(20 * WHISPER_RATE, 0.1, dtype=np.float32)
    operator = np.full(20 * WHISPER_RATE, -0.1, dtype=np.float32)
    tagged = [(0.5, 3.0, "operator"), (3.5, 6.0, "customer"), (6.2, 9.0, "operator"), (9.5, 19.0, "customer")]
    audio_of = {"customer": customer, "operator": operator}
    packed = pack_pieces([(audio_of[ch], a, b) for a, b, ch in tagged])
    for i, (p, c, n) in enumerate(packed.spans):
        # a word in the middle of each packed region comes back to that region, channel and time
        region, t0, t1 = locate(p + n / 2 - 0.1, p + n / 2 + 0.1, packed.spans)
        assert region == i and tagged[i][0] <= t0 < t1 <= tagged[i][1]
        assert abs(t0 - (c + n / 2 - 0.1)) < 1e-6
        sample = packed.audio[int((p + n / 2) * WHISPER_RATE)]
        assert (sample > 0) == (tagged[i][2] == "customer")  # the audio there is that channel's
    assert all(c["end"] - c["start"] <= MAX_REGION_S for c in packed.clips)


@pytest.mark.asr
@pytest.mark.tts
def test_joint_pass_keeps_speakers_apart_on_a_generated_call(
    call_wav: Callable[[str], Path], whisper_model: Any
) -> None:
    wav = call_wav("threat_sns")
    turns = json.loads(wav.with_suffix(".json").read_text())
    segs, _stats = transcribe_audio(
        whisper_model, parse_wav(wav.read_bytes()), "ja", DecodeOptions(joint=True)
    )
    assert {s.channel for s in segs} == {"customer", "operator"}
    firsts: dict[int, float] = {}
    for s in segs:
        held = [
            i
            for i, t in enumerate(turns)
            if t["speaker"] == s.channel and min(s.end_s, t["end_s"]) - max(s.start_s, t["start_s"]) > 0.1
        ]
        assert len(held) == 1, (s, held)
        firsts.setdefault(held[0], s.start_s)
    assert set(firsts) == set(range(len(turns))), "a turn got no utterance"
    assert all(abs(start - turns[i]["start_s"]) <= 0.5 for i, start in firsts.items())
    found = lexicon_findings(segs, load_lexicon(), ("customer",))
    assert found and all(f.channel == "customer" for f in found)
