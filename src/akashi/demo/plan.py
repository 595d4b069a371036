"""What the demo calls say and who makes them: scripted calls spoken by the offline Japanese TTS.

The scripts are those of :mod:`akashi.analysis.testcalls` (the detector's test calls): abusive ones,
ordinary ones, a repeat caller, and an operator who forgets the recording notice on a route where the
operator gives it. Each is rendered once (cached in the home) and split into the caller's and the
operator's μ-law tracks.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass, replace
from pathlib import Path

from akashi.analysis.audio import encode_mulaw
from akashi.analysis.testcalls import NOTICE, ScriptedCall, Turn, by_name, render

#: the dialled numbers of the demo's routes (0120 is toll-free: not a number anyone could mean)
AUTOMATIC_NUMBER = "0120000901"
OPERATOR_NUMBER = "0120000902"
#: the demo's operators: (agent name, SIP user)
#: (SIP users no real phone has, so no real agent's record is credited with a demo call)
OPERATORS = (("デモ 山田", "demo-yamada"), ("デモ 佐藤", "demo-sato"), ("デモ 鈴木", "demo-suzuki"))
DEMO_SIP_USERS = frozenset(user for _name, user in OPERATORS)


@dataclass(frozen=True)
class PlannedCall:
    """One demo call: its script, the caller's number, whether the operator gives the notice."""

    script: ScriptedCall
    caller: str
    #: True: the route's notice is given by the operator (Akashi plays none)
    operator_notice: bool = False

    @property
    def number(self) -> str:
        """The number the caller dials."""
        return OPERATOR_NUMBER if self.operator_notice else AUTOMATIC_NUMBER

    @property
    def label(self) -> str:
        """How the demo names the call when it reports."""
        kind = {"harassment": "迷惑 / abusive", "normal": "通常 / normal", "polite": "丁寧 / polite"}
        note = "（告知忘れ / notice forgotten）" if not self.script.notice_said else ""
        return f"{self.script.name} {kind.get(self.script.kind, self.script.kind)} {self.caller}{note}"


#: the calls in the order they are made; ``--calls N`` takes the first N (repeating past the end)
PLAN: tuple[PlannedCall, ...] = (
    PlannedCall(by_name("dogeza"), "09011112222"),
    PlannedCall(by_name("normal_order"), "0311112222"),
    PlannedCall(by_name("threat_sns"), "09011112222"),  # the repeat caller
    PlannedCall(by_name("no_notice"), "0455556666", operator_notice=True),  # the notice is forgotten
    PlannedCall(by_name("boss_money"), "08033334444"),
    PlannedCall(by_name("polite_refund"), "0663334444"),
    PlannedCall(by_name("normal_address"), "0527778888"),
    PlannedCall(by_name("abuse_boss"), "09011112222"),
)


def plan(calls: int) -> list[PlannedCall]:
    """The first ``calls`` calls of :data:`PLAN` (the list repeats for more)."""
    return [PLAN[i % len(PLAN)] for i in range(calls)]


def tts_engine(choice: str = "auto") -> str:
    """The TTS the demo speaks with: ``openjtalk`` (fast: seconds a call) unless ``kokoro`` is asked for.

    kokoro's neural voices sound closer to people but take about a minute a call on two cores; the
    demo should show its first call at once, so it is chosen only on request (``--tts kokoro``).
    """
    if choice == "auto":
        return "openjtalk" if importlib.util.find_spec("pyopenjtalk") is not None else "kokoro"
    return choice


def spoken(call: PlannedCall) -> ScriptedCall:
    """What the two sides say: where Akashi plays the notice, the operator only greets (said twice,
    the notice sounds like a fault); where the operator gives it, the script says it or forgets it."""
    if call.operator_notice:
        return call.script
    turns = tuple(
        Turn(t.speaker, t.text.replace(NOTICE, ""), t.gain) if t.speaker == "operator" else t
        for t in call.script.turns
    )
    return replace(call.script, turns=tuple(t for t in turns if t.text.strip()))


def tracks(call: PlannedCall, cache: Path, engine: str = "openjtalk") -> tuple[bytes, bytes]:
    """The caller's and the operator's μ-law tracks of ``call`` (rendered once into ``cache``)."""
    script = spoken(call)
    key = hashlib.sha256(repr((script, engine)).encode()).hexdigest()[:12]
    path = cache / f"{script.name}-{engine}-{key}.ulaw2"
    if path.exists():
        data = path.read_bytes()
    else:
        samples, _timeline = render(script, engine=engine)
        # interleaved μ-law, customer then operator: what the two phones send
        data = encode_mulaw(samples.reshape(-1)).tobytes()
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return data[0::2], data[1::2]
